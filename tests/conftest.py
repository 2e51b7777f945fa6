"""Shared fixtures: tiny models built here, the real tokenizer, a few real sentences. No network."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import warnings

import pytest
import torch

warnings.filterwarnings("ignore", category=DeprecationWarning)
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def base_dir():
    from distill.teacher import resolve_base

    return resolve_base("minilm-l6")


@pytest.fixture(scope="session")
def encoder(base_dir):
    from distill import Encoder

    return Encoder(base_dir, 64)


@pytest.fixture(scope="session")
def movie():
    """The real built-in movie sentences (fetched by `make install`), unsplit."""
    from distill.data import read_builtin

    return read_builtin("movie-snippets")


@pytest.fixture(scope="session")
def sentences(movie):
    return movie[0][:64]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, base_dir):
    """A 2-layer, width-32 BERT classifier with the real WordPiece vocab, saved like any HF checkpoint."""
    from transformers import BertConfig, BertForSequenceClassification

    from distill import Encoder

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=128, num_labels=2, id2label={0: "negative", 1: "positive"},
                        label2id={"negative": 0, "positive": 1})
    model = BertForSequenceClassification(config).eval()
    out = tmp_path_factory.mktemp("tiny-bert")
    model.save_pretrained(out, safe_serialization=True)
    Encoder(base_dir).save(out)
    return out


@pytest.fixture
def movie_csv(movie, tmp_path):
    """Write `n` real movie sentences as a text,label CSV; balanced=True alternates positive and negative."""
    import csv

    def write(n: int, balanced: bool = False) -> Path:
        texts, labels = movie
        if balanced:
            pos = [t for t, y in zip(texts, labels) if y == 1][: n // 2]
            neg = [t for t, y in zip(texts, labels) if y == 0][: n // 2]
            rows = [row for pair in zip(((p, 1) for p in pos), ((q, 0) for q in neg)) for row in pair]
        else:
            rows = list(zip(texts[:n], labels[:n]))
        path = tmp_path / f"movie-{n}{'-balanced' if balanced else ''}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((t, ("negative", "positive")[y]) for t, y in rows)
        return path
    return write


@pytest.fixture(scope="session")
def make_tiny_student(encoder):
    """A fresh seed-0 BiLSTM (embed 16, hidden 8) over the real tokenizer's vocabulary; keyword args override the config."""
    from distill import RNNStudent, RNNStudentConfig

    def make(**overrides):
        torch.manual_seed(0)
        config = dict(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=8) | overrides
        return RNNStudent(RNNStudentConfig(**config)).eval()
    return make


@pytest.fixture
def tiny_student(make_tiny_student):
    return make_tiny_student()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache dir for tests that write teachers or logits (the built-in data stays where it is)."""
    from distill import data

    real_data = data.fetch_builtin()
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "fetch_builtin", lambda force=False: real_data)
    return tmp_path / "cache"
