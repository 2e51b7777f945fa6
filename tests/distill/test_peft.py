import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from distill import teacher as teacher_mod
from distill.data import Split, SplitConfig, TextDataset
from distill.peft import PeftConfig, apply_peft, register_auto_classes, trainable_report
from edgecore import ConfigError


def _model(dropout=0.1):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=128, num_labels=2, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return BertForSequenceClassification(config)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _one_step(model, encoder, sentences):
    model.train()
    feeds = encoder.encode(sentences[:8])
    labels = torch.tensor([i % 2 for i in range(8)])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)
    loss = torch.nn.functional.cross_entropy(model(**feeds).logits, labels)
    loss.backward()
    optimizer.step()
    model.eval()


@pytest.mark.parametrize("spec, expected", [
    (None, PeftConfig("full")), ("full", PeftConfig("full")), ("freeze:4", PeftConfig("freeze", freeze_layers=4)),
    ("bitfit", PeftConfig("bitfit")), ("adapter:16", PeftConfig("adapter", adapter_size=16)), ("adapter", PeftConfig("adapter", adapter_size=64)),
])
def test_specs_parse(spec, expected):
    assert PeftConfig.parse(spec) == expected
    assert PeftConfig.parse(expected.spec) == expected


@pytest.mark.parametrize("spec", ["freeze", "freeze:x", "lora:8", "bitfit:2", "adapter:0"])
def test_bad_specs_say_what_works(spec):
    with pytest.raises(ConfigError, match="freeze:K|adapter:R|R >= 1"):
        PeftConfig.parse(spec)


def test_bitfit_changes_only_biases_and_the_head(encoder, sentences):
    model = _model()
    report = apply_peft(model, "bitfit")
    before = _snapshot(model)
    _one_step(model, encoder, sentences)
    after = _snapshot(model)
    for name in before:
        trainable = name.endswith(".bias") or name.startswith("classifier.")
        if trainable:
            continue
        assert torch.equal(before[name], after[name]), f"{name} moved under BitFit"
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    # biases all through the network train (a key bias may not: its true gradient is 0, softmax ignores a per-row shift)
    still = [n for n in before if n.endswith(".bias") and torch.equal(before[n], after[n])]
    assert all(".attention.self.key." in n for n in still)
    expected = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".bias") or n.startswith("classifier."))
    assert report.trainable == expected and report.total == sum(p.numel() for p in model.parameters())
    assert 0 < report.percent < 1 and model.config.edgedistill_peft == "bitfit"


def test_freeze_first_k_layers(encoder, sentences):
    model = _model()
    report = apply_peft(model, "freeze:1")
    before = _snapshot(model)
    _one_step(model, encoder, sentences)
    after = _snapshot(model)
    frozen = [n for n in before if n.startswith(("bert.embeddings.", "bert.encoder.layer.0."))]
    assert frozen and all(torch.equal(before[n], after[n]) for n in frozen)
    assert not torch.equal(before["bert.encoder.layer.1.output.dense.weight"], after["bert.encoder.layer.1.output.dense.weight"])
    assert report.trainable == sum(p.numel() for n, p in model.named_parameters() if n not in frozen)
    with pytest.raises(ConfigError, match="more blocks"):
        apply_peft(_model(), "freeze:3")


def test_adapters_start_as_identity_then_learn(encoder, sentences, tmp_path):
    model = _model().eval()
    feeds = encoder.encode(sentences[:6])
    with torch.no_grad():
        before = model(**feeds).logits
    report = apply_peft(model, "adapter:8")
    with torch.no_grad():
        assert torch.equal(model(**feeds).logits, before)   # bit-identical output before any training
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any(".adapter." in n for n in names) and all(".adapter." in n or "LayerNorm" in n or n.startswith("classifier.") for n in names)
    per_block = 32 * 8 + 8 + 8 * 32 + 32
    assert sum(p.numel() for n, p in model.named_parameters() if ".adapter." in n) == 2 * per_block
    assert report.trainable == trainable_report(model).trainable and report.percent < 2
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    _one_step(model, encoder, sentences)
    with torch.no_grad():
        assert not torch.allclose(model(**feeds).logits, before)
    assert all(torch.equal(p, frozen_before[n]) for n, p in model.named_parameters() if n in frozen_before)

    # save_pretrained + the registered auto classes bring the adapters back (through the teacher loader too)
    model.save_pretrained(tmp_path, safe_serialization=True)
    register_auto_classes()
    again = teacher_mod.load_classifier(tmp_path)
    assert type(again).__name__ == "AdapterBertForSequenceClassification"
    with torch.no_grad():
        assert torch.equal(again(**feeds).logits, model(**feeds).logits)


def test_finetune_teacher_with_bitfit_trains_only_biases_and_head(tiny_bert_dir, movie, tmp_path, monkeypatch):
    """`teacher finetune --peft bitfit` end to end: only biases and the head move, the count is recorded,
    and a PEFT teacher gets its own cache entry while a full one keeps the key it had before PEFT existed."""
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path))
    texts, labels = movie
    dataset = TextDataset("mini", ("negative", "positive"), Split(texts[:24], labels[:24]), Split(texts[24:32], labels[24:32]),
                          Split(texts[32:40], labels[32:40]), split=SplitConfig(test=8, dev=8))
    config = teacher_mod.TeacherConfig(base=str(tiny_bert_dir), max_steps=2, batch_size=8, lr=1e-2, peft="BitFit")
    assert config.peft == "bitfit"
    teacher = teacher_mod.finetune_teacher(dataset, config)
    base = _snapshot(teacher_mod.load_classifier(tiny_bert_dir))
    after = _snapshot(teacher.model)
    frozen = [n for n in after if not (n.endswith(".bias") or n.startswith("classifier."))]
    assert frozen and all(torch.equal(base[n], after[n]) for n in frozen)
    assert not all(torch.equal(base[n], after[n]) for n in after if n.endswith(".bias") and n in base)
    assert teacher.metrics["trainable_parameters"]["method"] == "bitfit"
    assert 0 < teacher.metrics["trainable_parameters"]["percent"] < 5
    full = teacher_mod.TeacherConfig(base=str(tiny_bert_dir), max_steps=2, batch_size=8, lr=1e-2)
    assert teacher_mod.teacher_key(tiny_bert_dir, dataset, full) != teacher.metrics["key"]
    assert "peft" not in full.key_fields()
    with pytest.raises(ConfigError, match="freeze:K"):
        teacher_mod.TeacherConfig(peft="freeze")
