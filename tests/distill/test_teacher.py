import numpy as np
import pytest

from distill import SplitConfig, TeacherConfig, cached_teacher_logits, finetune_teacher, load_dataset, load_teacher
from distill import teacher as teacher_mod
from distill.data import Split, TextDataset
from edgecore import CheckpointError, ConfigError


@pytest.fixture
def small_dataset(movie):
    texts, labels = movie
    return TextDataset("movie-mini", ("negative", "positive"), Split(texts[:40], labels[:40]), Split(texts[40:56], labels[40:56]),
                       Split(texts[56:72], labels[56:72]), split=SplitConfig(test=16, dev=16))


def test_finetune_caches_by_content_and_reuses(tiny_bert_dir, small_dataset, cache, monkeypatch):
    config = TeacherConfig(base=str(tiny_bert_dir), max_steps=2, batch_size=8, max_len=32)
    first = finetune_teacher(small_dataset, config)
    assert 0.0 <= first.metrics["test_accuracy"] <= 1.0 and (first.path / "model.safetensors").is_file()
    monkeypatch.setattr("distill.teacher.train_classifier", lambda *a, **k: pytest.fail("trained again despite a cache hit"))
    second = finetune_teacher(small_dataset, config)
    assert second.path == first.path and second.metrics == first.metrics
    other = TextDataset("other", small_dataset.label_names, small_dataset.dev, small_dataset.train, small_dataset.test)
    assert teacher_mod.teacher_key(tiny_bert_dir, other, config) != first.metrics["key"]


def test_logit_cache_hits_and_rebuilds_a_corrupt_entry(tiny_bert_dir, sentences, cache):
    teacher = load_teacher(tiny_bert_dir)
    texts = sentences[:10]
    logits, hit = cached_teacher_logits(teacher, texts)
    assert not hit and logits.shape == (10, 2) and np.isfinite(logits).all()
    again, hit = cached_teacher_logits(teacher, texts)
    assert hit and np.array_equal(again, logits)
    (entry,) = (cache / "logits").glob("*.safetensors")
    entry.write_bytes(b"garbage")
    rebuilt, hit = cached_teacher_logits(teacher, texts)
    assert not hit and np.allclose(rebuilt, logits, atol=1e-5)
    # dynamic padding in batches gives the same logits as one sentence at a time
    single = np.concatenate([teacher.logits([t]) for t in texts[:3]])
    assert np.allclose(single, logits[:3], atol=1e-4)


def test_bad_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_teacher(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_teacher(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    (tmp_path / "config.json").write_text('{"model_type": "no-such-arch"}')
    with pytest.raises(CheckpointError):
        load_teacher(tmp_path)


def test_teacher_config_is_checked():
    with pytest.raises(ConfigError, match="max_len"):
        TeacherConfig(max_len=4)


def test_split_reaches_the_teacher_unchanged():
    ds = load_dataset("movie-snippets", SplitConfig(test=100, dev=50, max_train=30))
    assert ds.sizes() == {"train": 30, "dev": 50, "test": 100}


def test_corrupt_cached_teacher_is_rebuilt_not_used(tiny_bert_dir, small_dataset, cache):
    config = TeacherConfig(base=str(tiny_bert_dir), max_steps=1, batch_size=8, max_len=32)
    first = finetune_teacher(small_dataset, config)
    (first.path / "model.safetensors").write_bytes(b"truncated")
    rebuilt = finetune_teacher(small_dataset, config)
    assert rebuilt.path == first.path and rebuilt.metrics["test_accuracy"] == first.metrics["test_accuracy"]
    assert (rebuilt.path / "model.safetensors").stat().st_size > 1000
