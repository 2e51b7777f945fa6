"""The fast corner's students: static (a model2vec-style table derived from the teacher) and cnn (Kim 2014).
Model properties on tiny random students over the real tokenizer; the static table on a tiny BERT teacher built here."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from families import build

from distill import Encoder, load_student, save_student
from distill.recipes import build_rnn_student, pca, select_vocabulary, sif_weights, static_token_table, teacher_token_vectors
from distill.students.cnn import CNNStudent, CNNStudentConfig
from distill.students.static import StaticStudent, StaticStudentConfig
from edgecore import ConfigError
from edgecore.tokenizer import SIAMESE_INPUTS

TEXTS = ["ok", "a fine film", "an utterly dull, lifeless and overlong mess of a movie"]   # "ok": shorter than a width-4 window


def _static(vocab, **kw):
    torch.manual_seed(0)
    return StaticStudent(StaticStudentConfig(vocab_size=vocab, embed_dim=8, head_hidden=8, **kw)).eval()


def _cnn(vocab, **kw):
    torch.manual_seed(0)
    return CNNStudent(CNNStudentConfig(vocab_size=vocab, embed_dim=8, filters=6, **kw)).eval()


@pytest.mark.parametrize("make", [lambda v: _static(v), lambda v: _static(v, pooling="mean", head_layers=2),
                                  lambda v: _cnn(v), lambda v: _cnn(v, widths=(3, 4, 5))], ids=["static", "static-mean", "cnn", "cnn-345"])
def test_padding_never_changes_logits(encoder, make):
    model = make(encoder.settings.vocab_size)
    with torch.no_grad():
        alone = torch.cat([model(**encoder.encode([t])) for t in TEXTS])
        padded = model(**encoder.encode(TEXTS, pad_to=64))
        garbage = encoder.encode(TEXTS, pad_to=40)
        garbage["input_ids"] = torch.where(garbage["attention_mask"].bool(), garbage["input_ids"], 1037)   # padding ids do not matter
        junk = model(**garbage)
    assert alone.shape == (3, 2)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(junk, alone, atol=1e-5, rtol=0)


def test_cnn_windows_are_a_conv1d(encoder):
    """Each width's Linear over stacked windows is the Conv1d with the same weights, max-pooled over the text's windows."""
    model = _cnn(encoder.settings.vocab_size, widths=(2, 4))
    feeds = encoder.encode([TEXTS[2]])
    with torch.no_grad():
        x = model.embed(feeds["input_ids"]).transpose(1, 2)                   # (1, E, T), no padding
        expected = [torch.relu(torch.nn.functional.conv1d(x, model.conv1d_weight(i), model.convs[i].bias)).amax(-1) for i in range(2)]
        torch.testing.assert_close(model.encode(**feeds), torch.cat(expected, -1), atol=1e-5, rtol=0)
        short = encoder.encode([TEXTS[0]])                                    # 3 tokens, width 4: one window, zeros after the text
        x = torch.nn.functional.pad(model.embed(short["input_ids"]).transpose(1, 2), (0, 1))
        conv = torch.relu(torch.nn.functional.conv1d(x, model.conv1d_weight(1), model.convs[1].bias)).amax(-1)
        torch.testing.assert_close(model.encode(**short)[:, 6:], conv, atol=1e-5, rtol=0)


def test_pruned_vocabulary_and_siamese_pairs(encoder):
    keep = select_vocabulary(encoder, TEXTS)
    s = encoder.settings
    for config in (StaticStudentConfig(vocab_size=s.vocab_size, embed_dim=8, head_hidden=8, siamese=True),
                   CNNStudentConfig(vocab_size=s.vocab_size, embed_dim=8, filters=6, siamese=True)):
        torch.manual_seed(0)
        table = torch.randn(s.vocab_size, 8)
        full = build_rnn_student(config, table).eval()
        pruned = build_rnn_student(config, table, keep_ids=keep, unk_id=s.unk_id).eval()
        assert pruned.embed.num_embeddings == len(keep) and pruned.vocab_map.dtype == torch.int32
        pruned.load_state_dict({k: v for k, v in full.state_dict().items() if k != "embed.weight"} | {"embed.weight": pruned.embed.weight,
                                                                                                       "vocab_map": pruned.vocab_map})
        enc = encoder.with_inputs(SIAMESE_INPUTS)
        pairs = list(zip(TEXTS, reversed(TEXTS)))
        with torch.no_grad():   # the seen tokens read the same rows; pairs padded as a batch equal each pair alone
            torch.testing.assert_close(pruned(**enc.encode(pairs)), full(**enc.encode(pairs)), atol=1e-5, rtol=0)
            alone = torch.cat([pruned(**enc.encode([p])) for p in pairs])
            torch.testing.assert_close(pruned(**enc.encode(pairs, pad_to=30)), alone, atol=1e-5, rtol=0)
        with pytest.raises(ConfigError, match="pair_input_ids"):
            pruned(**encoder.encode(TEXTS))


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory, movie):
    out = tmp_path_factory.mktemp("teacher")
    model, _ = build("bert", out, movie[0][:400])
    return model.eval(), Encoder(out, 32, model=model), movie[0][:400]


def test_static_table_comes_from_the_teacher(tiny_teacher):
    teacher, enc, texts = tiny_teacher
    s = enc.settings
    keep = select_vocabulary(enc, texts)
    table = static_token_table(teacher, enc, texts, width=8, keep_ids=keep)
    assert tuple(table.shape) == (len(keep), 8)
    row = {tid: r for r, tid in enumerate(keep)}
    assert all(not table[row[i]].any() for i in (s.cls_id, s.sep_id, s.pad_id))   # template tokens: zero rows

    # a token's vector is the teacher's last hidden state at its position in [CLS] tok [SEP]
    the = enc.tokenizer.token_to_id("the")
    ids = enc.encode(["the"])
    with torch.no_grad():
        direct = teacher.base_model(**ids).last_hidden_state[0, 1].numpy()
    np.testing.assert_allclose(teacher_token_vectors(teacher, enc, [the])[0], direct, atol=1e-5)

    # PCA to 8 columns of those vectors, then each row scaled by a / (a + p(w)): frequent tokens shrink most
    words = [i for i in keep if i not in (s.cls_id, s.sep_id, s.pad_id)]
    reduced = pca(teacher_token_vectors(teacher, enc, words), 8)
    counts = np.bincount([t for r in enc.ids(texts) for t in r], minlength=s.vocab_size)
    weights = sif_weights(counts)
    np.testing.assert_allclose(table[[row[i] for i in words]].numpy(), reduced * weights[words][:, None], atol=1e-4)
    rare = next(i for i in words if counts[i] == 1)
    assert counts[the] > 50 and weights[the] < 0.2 < 0.9 < weights[rare]
    ratio = lambda i: np.linalg.norm(table[row[i]].numpy()) / np.linalg.norm(reduced[words.index(i)])
    assert ratio(the) < 0.2 and ratio(rare) > 0.9
    with pytest.raises(ConfigError, match="PCA width"):
        static_token_table(teacher, enc, texts, width=64, keep_ids=keep)   # wider than the teacher (32)


@pytest.mark.parametrize("config", [
    StaticStudentConfig(vocab_size=400, embed_dim=8, head_hidden=8, head_layers=2, pooling="mean", freeze_embeddings=True),
    CNNStudentConfig(vocab_size=400, embed_dim=8, filters=4, widths=(3, 4, 5), siamese=True),
], ids=["static", "cnn"])
def test_save_load_round_trip(tiny_teacher, tmp_path, config):
    _, enc, _ = tiny_teacher
    enc = enc.with_inputs(SIAMESE_INPUTS if config.siamese else ("input_ids", "attention_mask"))
    torch.manual_seed(0)
    keep = select_vocabulary(enc, TEXTS)
    model = build_rnn_student(config, torch.randn(400, 8), keep_ids=keep, unk_id=enc.settings.unk_id).eval()
    save_student(model, tmp_path / "s", enc, ("negative", "positive"))
    loaded, meta = load_student(tmp_path / "s")
    assert meta["kind"] == config.cell_kind and type(loaded) is type(model) and loaded.config == model.config
    assert type(loaded.config)(**{k: v for k, v in loaded.config.to_dict().items() if k != "kind"}) == model.config
    feeds = enc.encode(list(zip(TEXTS, TEXTS)) if config.siamese else TEXTS)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**feeds), model(**feeds))
    assert model.embed.weight.requires_grad is not getattr(config, "freeze_embeddings", False)


@pytest.mark.parametrize("cls, kwargs, message", [
    (StaticStudentConfig, {"pooling": "max"}, "mean, mean_max"), (StaticStudentConfig, {"head_layers": 3}, "head_layers"),
    (StaticStudentConfig, {"dropout": 1.0}, "dropout"), (CNNStudentConfig, {"widths": (2, 2)}, "distinct"),
    (CNNStudentConfig, {"widths": ()}, "widths"), (CNNStudentConfig, {"num_labels": 1}, "num_labels"),
])
def test_config_errors_say_what_works(cls, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        cls(vocab_size=10, **kwargs)


@pytest.mark.parametrize("make", [lambda v: _static(v, head_layers=2), lambda v: _cnn(v, widths=(2, 3, 4))], ids=["static", "cnn"])
def test_macs_from_the_config_match_the_onnx_graph(encoder, make, tmp_path):
    """edge_runtime.flops counts the exported graph (the CNN's windows are MatMuls; lookups and pooling are uncounted
    by design, never missed) and the student folder's config alike."""
    from edge_runtime.flops import count_macs
    from export import to_onnx

    model = make(encoder.settings.vocab_size)
    art = to_onnx(model, encoder.encode(TEXTS), tmp_path / "m.onnx")
    save_student(model, tmp_path / "s", encoder, ("negative", "positive"))
    graph, config = count_macs(art.path, 32), count_macs(tmp_path / "s", 32)
    assert graph.uncounted == [] and graph.total == config.total > 0, (graph, config)
    assert config.source == f"{model.config.cell_kind}-config"
