"""Data sets: the built-in human-rated snippets (fetched through pip) and users' files.

Users' files (CSV/TSV, JSON Lines, JSON, Parquet, `datasets` folders, folders of split files) are read by
distill.readers; this module turns them into a TextDataset (their own train/validation/test splits, or the seeded
split) and maps a data set's labels onto a checkpoint's (`align_labels`). docs/data.md has the rules.

The built-in sentiment sets come from the vaderSentiment 3.3.2 source distribution, which carries
`additional_resources/hutto_ICWSM_2014.tar.gz`: sentences each rated by ~20 people on -4..+4.
The binary label is the sign of the mean rating; sentences with |rating| <= 0.5 are dropped as
neither clearly positive nor negative. The data licence is research use: it is fetched into the
cache at setup and never committed.

Benchmark sets of other shapes, `snli` (sentence pairs, 3 classes), `trec` (6 classes) and `imdb` (long reviews),
are fetched the same way on first use (distill.builtin_data).
"""
from __future__ import annotations

import hashlib
import io
import json
import random
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from distill import builtin_data
from distill.readers import ALL, LabelledData, read_labelled
from edgecore import ConfigError, DataError, atomic_dir, cache_dir, cache_lock

SDIST = "vaderSentiment==3.3.2"
SDIST_FILE = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_TARBALL = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
LABELS = ("negative", "positive")
NEUTRAL_BAND = 0.5

# name -> (file inside the inner tarball, what it is): the vaderSentiment sets, fetched at setup
SENTIMENT = {
    "movie-snippets": ("movieReviewSnippets_GroundTruth.txt", "Rotten Tomatoes sentences (the pool SST was built from)"),
    "amazon-snippets": ("amazonReviewSnippets_GroundTruth.txt", "Amazon product review sentences"),
    "tweets": ("tweets_GroundTruth.txt", "tweets"),
    "nyt-snippets": ("nytEditorialSnippets_GroundTruth.txt", "New York Times editorial sentences"),
}
# every built-in name -> (file(s) read, what it is); snli, trec and imdb are fetched on first use (distill.builtin_data)
BUILTIN = {**SENTIMENT, **builtin_data.LISTING}


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
    """Rows of one split. `labels` holds a class index per row, or for multi-label data a sorted tuple of class
    indices per row. `pairs` holds the second text of each row for sentence-pair data, else None."""

    texts: list[str]
    labels: list[int]
    pairs: list[str] | None = None

    def __post_init__(self) -> None:
        if self.pairs is not None and len(self.pairs) != len(self.texts):
            raise ValueError(f"a Split needs one pair text per text (got {len(self.pairs)} pairs for {len(self.texts)} texts)")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def multi_label(self) -> bool:
        return bool(self.labels) and isinstance(self.labels[0], tuple)

    @property
    def inputs(self) -> list:
        """What a model reads per row: the text, or the (text, text_pair) of sentence-pair data."""
        return list(self.texts) if self.pairs is None else list(zip(self.texts, self.pairs))

    def targets(self, n_labels: int):
        """What training and scoring take: the class indices, or for multi-label data an (N, n_labels) 0/1 float32 matrix."""
        if not self.multi_label:
            return list(self.labels)
        from edgecore.multilabel import multi_hot

        return multi_hot(self.labels, n_labels)

    def take(self, idx: Sequence[int]) -> Split:
        """The rows at `idx`, in that order."""
        return Split([self.texts[i] for i in idx], [self.labels[i] for i in idx],
                     None if self.pairs is None else [self.pairs[i] for i in idx])


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
    columns: tuple[str, ...] = ()   # the file's columns used: (text, label) or (text, text pair, label); () for built-ins
    own_splits: bool = False        # the splits are the data's own (train/validation/test), not the seeded split

    @property
    def has_pairs(self) -> bool:
        """Sentence-pair data: every split has `pairs`."""
        return self.train.pairs is not None

    @property
    def multi_label(self) -> bool:
        return self.train.multi_label

    def fingerprint(self) -> str:
        """A hash of every text, pair text and label in every split: cache keys depend on it.
        Single-text, single-label data hash exactly as before pairs and multi-label existed."""
        h = hashlib.sha256(json.dumps(self.label_names).encode())
        if self.multi_label:
            h.update(b"multi-label\x00")
        for part in (self.train, self.dev, self.test):
            pairs = part.pairs if part.pairs is not None else [None] * len(part.texts)
            for text, label, pair in zip(part.texts, part.labels, pairs):
                h.update(text.encode("utf-8"))
                if pair is not None:
                    encoded = pair.encode("utf-8")
                    h.update(b"\x03%d:" % len(encoded) + encoded)
                if isinstance(label, tuple):
                    h.update(b"\x00" + b",".join(b"%d" % i for i in label) + b"\x01")
                else:
                    h.update(b"\x00%d\x01" % label)
            h.update(b"\x02")
        return h.hexdigest()

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}

    def describe(self) -> dict:
        return {"name": self.name, "labels": list(self.label_names), **self.sizes(), "source": self.source,
                "split": asdict(self.split), "splits_from": "data" if self.own_splits else "seeded",
                "columns": list(self.columns), "pairs": self.has_pairs, "multi_label": self.multi_label}


# ---------------------------------------------------------------------------------------------
# Built-in data

def fetch_builtin(force: bool = False) -> Path:
    """Download the vaderSentiment sdist with pip and keep the ground-truth files in the cache.

    Only the four `*_GroundTruth.txt` members are read, by name, as bytes: no archive path is trusted.
    Returns the folder that holds them.
    """
    target = cache_dir("data") / "hutto_ICWSM_2014"
    complete = lambda: target.is_dir() and all((target / f).is_file() for f, _ in SENTIMENT.values())
    if complete() and not force:
        return target
    with cache_lock(target):   # a second process (or torchrun rank) waits here, then finds the entry built
        if complete() and not force:
            return target
        with builtin_data.downloaded(SDIST, SDIST_FILE, SDIST_SHA256) as sdist, tarfile.open(sdist, "r:gz") as outer:
            inner_bytes = outer.extractfile(INNER_TARBALL).read()
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner, atomic_dir(target, force=True) as out:
            names = {Path(m.name).name: m for m in inner.getmembers() if m.isfile()}
            for filename, _ in SENTIMENT.values():
                if filename not in names:
                    raise DataError(f"{INNER_TARBALL} has no {filename}; the sdist is not the expected one")
                (out / filename).write_bytes(inner.extractfile(names[filename]).read())
    return target


def fetch_all_builtin(force: bool = False) -> dict[str, Path]:
    """Fetch every built-in data set into the cache (the sentiment sets, snli, trec and imdb): name -> its cache folder.
    `fetch_builtin` alone fetches the sentiment sets (what setup needs); the others are otherwise fetched on first use."""
    folder = fetch_builtin(force)
    fetched = dict.fromkeys(SENTIMENT, folder)
    for name, fetch in builtin_data.FETCH.items():
        fetched[name] = fetch(force)
    return fetched


def read_builtin(name: str) -> tuple[list[str], list[int]]:
    """All sentences of a single-text built-in set, deduplicated (first kept), in file order: the sentiment sets'
    sentences with a clear sign (labels index LABELS), or trec's questions (labels index builtin_data.TREC_LABELS)."""
    if name not in BUILTIN:
        raise DataError(f"{name!r} is not a built-in data set; choose one of {', '.join(BUILTIN)}, or give a file path")
    if name == "trec":
        return builtin_data.read_trec()
    if name == "imdb":
        return builtin_data.read_imdb()
    if name not in SENTIMENT:
        raise DataError(f"{name!r} is sentence-pair data; load it with load_dataset({name!r}), whose splits hold the pairs")
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
# User data (distill.readers does the reading)

def read_csv(path: str | Path, text_column: str = "text", label_column: str = "label",
             label_names: tuple[str, ...] | None = None) -> tuple[list[str], list[int], tuple[str, ...]]:
    """Read a UTF-8 CSV (or TSV) with a text and a label column, unsplit. Labels may be names or integers.

    Kept for its callers; `read_labelled` (distill.readers) reads every format and recognises column names."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV file with columns {text_column},{label_column}")
    data = read_labelled(path, text_column=text_column, label_column=label_column, label_names=label_names)
    rows = _concatenated(data)
    return rows.texts, rows.labels, data.label_names


def _concatenated(data: LabelledData) -> Split:
    """Every row of the data, its splits in train, dev, test order."""
    parts = [data.splits[k] for k in (ALL, "train", "dev", "test") if k in data.splits]
    pairs = None if data.text_pair_column is None else [p for r in parts for p in r.pairs]
    return Split([t for r in parts for t in r.texts], [lab for r in parts for lab in r.labels], pairs)


# ---------------------------------------------------------------------------------------------
# Splitting

def _shuffled(n: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def split_pool(texts: list[str], labels: list[int], config: SplitConfig,
               pairs: list[str] | None = None) -> tuple[Split, Split, Split]:
    """Fixed-seed shuffle, then test, dev, and the rest as train. Small pools fall back to 20% / 10%."""
    n = len(texts)
    n_test, n_dev = config.test, config.dev
    if n_test + n_dev > n // 2:
        n_test, n_dev = max(1, round(0.2 * n)), max(1, round(0.1 * n))
    if n - n_test - n_dev < 2:
        raise DataError(f"only {n} labelled sentences: too few to split into train/dev/test; give at least 10")
    order = _shuffled(n, config.seed)
    test_idx, dev_idx, train_idx = order[:n_test], order[n_test:n_test + n_dev], order[n_test + n_dev:]
    if config.max_train is not None:
        train_idx = train_idx[: config.max_train]
    pool = Split(texts, labels, pairs)
    return pool.take(train_idx), pool.take(dev_idx), pool.take(test_idx)


def own_splits(splits: Mapping[str, Split], config: SplitConfig) -> tuple[Split, Split, Split]:
    """The data's own train/dev/test. A missing dev or test is drawn from train with the seeded shuffle (config.dev /
    config.test rows, or 10% / 20% of train when those would take more than half of it); config.max_train keeps a
    seeded sample of train. Rows otherwise stay in file order."""
    train = splits["train"]
    parts = dict(splits)
    need_test, need_dev = "test" not in parts, "dev" not in parts
    if need_test or need_dev:
        n = len(train)
        n_test, n_dev = config.test * need_test, config.dev * need_dev
        if n_test + n_dev > n // 2:
            n_test, n_dev = max(1, round(0.2 * n)) * need_test, max(1, round(0.1 * n)) * need_dev
        if n - n_test - n_dev < 2:
            missing = " and ".join(s for s, need in (("dev", need_dev), ("test", need_test)) if need)
            raise DataError(f"only {n} training rows: too few to draw a {missing} split from; give at least 10, or give the {missing} split too")
        order = _shuffled(n, config.seed)
        if need_test:
            parts["test"] = train.take(order[:n_test])
        if need_dev:
            parts["dev"] = train.take(order[n_test:n_test + n_dev])
        train = train.take(sorted(order[n_test + n_dev:]))
    if config.max_train is not None and len(train) > config.max_train:
        train = train.take(sorted(_shuffled(len(train), config.seed)[: config.max_train]))
    return train, parts["dev"], parts["test"]


def _classes(part: Split) -> set[int]:
    return {i for lab in part.labels for i in lab} if part.multi_label else set(part.labels)


def load_dataset(name_or_path: str | Path, config: SplitConfig = SplitConfig(), *, text_column: str | None = None,
                 text_pair_column: str | None = None, label_column: str | None = None, delimiter: str | None = None,
                 label_separator: str | None = None) -> TextDataset:
    """Load a built-in data set by name, or a user's file or folder, and split it.

    Files: .csv/.tsv (delimiter from the extension or the header, or `delimiter`), .jsonl, .json, .parquet; folders written
    by `datasets`' save_to_disk, or holding train/validation/test files. Columns are the ones named, else recognised by
    name (distill.readers). The data's own splits are used when it has them, else the seeded split of `config`.
    Built-in `snli` (sentence pairs) keeps its own test split, draws dev from train, and caps train at
    builtin_data.SNLI_MAX_TRAIN pairs when config.max_train is None; `trec` gets the seeded split (docs/data.md);
    `imdb` (long reviews) the seeded split with train capped at builtin_data.IMDB_MAX_TRAIN when max_train is None.

    >>> ds = load_dataset("movie-snippets")  # doctest: +SKIP
    >>> ds.sizes()                            # doctest: +SKIP
    {'train': 7041, 'dev': 1000, 'test': 2000}
    >>> load_dataset("snli").sizes()          # doctest: +SKIP
    {'train': 20000, 'dev': 1000, 'test': 9824}
    >>> ds = load_dataset("data/mnli", text_column="premise", text_pair_column="hypothesis")  # doctest: +SKIP
    """
    name = str(name_or_path)
    if name == "snli":
        parts = {k: Split(t, y, p) for k, (t, p, y) in builtin_data.read_snli().items()}
        if config.max_train is None:
            config = replace(config, max_train=builtin_data.SNLI_MAX_TRAIN)
        train, dev, test = own_splits(parts, config)
        source = f"{builtin_data.SNLI.requirement} sdist, {BUILTIN[name][0]}; {builtin_data.SNLI.licence}"
        label_names, columns, own = builtin_data.SNLI_LABELS, ("sentence1", "sentence2", "gold_label"), True
    elif name == "trec":
        texts, labels = read_builtin(name)
        train, dev, test = split_pool(texts, labels, config)
        label_names, source, columns, own = builtin_data.TREC_LABELS, f"{builtin_data.TREC.requirement} wheel, {BUILTIN[name][0]}", (), False
    elif name == "imdb":   # long documents; train capped like snli's (the seeded split's first IMDB_MAX_TRAIN)
        texts, labels = read_builtin(name)
        if config.max_train is None:
            config = replace(config, max_train=builtin_data.IMDB_MAX_TRAIN)
        train, dev, test = split_pool(texts, labels, config)
        label_names, source, columns, own = builtin_data.IMDB_LABELS, f"{builtin_data.IMDB.requirement} wheel, {BUILTIN[name][0]}; {builtin_data.IMDB.licence}", (), False
    elif name in BUILTIN:
        texts, labels = read_builtin(name)
        train, dev, test = split_pool(texts, labels, config)
        label_names, source, columns, own = LABELS, f"{SDIST} sdist, {BUILTIN[name][0]}", (), False
    else:
        path = Path(name)
        if not path.exists():
            raise DataError(f"data {name!r} does not exist as a file or folder and is not a built-in data set ({', '.join(BUILTIN)}); "
                            f"give one of those names, a CSV/TSV, JSON Lines, JSON or Parquet file, or a data folder")
        data = read_labelled(path, text_column=text_column, text_pair_column=text_pair_column, label_column=label_column,
                             delimiter=delimiter, label_separator=label_separator)
        if ALL in data.splits:
            rows = data.splits[ALL]
            train, dev, test = split_pool(rows.texts, rows.labels, config, rows.pairs)
        else:
            train, dev, test = own_splits({k: Split(r.texts, r.labels, r.pairs) for k, r in data.splits.items()}, config)
        label_names, source, columns, own = data.label_names, str(path.resolve()), data.columns, ALL not in data.splits
        name = path.resolve().name if path.is_dir() else path.stem
    if len(_classes(train)) < 2:
        raise DataError(f"the training split of {name} has only one class; the data needs examples of every label")
    return TextDataset(name, tuple(label_names), train, dev, test, source, config, columns, own)


def load_texts(name_or_path: str | Path, *, text_column: str | None = None, label_column: str | None = None,
               delimiter: str | None = None, label_separator: str | None = None) -> tuple[list[str], list[int], tuple[str, ...]]:
    """Load every labelled sentence of a built-in set or a user's file or folder, unsplit (train, dev, test in that
    order): (texts, labels, label names), for out-of-domain evaluation or unlabelled transfer text. Sentence-pair
    data is refused: these are single texts.

    >>> texts, labels, label_names = load_texts("amazon-snippets")  # doctest: +SKIP
    """
    name = str(name_or_path)
    if name == "snli":
        raise DataError("snli holds sentence pairs (sentence1+sentence2); single texts are needed here: give a single-text "
                        "data set, or a file of the sentences you want")
    if name in BUILTIN:
        texts, labels = read_builtin(name)
        return texts, labels, {"trec": builtin_data.TREC_LABELS, "imdb": builtin_data.IMDB_LABELS}.get(name, LABELS)
    if not Path(name).exists():
        raise DataError(f"data {name!r} does not exist as a file or folder and is not a built-in data set ({', '.join(BUILTIN)})")
    data = read_labelled(name, text_column=text_column, label_column=label_column, delimiter=delimiter,
                         label_separator=label_separator)
    if data.text_pair_column:
        raise DataError(f"{name} holds sentence pairs ({data.text_column}+{data.text_pair_column}); single texts are needed "
                        f"here: pass --text-column to use one column")
    rows = _concatenated(data)
    return rows.texts, rows.labels, data.label_names


# ---------------------------------------------------------------------------------------------
# Labels against a checkpoint

_DEFAULT_LABEL = re.compile(r"LABEL_(\d+)")


def model_label_names(id2label: Mapping | Sequence[str]) -> tuple[str, ...]:
    """A checkpoint's class names in logit order, from a config's id2label (int or string keys) or a sequence of names."""
    if isinstance(id2label, Mapping):
        try:
            keys = sorted(id2label, key=int)
        except (TypeError, ValueError):
            raise DataError(f"id2label keys must be class indices 0..n-1 (got {list(id2label)[:5]})") from None
        if [int(k) for k in keys] != list(range(len(keys))):
            raise DataError(f"id2label keys must be class indices 0..n-1 (got {[int(k) for k in keys][:8]})")
        return tuple(str(id2label[k]) for k in keys)
    return tuple(str(n) for n in id2label)


def _as_index(label: str) -> int | None:
    match = _DEFAULT_LABEL.fullmatch(label)
    digits = match.group(1) if match else label
    return int(digits) if digits.isdigit() else None


def label_mapping(data_labels: Sequence[str], id2label: Mapping | Sequence[str], *, data: str = "the data",
                  model: str = "the checkpoint") -> list[int]:
    """The checkpoint's class index of each data label name (in data order); one rule for every command:

    1. names: every data label is one of the checkpoint's names (exactly, case included);
    2. else indices: every data label is an integer k, or the default name LABEL_k, with 0 <= k < the class count
       (so integer-labelled data fits a checkpoint whose names are LABEL_0.. or real names in index order).
    The data may use fewer classes than the checkpoint. Anything else is a DataError printing both label sets.

    >>> label_mapping(("neg", "pos"), {0: "neg", 1: "pos"}), label_mapping(("0", "2"), {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    ([0, 1], [0, 2])
    """
    names = model_label_names(id2label)
    labels = [str(x) for x in data_labels]
    position = {n: i for i, n in enumerate(names)}
    if all(lab in position for lab in labels):
        return [position[lab] for lab in labels]
    indices = [_as_index(lab) for lab in labels]
    if all(i is not None and i < len(names) for i in indices) and len(set(indices)) == len(indices):
        return indices
    unmatched = [lab for lab, i in zip(labels, indices) if lab not in position and (i is None or i >= len(names))] or labels
    raise DataError(f"the labels of {data} {labels} do not match {model}'s {list(names)} ({', '.join(map(repr, unmatched[:5]))} "
                    f"fit neither by name nor as an index); relabel the data with the checkpoint's names, or integers 0..{len(names) - 1} in its class order")


def align_labels(dataset: TextDataset, id2label: Mapping | Sequence[str], *, model: str = "the checkpoint") -> TextDataset:
    """The data set with labels renumbered in the checkpoint's class order and label_names set to the checkpoint's
    names, by `label_mapping`'s rule; `dataset` itself when they already agree.

    >>> ds = align_labels(load_dataset("reviews.csv"), teacher.label_names, model=f"teacher {path}")  # doctest: +SKIP
    """
    names = model_label_names(id2label)
    if tuple(dataset.label_names) == names:
        return dataset
    mapping = label_mapping(dataset.label_names, names, data=f"data {dataset.name}", model=model)

    def remap(part: Split) -> Split:
        labels = [tuple(sorted(mapping[i] for i in lab)) if isinstance(lab, tuple) else mapping[lab] for lab in part.labels]
        return replace(part, labels=labels)

    return replace(dataset, label_names=names, train=remap(dataset.train), dev=remap(dataset.dev), test=remap(dataset.test))
