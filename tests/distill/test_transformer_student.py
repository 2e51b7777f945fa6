import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

from distill import RNNStudent, RNNStudentConfig, load_teacher
from distill.students.transformer import (
    TransformerStudentConfig,
    build_transformer_student,
    count_parameters,
    every_other_layer,
    ffn_keep,
    save_transformer_student,
)
from edgecore import ConfigError, UnsupportedError


def _teacher(layers=4, hidden=16, heads=2, vocab=100):
    torch.manual_seed(1)
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=2 * hidden, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(config).eval()


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_every_other_layer_ends_at_the_top():
    assert every_other_layer(6, 3) == (2, 4, 6)
    assert every_other_layer(6, 2) == (3, 6)
    assert every_other_layer(6, 6) == (1, 2, 3, 4, 5, 6)
    assert every_other_layer(6, 4) == (2, 3, 5, 6)
    with pytest.raises(ConfigError, match="1..6"):
        every_other_layer(6, 7)


def test_teacher_init_copies_the_right_layers():
    teacher = _teacher(layers=4)
    student = build_transformer_student(teacher, TransformerStudentConfig(layers=2))
    assert student.config.num_hidden_layers == 2 and student.config.hidden_size == 16
    # student block 1 <- teacher block 2, student block 2 <- teacher block 4 (1-based)
    assert _same(student.bert.encoder.layer[0], teacher.bert.encoder.layer[1])
    assert _same(student.bert.encoder.layer[1], teacher.bert.encoder.layer[3])
    assert not _same(student.bert.encoder.layer[0], teacher.bert.encoder.layer[0])
    for name in ("embeddings", "pooler"):
        assert _same(getattr(student.bert, name), getattr(teacher.bert, name))
    assert _same(student.classifier, teacher.classifier)

    chosen = build_transformer_student(teacher, TransformerStudentConfig(layers=2, teacher_layers=(1, 3)))
    assert _same(chosen.bert.encoder.layer[0], teacher.bert.encoder.layer[0])
    assert _same(chosen.bert.encoder.layer[1], teacher.bert.encoder.layer[2])


def test_full_depth_teacher_init_reproduces_the_teacher():
    teacher = _teacher(layers=3)
    student = build_transformer_student(teacher, TransformerStudentConfig(layers=3, dropout=0.0, attention_dropout=0.0))
    ids = torch.randint(1, 100, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        assert torch.allclose(student(input_ids=ids, attention_mask=mask).logits, teacher(input_ids=ids, attention_mask=mask).logits, atol=1e-6)


def test_teacher_init_with_a_narrower_ffn_keeps_the_top_neurons():
    teacher = _teacher(layers=2, hidden=16)            # intermediate 32
    student = build_transformer_student(teacher, TransformerStudentConfig(layers=2, intermediate=12, dropout=0.0, attention_dropout=0.0))
    assert student.config.intermediate_size == 12
    for s_block, t_block in zip(student.bert.encoder.layer, teacher.bert.encoder.layer):
        w_in, w_out = t_block.intermediate.dense.weight, t_block.output.dense.weight
        keep = ffn_keep(w_in, w_out, 12)
        score = w_in.norm(dim=1) * w_out.norm(dim=0)
        dropped = torch.ones(32, dtype=torch.bool)
        dropped[keep] = False
        assert score[keep].min() >= score[dropped].max()            # the 12 best, not any 12
        assert torch.equal(s_block.intermediate.dense.weight, w_in[keep])
        assert torch.equal(s_block.intermediate.dense.bias, t_block.intermediate.dense.bias[keep])
        assert torch.equal(s_block.output.dense.weight, w_out[:, keep])
        assert _same(s_block.attention, t_block.attention)
    # the pruned student computes what the teacher computes with the dropped neurons' outputs zeroed
    with torch.no_grad():
        for t_block in teacher.bert.encoder.layer:
            keep = ffn_keep(t_block.intermediate.dense.weight, t_block.output.dense.weight, 12)
            dropped = torch.ones(32, dtype=torch.bool)
            dropped[keep] = False
            t_block.output.dense.weight[:, dropped] = 0.0
        ids = torch.randint(1, 100, (2, 7))
        assert torch.allclose(student(input_ids=ids).logits, teacher(input_ids=ids).logits, atol=1e-5)
    with pytest.raises(ConfigError, match="at most 32"):
        build_transformer_student(_teacher(layers=2, hidden=16), TransformerStudentConfig(layers=1, intermediate=64))


def test_narrow_student_gets_projected_teacher_embeddings():
    teacher = _teacher(layers=4, hidden=16)
    student = build_transformer_student(teacher, TransformerStudentConfig(layers=2, hidden=8, heads=2, init="embeddings"))
    assert student.config.hidden_size == 8 and student.config.intermediate_size == 32 and student.config.num_attention_heads == 2
    words_t = teacher.bert.embeddings.word_embeddings.weight
    words_s = student.bert.embeddings.word_embeddings.weight
    assert words_s.shape == (100, 8)
    # the projection has orthonormal columns: recover it by least squares and check P^T P = I
    projection = torch.linalg.lstsq(words_t, words_s).solution                 # (16, 8)
    assert torch.allclose(projection.T @ projection, torch.eye(8), atol=1e-4)
    assert torch.allclose(teacher.bert.embeddings.position_embeddings.weight @ projection,
                          student.bert.embeddings.position_embeddings.weight, atol=1e-5)
    assert count_parameters(student) < count_parameters(teacher)


def test_student_saves_and_loads_like_any_hf_classifier(tiny_bert_dir, encoder, tmp_path):
    teacher = load_teacher(tiny_bert_dir)
    student = build_transformer_student(teacher.model, TransformerStudentConfig(layers=1))
    out = save_transformer_student(student, tmp_path / "student", encoder, {"test_accuracy": 0.5})
    feeds = encoder.encode(["a fine film", "a dull, lifeless mess"])
    again = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert type(again) is BertForSequenceClassification and again.config.num_hidden_layers == 1
    with torch.no_grad():
        assert torch.equal(again(**feeds).logits, student(**feeds).logits)
    loaded = load_teacher(out)   # the folder is also a valid teacher / export source
    assert loaded.label_names == ("negative", "positive") and loaded.encoder.max_len == encoder.max_len
    assert json.loads((out / "metrics.json").read_text())["kind"] == "transformer"


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden": 8}, "needs the teacher's width 16"),
    ({"layers": 5}, "at most the teacher's 4 layers"),
    ({"layers": 2, "teacher_layers": (1,)}, "one teacher block per student block"),
    ({"layers": 1, "teacher_layers": (9,)}, "go past the teacher's 4 blocks"),
    ({"init": "pretrained"}, "choose one of teacher, embeddings, random"),
    ({"hidden": 10, "heads": 4, "init": "random"}, "not a multiple"),
])
def test_config_errors_say_what_works(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_transformer_student(_teacher(), TransformerStudentConfig(**kwargs))


def test_a_teacher_that_is_not_a_transformer_is_refused():
    with pytest.raises(UnsupportedError, match="built from a Hugging Face Transformer teacher; this teacher is a RNNStudent"):
        build_transformer_student(RNNStudent(RNNStudentConfig(vocab_size=10, embed_dim=4, hidden=4)), TransformerStudentConfig())


def test_importing_the_transformer_modules_stays_light():
    import subprocess
    import sys

    code = ("import sys, distill.students.transformer, distill.intermediate, distill.peft, distill.distributed, distill.parallel, distill.transformer_trainer;"
            "print('transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"   # transformers loads only inside the functions that need it
