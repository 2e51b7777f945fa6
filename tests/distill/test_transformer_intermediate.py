import json
import math

import pytest
import torch

from distill.intermediate import Features, LayerMatchLoss, Match, attention_cosine, attention_kl, attention_mse, hidden_cosine, hidden_mse, load_matches, preset
from edgecore import ConfigError


def test_hidden_mse_counts_only_real_tokens():
    student = torch.zeros(1, 2, 2)
    teacher = torch.tensor([[[1.0, 1.0], [3.0, 3.0]]])
    assert hidden_mse(student, teacher).item() == pytest.approx(5.0)                      # (1 + 9) / 2
    assert hidden_mse(student, teacher, torch.tensor([[1, 0]])).item() == pytest.approx(1.0)  # padding left out


def test_hidden_cosine_on_hand_made_vectors():
    s = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [5.0, 5.0]]])
    t = torch.tensor([[[0.0, 2.0], [2.0, 2.0], [-1.0, 0.0]]])
    # orthogonal -> 1, same direction (any length) -> 0; third token is padding
    assert hidden_cosine(s, t, torch.tensor([[1, 1, 0]])).item() == pytest.approx(0.5)
    assert hidden_cosine(s[:, 1:2], t[:, 1:2]).item() == pytest.approx(0.0, abs=1e-7)


def test_attention_losses_on_hand_made_maps():
    # one head, two tokens, the second is padding: only the first query row over the first key counts
    student = torch.tensor([[[[1.0, 0.0], [0.3, 0.7]]]])
    teacher = torch.tensor([[[[0.5, 0.5], [0.9, 0.1]]]])
    mask = torch.tensor([[1, 0]])
    assert attention_mse(student, teacher, mask).item() == pytest.approx(0.25)     # (1 - 0.5)^2 over the real key
    assert attention_mse(student, teacher).item() == pytest.approx((0.5 + 0.72) / 2)  # rows summed over keys, mean over rows
    assert attention_cosine(student, teacher, mask).item() == pytest.approx(0.0, abs=1e-7)  # both rows are (x, 0) once masked
    full = attention_cosine(student, teacher)
    expected = ((1 - 0.5 / math.sqrt(0.5)) + (1 - (0.27 + 0.07) / (math.sqrt(0.58) * math.sqrt(0.82)))) / 2
    assert full.item() == pytest.approx(expected, rel=1e-5)
    p, q = torch.tensor([[[[0.5, 0.5]]]]), torch.tensor([[[[0.25, 0.75]]]])
    assert attention_kl(q, p).item() == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75), rel=1e-5)


def test_different_head_counts_compare_head_averages():
    student = torch.full((1, 2, 3, 3), 1 / 3)
    teacher = torch.softmax(torch.randn(1, 4, 3, 3), -1)
    expected = attention_mse(student.mean(1, keepdim=True), teacher.mean(1, keepdim=True))
    assert torch.allclose(attention_mse(student, teacher), expected)


def _features(width, layers, heads, batch=2, tokens=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = tuple(torch.randn(batch, tokens, width, generator=g) for _ in range(layers + 1))
    attentions = tuple(torch.softmax(torch.randn(batch, heads, tokens, tokens, generator=g), -1) for _ in range(layers))
    mask = torch.ones(batch, tokens, dtype=torch.long)
    mask[1, 3:] = 0
    return Features(torch.randn(batch, 2, generator=g), hidden, attentions, mask)


def test_projections_exist_only_where_widths_differ_and_have_the_right_shapes():
    matches = preset("tinybert", 6, 2)
    narrow = LayerMatchLoss(matches, student_width=8, teacher_width=12)
    hidden_like = [m for m in matches if m.feature in ("hidden", "embeddings")]
    assert set(narrow.projections) == {m.name for m in hidden_like} and len(hidden_like) == 3
    for m in hidden_like:
        assert narrow.projections[m.name].weight.shape == (12, 8)
        assert narrow.project(m, torch.zeros(2, 5, 8)).shape == (2, 5, 12)
    assert len(LayerMatchLoss(matches, 12, 12).projections) == 0

    terms = narrow(_features(8, 2, heads=2), _features(12, 6, heads=4, seed=1))
    assert set(terms) == {m.name for m in matches}
    total = sum(w * v for w, v in terms.values())
    total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in narrow.projections.parameters())


def test_presets():
    assert preset("distilbert", 6, 3) == (Match(6, 3, "hidden", "cosine", 1.0),)
    tiny = preset("tinybert", 6, 3)
    assert tiny[0] == Match(0, 0, "embeddings", "mse")
    assert [(m.teacher_layer, m.student_layer, m.feature) for m in tiny[1:]] == [
        (2, 1, "attention"), (2, 1, "hidden"), (4, 2, "attention"), (4, 2, "hidden"), (6, 3, "attention"), (6, 3, "hidden")]
    assert all(m.feature != "attention" for m in preset("tinybert-hidden", 6, 3))
    assert preset("none", 6, 3) == ()


def test_matches_file_json_and_yaml(tmp_path):
    items = [{"teacher_layer": 0, "student_layer": 0, "feature": "embeddings", "loss": "mse"},
             {"teacher_layer": 6, "student_layer": 4, "feature": "hidden", "loss": "cosine", "weight": 2.0},
             {"teacher_layer": 6, "student_layer": 4, "feature": "attention", "loss": "kl"}]
    (tmp_path / "m.json").write_text(json.dumps({"matches": items}))
    yaml_text = "".join(f"- {{teacher_layer: {i['teacher_layer']}, student_layer: {i['student_layer']}, feature: {i['feature']}, loss: {i['loss']}"
                        + (f", weight: {i['weight']}" if "weight" in i else "") + "}\n" for i in items)
    (tmp_path / "m.yaml").write_text(yaml_text)
    expected = (Match(0, 0, "embeddings", "mse"), Match(6, 4, "hidden", "cosine", 2.0), Match(6, 4, "attention", "kl"))
    assert load_matches(tmp_path / "m.json", 6, 4) == expected
    assert load_matches(str(tmp_path / "m.yaml"), 6, 4) == expected
    assert load_matches("tinybert", 6, 4) == preset("tinybert", 6, 4)


@pytest.mark.parametrize("content, message", [
    ('[{"teacher_layer": 6, "student_layer": 3, "weigth": 2}]', r"unknown key\(s\) \['weigth'\]; valid keys: feature, loss, student_layer"),
    ('[{"teacher_layer": 6, "student_layer": 3, "feature": "logits"}]', "choose one of embeddings, attention, hidden"),
    ('[{"teacher_layer": 7, "student_layer": 3}]', "past the models"),
    ('[{"teacher_layer": 2, "student_layer": 1, "feature": "embeddings"}]', "layer 0 on both sides"),
    ('[{"teacher_layer": 2, "student_layer": 1, "loss": "kl"}]', "use mse or cosine"),
    ('[{"teacher_layer": 6, "student_layer": 3}, {"teacher_layer": 6, "student_layer": 3}]', "repeat"),
    ('[{"student_layer": 3}]', "missing"),
    ('{"layers": []}', "expected a list"),
    ('not json', "not valid JSON"),
])
def test_bad_matches_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_matches(path, 6, 3)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match="choose one of distilbert, tinybert"):
        load_matches("tiny-bert", 6, 3)
