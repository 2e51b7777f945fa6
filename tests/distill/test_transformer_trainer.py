from dataclasses import replace

import numpy as np
import pytest
import torch

from distill import SplitConfig, load_teacher
from distill.data import Split, TextDataset
from distill.intermediate import LayerMatchLoss, Match, features, load_matches, use_eager_attention
from distill.students.transformer import TransformerStudentConfig, build_transformer_student
from distill.trainer import TrainSet, autocast
from distill.transformer_trainer import TransformerDistillConfig, distill_transformer, train_transformer_student, transformer_recipe
from edgecore import ConfigError


@pytest.fixture(scope="module")
def teacher(tiny_bert_dir):
    return load_teacher(tiny_bert_dir)


def _data(teacher, sentences, n=48):
    texts = sentences[:n]
    ids = teacher.encoder.ids(texts)
    labels = torch.tensor([len(t) % 2 for t in texts])
    logits = torch.from_numpy(teacher.logits(texts))
    return TrainSet(ids, labels, logits), ids[:16], labels[:16].tolist()


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_distilbert_style_logs_every_term_and_trains(teacher, sentences):
    train_set, dev_ids, dev_labels = _data(teacher, sentences)
    student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=1))
    before = _snapshot(student)
    result = distill_transformer(student, teacher.model, train_set, dev_ids, dev_labels, teacher.encoder.pad,
                                 TransformerDistillConfig(epochs=2, batch_size=16, lr=1e-3))
    assert [h["epoch"] for h in result.history] == [1, 2] and result.steps == 6
    assert {"loss_kl", "loss_ce", "loss_hidden_t2_s1_cosine", "dev_accuracy"} <= set(result.history[0])
    assert result.matches == [Match(2, 1, "hidden", "cosine", 1.0).to_dict()]
    assert 0.0 <= result.best_dev_accuracy <= 1.0 and len(result.step_losses["distil"]) == 6
    assert not torch.equal(before["bert.encoder.layer.0.output.dense.weight"], student.state_dict()["bert.encoder.layer.0.output.dense.weight"])
    assert teacher.model.config._attn_implementation == "sdpa" and not student.training


def test_bf16_autocast_keeps_fp32_weights_and_learns(teacher, sentences):
    train_set, dev_ids, dev_labels = _data(teacher, sentences)
    student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=1))
    result = distill_transformer(student, teacher.model, train_set, dev_ids, dev_labels, teacher.encoder.pad,
                                 TransformerDistillConfig(epochs=3, batch_size=16, lr=1e-3, bf16=True))
    first, last = result.history[0], result.history[-1]
    for term in ("loss_ce", "loss_hidden_t2_s1_cosine"):   # the logit KL starts near 0 (teacher-init student) and is left out
        assert last[term] < first[term], (term, result.history)
    assert all(p.dtype == torch.float32 for p in student.parameters())


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
def test_tinybert_two_stages_with_projections(teacher, sentences, bf16):
    train_set, dev_ids, dev_labels = _data(teacher, sentences)
    student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=1, hidden=16, heads=4, init="embeddings", dropout=0.0,
                                                                                attention_dropout=0.0))
    config = TransformerDistillConfig(method="tinybert", intermediate_epochs=4, epochs=1, batch_size=16, intermediate_lr=3e-3, bf16=bf16)
    result = distill_transformer(student, teacher.model, train_set, dev_ids, dev_labels, teacher.encoder.pad, config)
    stages = [h["stage"] for h in result.history]
    assert stages == ["intermediate"] * 4 + ["prediction"]
    first, last = result.history[0], result.history[3]
    assert {"loss_embeddings_t0_s0_mse", "loss_attention_t2_s1_mse", "loss_hidden_t2_s1_mse"} == {k for k in first if k.startswith("loss_")}
    assert "dev_accuracy" not in first                   # stage 1 has no prediction to score
    for k in first:
        if k.startswith("loss_hidden") or k.startswith("loss_embeddings"):
            assert last[k] < first[k], k                  # the layer matches are being learned
    assert set(result.history[-1]) >= {"loss_kl", "dev_accuracy"} and "loss_ce" not in result.history[-1]
    assert student.config._attn_implementation == "sdpa"   # eager attention only while training
    assert all(p.dtype == torch.float32 for p in student.parameters())


def test_layer_match_losses_are_fp32_under_bf16_autocast(teacher, sentences):
    student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=1, hidden=16, heads=4, init="embeddings"))
    t_layers = teacher.model.config.num_hidden_layers
    match_loss = LayerMatchLoss(load_matches("tinybert", t_layers, 1), 16, teacher.model.config.hidden_size)
    feeds = teacher.encoder.pad(teacher.encoder.ids(sentences[:8]))
    previous = [(m, use_eager_attention(m)) for m in (student, teacher.model)]
    try:
        with autocast(True):
            s = features(student, feeds, attentions=True)
            with torch.no_grad():
                t = features(teacher.model, feeds, attentions=True)
            terms = match_loss(s, t)
    finally:
        for m, impl in previous:
            m.set_attn_implementation(impl)
    assert s.logits.dtype == torch.bfloat16                # autocast really ran the forward in bf16
    # (hidden states and attention maps leave LayerNorm / softmax in fp32; the width projections are bf16)
    assert {k.split("_")[0] for k in terms} == {"embeddings", "attention", "hidden"}
    for name, (_, value) in terms.items():
        assert value.dtype == torch.float32 and torch.isfinite(value), name


def test_logit_only_run_needs_no_teacher_model(teacher, sentences):
    train_set, dev_ids, dev_labels = _data(teacher, sentences)
    student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=1))
    result = distill_transformer(student, None, train_set, dev_ids, dev_labels, teacher.encoder.pad,
                                 TransformerDistillConfig(epochs=1, batch_size=16, ce_weight=0.0))
    assert result.matches == [] and {k for k in result.history[0] if k.startswith("loss_")} == {"loss_kl"}
    result = distill_transformer(student, None, train_set, dev_ids, dev_labels, teacher.encoder.pad,
                                 TransformerDistillConfig(epochs=2, batch_size=16, ce_weight=0.0, logit_loss="mse", lr=1e-3))
    mse = [h["loss_mse"] for h in result.history]
    assert {k for k in result.history[0] if k.startswith("loss_")} == {"loss_mse"} and mse[1] < mse[0]
    with pytest.raises(ConfigError, match="need the teacher model"):
        distill_transformer(student, None, train_set, dev_ids, dev_labels, teacher.encoder.pad,
                            TransformerDistillConfig(epochs=1, matches=(Match(2, 1),)))


def test_missing_teacher_logits_and_bad_configs_are_refused(teacher, sentences):
    train_set, dev_ids, dev_labels = _data(teacher, sentences)
    student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=1))
    with pytest.raises(ConfigError, match="needs teacher logits"):
        distill_transformer(student, teacher.model, TrainSet(train_set.ids, train_set.labels), dev_ids, dev_labels, teacher.encoder.pad)
    with pytest.raises(ConfigError, match="choose one of distilbert, tinybert"):
        TransformerDistillConfig(method="minilm")
    with pytest.raises(ConfigError, match="choose one of kl, mse"):
        TransformerDistillConfig(logit_loss="cosine")
    with pytest.raises(ConfigError, match="past the models"):
        distill_transformer(student, teacher.model, train_set, dev_ids, dev_labels, teacher.encoder.pad,
                            TransformerDistillConfig(matches=(Match(5, 1),)))


def test_recipe_end_to_end_uses_the_logit_cache(teacher, movie, cache):
    texts, labels = movie
    dataset = TextDataset("mini", ("negative", "positive"), Split(texts[:32], labels[:32]), Split(texts[32:48], labels[32:48]),
                          Split(texts[48:64], labels[48:64]), split=SplitConfig(test=16, dev=16))
    run = train_transformer_student("t", dataset, teacher, TransformerStudentConfig(layers=1),
                                    TransformerDistillConfig(epochs=1, batch_size=16))
    assert run.trained_on == "teacher" and 0.0 <= run.test_accuracy <= 1.0
    assert len(list((cache / "logits").glob("*.safetensors"))) == 1
    assert np.isclose(run.test_accuracy * 16, round(run.test_accuracy * 16))


def test_transformer_recipe_maps_flat_options_to_configs(teacher, tmp_path):
    student, config = transformer_recipe(teacher.model, layers=1)
    assert (student.init, student.hidden, config.method, config.matches) == ("teacher", None, "distilbert", None)
    student, config = transformer_recipe(teacher.model, layers=1, hidden=16, temperature=3.0)
    assert (student.init, student.hidden, config.method, config.temperature) == ("embeddings", 16, "tinybert", 3.0)
    student, config = transformer_recipe(teacher.model, layers=1, hidden=32, matches="tinybert")   # 32 = the teacher's width
    assert (student.init, config.method) == ("teacher", "tinybert")
    path = tmp_path / "m.json"
    path.write_text('[{"teacher_layer": 2, "student_layer": 1, "feature": "hidden", "loss": "cosine"}]')
    student, config = transformer_recipe(teacher.model, layers=1, matches=str(path))
    built = build_transformer_student(teacher.model, student)
    train_set, dev_ids, dev_labels = _data(teacher, ["a fine film", "a dull mess"] * 8, n=16)
    result = distill_transformer(built, teacher.model, train_set, dev_ids, dev_labels, teacher.encoder.pad, replace(config, epochs=1, batch_size=8))
    assert result.matches == [Match(2, 1, "hidden", "cosine").to_dict()]
    student, config = transformer_recipe(teacher.model, layers=1, method="tinybert", stage1_epochs=2, stage1_lr=1e-3, lr=3e-4)
    assert (config.method, config.intermediate_epochs, config.intermediate_lr, config.lr) == ("tinybert", 2, 1e-3, 3e-4)


@pytest.mark.parametrize("options, names", [
    ({"layers": 0}, "layers must be"),
    ({"layers": 3}, "layers 3"),                                   # the tiny teacher has 2 blocks
    ({"layers": 1, "hidden": 64}, "hidden 64 is wider"),
    ({"layers": 1, "hidden": 0}, "hidden must be"),
    ({"layers": 1, "intermediate": 0}, "intermediate must be"),
    ({"layers": 1, "method": "minilm"}, "method 'minilm'"),
    ({"layers": 1, "matches": "nope"}, "matches 'nope'"),
    ({"layers": 1, "matches": (Match(5, 1),)}, "matches 'hidden_t5_s1_mse'"),
    ({"layers": 1, "stage1_epochs": 2}, "stage1_epochs set TinyBERT"),
    ({"layers": 1, "hidden": 16, "stage1_epochs": 0}, "stage1_epochs must be"),
    ({"layers": 1, "method": "tinybert", "stage1_lr": 0.0}, "stage1_lr must be"),
    ({"layers": 1, "method": "tinybert", "stage1_lr": 1e-3, "intermediate_lr": 1e-3}, "stage1_lr and intermediate_lr"),
    ({"layers": 1, "epochs": 0}, "epochs must be"),
    ({"layers": 1, "lr": 0.0}, "lr must be"),
    ({"layers": 1, "temprature": 2.0}, "unknown option.s. temprature"),
])
def test_transformer_recipe_errors_name_the_option(teacher, options, names):
    with pytest.raises(ConfigError, match=names) as error:
        transformer_recipe(teacher.model, **options)
    assert "--" not in str(error.value)   # the Python name, never a command-line spelling
