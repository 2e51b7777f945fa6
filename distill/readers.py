"""Readers for users' labelled text: CSV/TSV, JSON Lines, JSON, Parquet, `datasets` folders and split folders.

Parsing is done by libraries: pyarrow reads CSV/TSV, JSON Lines and Parquet, the standard `json` module reads
whole-document JSON (and locates JSON Lines syntax errors), and `datasets.load_from_disk` reads folders written by
`save_to_disk`. This module then picks the text / text-pair / label columns, parses the labels and returns plain
lists per split. Every failure is one DataError line naming the file, the row where that means something, and what
would work (the CLI flags are named: --text-column, --text-pair-column, --label-column, --delimiter,
--label-separator). docs/data.md describes the rules.

Rows are named in messages the way each format counts them: CSV/TSV "row N" as in a spreadsheet (the header is
row 1, blank lines are not counted), JSON Lines "line N", JSON / Parquet / `datasets` "index N" (0-based, as data[N]).
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgecore import DataError

#: single-text columns recognised without --text-column, in no particular priority: two present is ambiguous
TEXT_NAMES = ("text", "sentence", "review", "content")
#: (first, second) text columns of sentence-pair data, recognised when both are present
PAIR_NAMES = (("sentence1", "sentence2"), ("premise", "hypothesis"), ("question1", "question2"),
              ("text", "text_pair"), ("text_a", "text_b"), ("question", "sentence"))
#: label columns recognised without --label-column
LABEL_NAMES = ("label", "labels", "sentiment", "target")
#: split names in files, folders and DatasetDicts -> the split they become
SPLIT_NAMES = {"train": "train", "validation": "dev", "valid": "dev", "dev": "dev", "test": "test"}
#: file extensions read, and their format
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
#: delimiters tried on a CSV/TSV header when none is given
DELIMITERS = (",", "\t", ";", "|")
#: the longest text (or label) a field may hold, in characters: longer ones are an error, usually an unclosed quote
MAX_FIELD_CHARS = 1_000_000
#: labels joined in one string cell are split on this when no separator is given and a cell holds it
DEFAULT_LABEL_SEPARATOR = "|"
#: what the unsplit rows of a data set without its own splits are filed under
ALL = "all"

_DELIM_NAMES = {",": "','", "\t": "tab", ";": "';'", "|": "'|'"}
_INT = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_RECOGNISED = (f"recognised: {'/'.join(TEXT_NAMES)}, or pairs "
               + ", ".join(f"{a}+{b}" for a, b in PAIR_NAMES))


# ---------------------------------------------------------------------------------------------
# What a reader returns

@dataclass
class Table:
    """One file (or one split of a `datasets` folder) as named columns of Python values, read on demand."""

    where: str                                          # the file (and split) for messages
    names: list[str]                                    # column names, in file order
    fetch: Callable[[list[str]], dict[str, list]]       # the values of some columns
    row: Callable[[int], str]                           # 0-based index -> "row 7" / "line 7" / "index 6"
    class_names: dict[str, tuple[str, ...]] = field(default_factory=dict)   # columns declared ClassLabel
    csv_like: bool = False                              # quoting hints apply


@dataclass(frozen=True)
class Rows:
    """The usable rows of one split: texts, second texts (pair data) and labels (an index, or a tuple of indices)."""

    texts: list[str]
    pairs: list[str] | None
    labels: list


@dataclass(frozen=True)
class LabelledData:
    """A user's data read from disk: label names, and rows per split ("train"/"dev"/"test", or "all" when unsplit)."""

    path: Path
    format: str                       # csv, tsv, jsonl, json, parquet, datasets, folder
    label_names: tuple[str, ...]
    splits: dict[str, Rows]
    text_column: str
    text_pair_column: str | None
    label_column: str
    multi_label: bool = False
    declared_labels: bool = False     # label names (and order) come from the data's ClassLabel feature
    skipped: int = 0                  # rows without text, left out

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.text_column, self.text_pair_column, self.label_column) if c)


# ---------------------------------------------------------------------------------------------
# Small helpers

def _show(value, limit: int = 40) -> str:
    """A short one-line repr of a value for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + "...'" if text[0] in "'\"" else text[:limit - 3] + "..."


def _cols(names: Iterable[str]) -> str:
    return ", ".join(map(repr, names)) or "none"


def _where_rows(table: Table, idx: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(table.row(i) for i in idx[:limit])
    return shown + (f" and {len(idx) - limit} more" if len(idx) > limit else "")


def _decode(path: Path) -> tuple[bytes, str]:
    """The file's bytes (BOM removed) and text; empty files and invalid UTF-8 are errors."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror or e}); check the path and its permissions") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise DataError(f"{path} is empty: no data rows; it needs at least two labelled rows (and for CSV/TSV a header line first)")
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path} is not valid UTF-8 (line {line}, byte {e.start}); re-save it as UTF-8") from None


def _block_size(n: int) -> int:
    """One pyarrow block for the whole file, so long records never straddle blocks (int32 limit)."""
    return max(1 << 20, min(n + 1, (1 << 31) - 1))


# ---------------------------------------------------------------------------------------------
# CSV / TSV

def _fields(line: str, delimiter: str) -> list[str]:
    """The fields of one line (the header) split by the csv module; unparseable lines have none."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def _pick_delimiter(path: Path, header: str, fmt: str, delimiter: str | None) -> str:
    """The given delimiter, else the extension's (',' or tab) if it splits the header, else the one candidate that does."""
    def fields(d: str) -> int:
        return len(_fields(header, d))

    if delimiter is not None:
        if len(delimiter) != 1:
            raise DataError(f"the delimiter must be one character (got {delimiter!r}); e.g. --delimiter ';' or --delimiter '\\t'")
        if fields(delimiter) < 2:
            others = [d for d in DELIMITERS if d != delimiter and fields(d) >= 2]
            hint = f"; it looks {_DELIM_NAMES[others[0]]}-separated" if len(others) == 1 else ""
            raise DataError(f"{path}: the header {_show(header)} has one column with delimiter {_DELIM_NAMES.get(delimiter, repr(delimiter))}"
                            f"{hint}; pass the delimiter the file uses (--delimiter)")
        return delimiter
    default = "\t" if fmt == "tsv" else ","
    if fields(default) >= 2:
        return default
    found = [d for d in DELIMITERS if fields(d) >= 2]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(f"{path}: cannot tell the delimiter: the header {_show(header)} has no ',', tab, ';' or '|'; "
                        f"give a header with a text and a label column, or pass --delimiter")
    raise DataError(f"{path}: cannot tell the delimiter: the header {_show(header)} splits on "
                    f"{' and '.join(_DELIM_NAMES[d] for d in found)}; pass --delimiter")


def _read_delimited(path: Path, fmt: str, delimiter: str | None) -> Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data, text = _decode(path)
    lead = len(data) - len(data.lstrip(b"\r\n"))
    data, text = data[lead:], text[lead:]
    header = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    delim = _pick_delimiter(path, header, fmt, delimiter)
    dname = _DELIM_NAMES.get(delim, repr(delim))
    names = [n.strip() or f"column{i + 1}" for i, n in enumerate(_fields(header, delim))]   # unnamed: an index, a trailing delimiter
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{path}: the header names column {_cols(dupes)} more than once; rename the duplicates")
    bad: list = []

    def on_bad_row(row) -> str:
        bad.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False, block_size=_block_size(len(data))),
            parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True, invalid_row_handler=on_bad_row),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowException as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path} could not be parsed as {dname}-separated text ({msg}); check the quoting and --delimiter") from None
    if bad:
        row = bad[0]
        where = f"row {row.number}" if row.number is not None else "a row"
        snippet = row.text or ""
        if (snippet.lstrip().startswith('"') and "\n" in snippet) or snippet.count('"') % 2:
            hint = f"a quote opened on {where} is never closed; close it, and double quotes inside quoted fields (\"\")"
        else:
            first_line = re.split(r"\r\n|\r|\n", snippet, maxsplit=1)[0]
            others = [d for d in DELIMITERS if d != delim and len(_fields(first_line, d)) == len(names)]
            if others and row.actual_columns == 1:
                hint = f"it looks {_DELIM_NAMES[others[0]]}-separated: pass --delimiter"
            elif row.actual_columns > row.expected_columns:
                hint = f"quote fields that contain {dname}"
            else:
                hint = f"give every row all {row.expected_columns} fields (an empty one is fine)"
        raise DataError(f"{path}: {where} has {row.actual_columns} field{'s' * (row.actual_columns != 1)}, the header has "
                        f"{row.expected_columns} ({dname}-separated): {_show(snippet)}; {hint}")
    if table.num_rows == 0:
        raise DataError(f"{path} has a header ({_cols(names)}) but no data rows; add at least two labelled rows")
    columns = {n: table.column(i) for i, n in enumerate(names)}
    return Table(str(path), names, lambda wanted: {n: columns[n].to_pylist() for n in wanted},
                 lambda i: f"row {i + 2}", csv_like=True)


# ---------------------------------------------------------------------------------------------
# JSON Lines and JSON

def _not_an_object(path: Path, where: str, value) -> DataError:
    kind = "JSON null" if value is None else f"a JSON {type(value).__name__}"
    return DataError(f'{path}: {where} is {kind}, not an object; each record needs to be {{"text": ..., "label": ...}}')


def _columns_from_records(path: Path, records: list, row: Callable[[int], str]) -> tuple[list[str], dict[str, list]]:
    names: dict[str, None] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise _not_an_object(path, row(i), rec)
        names.update(dict.fromkeys(rec))
    return list(names), {n: [rec.get(n) for rec in records] for n in names}


def _is_dated(kind) -> bool:
    import pyarrow as pa

    if pa.types.is_list(kind):
        kind = kind.value_type
    return pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind)


def _read_jsonl_text(path: Path, data: bytes, text: str) -> Table:
    import pyarrow as pa
    import pyarrow.json as pajson

    lines = [i for i, line in enumerate(text.split("\n"), 1) if line.strip()]
    row = lambda i: f"line {lines[i]}" if 0 <= i < len(lines) else f"record {i}"
    # pyarrow.json.read_json (pyarrow 26.0.1) segfaults when the first value is `null`: it only gets files whose every line
    # starts an object; anything else is read by the standard parser below, which names the first line that is not one
    if all(line.lstrip().startswith("{") for line in text.split("\n") if line.strip()):
        read_options = pajson.ReadOptions(use_threads=False, block_size=_block_size(len(data)))
        try:
            table = pajson.read_json(io.BytesIO(data), read_options=read_options)
            # arrow turns ISO-date-like strings into timestamps: read those columns again as the strings they are
            dated = [f for f in table.schema if _is_dated(f.type)]
            if dated:
                schema = pa.schema([(f.name, pa.list_(pa.string()) if pa.types.is_list(f.type) else pa.string()) for f in dated])
                table = pajson.read_json(io.BytesIO(data), read_options=read_options,
                                         parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"))
            names = table.column_names
            return Table(str(path), names, lambda wanted: {n: table.column(n).to_pylist() for n in wanted}, row)
        except pa.ArrowException:
            pass   # find the line with the standard parser, which also takes mixed types that arrow refuses
    records = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno} is not valid JSON ({e.msg}, column {e.colno}); "
                            f"JSON Lines needs one complete object per line") from None
        if not isinstance(record, dict):
            raise _not_an_object(path, f"line {lineno}", record)
        records.append(record)
    names, columns = _columns_from_records(path, records, row)
    return Table(str(path), names, lambda wanted: {n: columns[n] for n in wanted}, row)


def _read_jsonl(path: Path) -> Table:
    data, text = _decode(path)
    return _read_jsonl_text(path, data, text)


def _read_json(path: Path) -> list[tuple[str | None, Table]]:
    """A list of records, {"<key>": [records]} (e.g. "data"), {"train": [...], "test": [...]}, or {column: [values]}.
    A .json file that holds JSON Lines is read as such (as `datasets` does)."""
    data, text = _decode(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":
            return [(None, _read_jsonl_text(path, data, text))]
        raise DataError(f"{path} is not valid JSON ({e.msg}, line {e.lineno} column {e.colno}); "
                        f"give a list of records, {{\"data\": [records]}} or JSON Lines") from None

    def records_table(records: list, key: str | None) -> Table:
        row = (lambda i: f"index {i}") if key is None else (lambda i: f"{key}[{i}]")
        names, columns = _columns_from_records(path, records, row)
        if not records:
            raise DataError(f"{path}{f' {key!r}' if key else ''} has no records; add at least two labelled records")
        return Table(str(path) + (f" [{key}]" if key else ""), names, lambda wanted: {n: columns[n] for n in wanted}, row)

    if isinstance(obj, list):
        return [(None, records_table(obj, None))]
    if isinstance(obj, dict):
        record_keys = [k for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if record_keys and all(k in SPLIT_NAMES for k in record_keys) and len(record_keys) > 1:
            return [(k, records_table(obj[k], k)) for k in record_keys]
        if len(record_keys) == 1:
            return [(None, records_table(obj[record_keys[0]], record_keys[0]))]
        lists = {k: v for k, v in obj.items() if isinstance(v, list)}
        if lists and len(lists) == len(obj) and len({len(v) for v in lists.values()}) == 1 and not record_keys:
            return [(None, Table(str(path), list(lists), lambda wanted: {n: lists[n] for n in wanted}, lambda i: f"index {i}"))]
    kind = "JSON null" if obj is None else f"a JSON {type(obj).__name__}"
    raise DataError(f"{path}: {kind} of this shape is not a data set (keys: {_cols(obj) if isinstance(obj, dict) else '-'}); "
                    f'give a list of records, {{"data": [records]}}, {{column: [values]}} or JSON Lines')


# ---------------------------------------------------------------------------------------------
# Parquet and `datasets` folders

def _hf_class_names(features: dict) -> dict[str, tuple[str, ...]]:
    """ClassLabel names per column from `datasets` feature JSON (a ClassLabel, or a list of ClassLabel)."""
    out = {}
    for name, feat in (features or {}).items():
        if isinstance(feat, dict) and isinstance(feat.get("feature"), dict):
            feat = feat["feature"]
        if isinstance(feat, dict) and feat.get("_type") == "ClassLabel" and feat.get("names"):
            out[name] = tuple(map(str, feat["names"]))
    return out


def _read_parquet(path: Path) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path} is not a readable Parquet file ({msg}); write it with pandas.DataFrame.to_parquet or Dataset.to_parquet") from None
    class_names = {}
    meta = (schema.metadata or {}).get(b"huggingface")
    if meta:
        try:
            class_names = _hf_class_names(json.loads(meta).get("info", {}).get("features", {}))
        except (ValueError, AttributeError):
            class_names = {}

    def fetch(wanted: list[str]) -> dict[str, list]:
        try:
            table = pq.read_table(path, columns=wanted)
        except (pa.ArrowException, OSError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DataError(f"{path}: reading columns {_cols(wanted)} failed ({msg}); re-write the file") from None
        return {n: table.column(n).to_pylist() for n in wanted}

    names = list(schema.names)
    if pq.ParquetFile(path).metadata.num_rows == 0:
        raise DataError(f"{path} has no rows; add at least two labelled rows")
    return Table(str(path), names, fetch, lambda i: f"index {i}", class_names)


def is_datasets_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file())


def _read_datasets_folder(path: Path) -> list[tuple[str | None, Table]]:
    try:
        import datasets
        from datasets.utils import logging as hf_logging
    except ImportError:   # pragma: no cover - a dependency of this package
        raise DataError(f"{path} is a `datasets` folder but the datasets library is not installed; pip install datasets") from None
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as e:   # any library failure becomes one line
        msg = (str(e).splitlines() or [type(e).__name__])[0]
        raise DataError(f"{path} could not be read as a `datasets` folder ({_show(msg, 160)}); re-save it with save_to_disk") from None
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    parts = list(loaded.items()) if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    tables = []
    for split, ds in parts:
        class_names = {}
        for name, feat in ds.features.items():
            inner = getattr(feat, "feature", feat)
            if isinstance(inner, datasets.ClassLabel):
                class_names[name] = tuple(map(str, inner.names))

        def fetch(wanted: list[str], ds=ds, split=split) -> dict[str, list]:
            return ds.select_columns(wanted).to_dict()

        where = f"{path} [{split}]" if split else str(path)
        tables.append((split, Table(where, list(ds.column_names), fetch, lambda i: f"index {i}", class_names)))
    return tables


# ---------------------------------------------------------------------------------------------
# Files and folders

def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown file type {path.suffix or '(no extension)'!r}; use .csv, .tsv, .jsonl, .json or .parquet, "
                        f"a `datasets` save_to_disk folder, or a folder of train/validation/test files")
    return fmt


def read_file(path: Path, delimiter: str | None = None) -> list[tuple[str | None, Table]]:
    """(split or None, table) for each part of one file."""
    fmt = format_of(path)
    if fmt in ("csv", "tsv"):
        return [(None, _read_delimited(path, fmt, delimiter))]
    if fmt == "jsonl":
        return [(None, _read_jsonl(path))]
    if fmt == "json":
        return _read_json(path)
    return [(None, _read_parquet(path))]


def split_files(folder: Path) -> dict[str, list[Path]]:
    """{split: files} for a folder of train/validation/test files (also train-00000-of-00002.parquet shards,
    and sub-folders written by save_to_disk)."""
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        stem = p.name if p.is_dir() else p.name[: -len(p.suffix)] if p.suffix else p.name
        base = re.split(r"[-_.]", stem, maxsplit=1)[0].lower()
        if base not in SPLIT_NAMES or (p.is_file() and p.suffix.lower() not in FORMATS) or (p.is_dir() and not is_datasets_folder(p)):
            continue
        if stem.lower() != base and not re.fullmatch(rf"{base}[-_]\d+(-of-\d+)?", stem.lower()):
            continue
        found.setdefault(SPLIT_NAMES[base], []).append(p)
    return found


def read_source(path: Path, delimiter: str | None = None) -> tuple[str, list[tuple[str | None, Table]]]:
    """(format, [(split or None, table)]) for a file, a `datasets` folder or a folder of split files."""
    if not path.exists():
        raise DataError(f"data file {path} does not exist; give a .csv/.tsv/.jsonl/.json/.parquet file, a folder, or a built-in name")
    if is_datasets_folder(path):
        return "datasets", _read_datasets_folder(path)
    if path.is_dir():
        found = split_files(path)
        if "train" not in found:
            files = sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
            raise DataError(f"{path} is a folder without a train file (train.csv, train.tsv, train.jsonl, train.json or train.parquet) "
                            f"and is not a `datasets` save_to_disk folder; files found: {', '.join(files[:8]) or 'none'}")
        out = []
        for split, paths in found.items():
            for p in paths:
                parts = _read_datasets_folder(p) if p.is_dir() else read_file(p, delimiter)
                out += [(split, t) for _, t in parts]
        return "folder", out
    return format_of(path), read_file(path, delimiter)


# ---------------------------------------------------------------------------------------------
# Columns

def _match(names: list[str], wanted: str) -> str | None:
    """The column called `wanted`: exactly, else the one column equal ignoring case (two such are ambiguous)."""
    if wanted in names:
        return wanted
    hits = [n for n in names if n.strip().lower() == wanted]
    return hits[0] if len(hits) == 1 else None


def pick_columns(table: Table, text_column: str | None = None, text_pair_column: str | None = None,
                 label_column: str | None = None) -> tuple[str, str | None, str]:
    """(text, text pair or None, label) columns of a table: the ones named, else the recognised common names."""
    names, where = table.names, table.where
    found = f"(columns: {_cols(names)})"

    def need(col: str, flag: str) -> str:
        if col not in names:
            raise DataError(f"{where} has no column {col!r} {found}; pass {flag} with one of them")
        return col

    if text_column:
        text = need(text_column, "--text-column")
        pair = need(text_pair_column, "--text-pair-column") if text_pair_column else None
    elif text_pair_column:
        pair = need(text_pair_column, "--text-pair-column")
        firsts = [_match(names, a) for a, b in PAIR_NAMES if b == text_pair_column.lower() and _match(names, a)]
        singles = [c for c in (_match(names, n) for n in TEXT_NAMES) if c and c != pair]
        choice = firsts or singles
        if len(choice) != 1:
            raise DataError(f"{where}: cannot tell the first text column to pair with {pair!r} {found}; pass --text-column")
        text = choice[0]
    else:
        pairs = [(a, b) for a, b in ((_match(names, a), _match(names, b)) for a, b in PAIR_NAMES) if a and b]
        singles = [c for c in (_match(names, n) for n in TEXT_NAMES) if c]
        if len(pairs) > 1:
            raise DataError(f"{where}: text pairs {' and '.join(f'{a}+{b}' for a, b in pairs)} both fit {found}; "
                            f"pass --text-column and --text-pair-column")
        if pairs:
            text, pair = pairs[0]
            others = [s for s in singles if s not in (text, pair)]
            if others:
                raise DataError(f"{where}: both the pair {text}+{pair} and the text column {others[0]!r} fit {found}; "
                                f"pass --text-column (and --text-pair-column for pairs)")
        elif len(singles) == 1:
            text, pair = singles[0], None
        elif singles:
            raise DataError(f"{where}: columns {_cols(singles)} could each be the text {found}; pass --text-column")
        else:
            raise DataError(f"{where} has no column recognised as the text {found}; pass --text-column ({_RECOGNISED})")
    if label_column:
        label = need(label_column, "--label-column")
    else:
        labels = [c for c in (_match(names, n) for n in LABEL_NAMES) if c and c not in (text, pair)]
        if len(labels) > 1:
            raise DataError(f"{where}: columns {_cols(labels)} could each be the label {found}; pass --label-column")
        if not labels:
            raise DataError(f"{where} has no column recognised as the label {found}; pass --label-column "
                            f"(recognised: {'/'.join(LABEL_NAMES)})")
        label = labels[0]
    if label in (text, pair) or text == pair:
        raise DataError(f"{where}: the text, text pair and label columns must differ (got {text!r}, {pair!r}, {label!r})")
    return text, pair, label


# ---------------------------------------------------------------------------------------------
# Labels

class _Missing(Exception):
    pass


class _BadLabel(Exception):
    pass


def label_key(name: str):
    """Sort key of label names: integers numerically first, then other names by code point (locale-independent)."""
    return (0, int(name), "") if _INT.fullmatch(name) else (1, 0, name)


def _scalar_label(value) -> str:
    """One label value as a name: integers (and integral numbers, "2.0") become canonical "2"; empty/NaN is missing."""
    if value is None:
        raise _Missing
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise _Missing
        if not value.is_integer():
            raise _BadLabel(f"{value!r} is a number that is not an integer")
        return str(int(value))
    if isinstance(value, str):
        name = value.strip()
        if not name or name in ("nan", "NaN"):
            raise _Missing
        if _INT.fullmatch(name):
            return str(int(name))
        if _NUMBER.fullmatch(name):
            number = float(name)
            if not number.is_integer():
                raise _BadLabel(f"{name!r} is a number that is not an integer")
            return str(int(number))
        if "\n" in name or "\r" in name:
            raise _BadLabel(f"{_show(name)} spans lines")
        if len(name) > 1000:
            raise _BadLabel(f"{_show(name)} is {len(name):,} characters long")
        return name
    raise _BadLabel(f"{_show(value)} is a {type(value).__name__}, not a name or an integer")


def _labels_of(table: Table, values: list, rows: list[int], column: str, multi: bool, separator: str | None) -> list:
    """The label name (or tuple of names for multi-label data) of each row in `rows`; missing ones raise with their rows."""
    declared = table.class_names.get(column)
    out, missing = [], []
    for i in rows:
        value = values[i]
        try:
            if declared is not None:
                items = value if isinstance(value, list) else [value]
                names = []
                for v in items:
                    if v is None or v == -1:
                        raise _Missing
                    if not isinstance(v, int) or not 0 <= v < len(declared):
                        raise _BadLabel(f"{v!r} is not an index of its ClassLabel names {list(declared)}")
                    names.append(declared[v])
                out.append(tuple(sorted(set(names), key=declared.index)) if multi else names[0])
            elif multi:
                if value is None:
                    raise _Missing
                if isinstance(value, list):
                    items = value
                elif isinstance(value, str):
                    if not value.strip():
                        raise _Missing
                    items = [v for v in value.split(separator or DEFAULT_LABEL_SEPARATOR) if v.strip()]
                else:
                    items = [value]
                out.append(tuple(sorted({_scalar_label(v) for v in items}, key=label_key)))
            else:
                out.append(_scalar_label(value))
        except _Missing:
            missing.append(i)
            out.append(None)
        except _BadLabel as e:
            quote = "; an unclosed quote can swallow the following rows" if table.csv_like and "spans lines" in str(e) else ""
            raise DataError(f"{table.where}: {table.row(i)}: label {e} (column {column!r}); labels are class names or integers{quote}") from None
    if missing:
        raise DataError(f"{table.where}: empty {column!r} (no label, NaN{', or -1' if declared else ''}) on {_where_rows(table, missing)}; "
                        f"give every row with text a label, or drop those rows")
    return out


def _is_multi(tables_values: list[tuple[Table, list]], column: str, separator: str | None) -> bool:
    """Multi-label when a label value is a list (JSON/Parquet/`datasets`), or a string cell holds the separator."""
    sep = separator or DEFAULT_LABEL_SEPARATOR
    for _, values in tables_values:
        for v in values:
            if isinstance(v, list) or (isinstance(v, str) and sep in v):
                return True
    return separator is not None


# ---------------------------------------------------------------------------------------------
# Putting it together

def _texts_of(table: Table, values: list, column: str) -> list[str]:
    out = []
    for i, v in enumerate(values):
        if v is None:
            out.append("")
            continue
        if not isinstance(v, str):
            raise DataError(f"{table.where}: {table.row(i)}: column {column!r} holds {_show(v)} ({type(v).__name__}), not text; "
                            f"pass --text-column with a text column")
        if len(v) > MAX_FIELD_CHARS:
            quote = "; an unclosed quote can swallow the rows after it: check the quotes" if table.csv_like else ""
            raise DataError(f"{table.where}: {table.row(i)}: column {column!r} holds {len(v) / 1e6:.1f} million characters, over the "
                            f"{MAX_FIELD_CHARS:,} limit{quote}; shorten or drop that text")
        out.append(v.strip())
    return out


def read_labelled(path: str | Path, *, text_column: str | None = None, text_pair_column: str | None = None,
                  label_column: str | None = None, delimiter: str | None = None, label_separator: str | None = None,
                  label_names: Sequence[str] | None = None) -> LabelledData:
    """Read a file or folder of labelled text (any format above) into rows per split with label indices.

    Columns: the ones named, else the recognised names (TEXT_NAMES, PAIR_NAMES, LABEL_NAMES). Labels: names or integers;
    a list value (or a string with `label_separator`, default '|') makes the data multi-label. Label order: the data's
    ClassLabel names if it declares them, else `label_names` if given, else integers numerically then names sorted.

    >>> data = read_labelled("reviews.jsonl")               # doctest: +SKIP
    >>> data.label_names, list(data.splits)                 # doctest: +SKIP
    (('negative', 'neutral', 'positive'), ['all'])
    """
    path = Path(path)
    if label_separator is not None and not label_separator:
        raise DataError("the label separator must not be empty; e.g. --label-separator '|' or --label-separator ','")
    fmt, parts = read_source(path, delimiter)
    if not parts:
        raise DataError(f"{path} holds no data (no splits); save at least a train split")
    first = next((t for s, t in parts if s in (None, "train")), parts[0][1])
    text_col, pair_col, label_col = pick_columns(first, text_column, text_pair_column, label_column)
    fetched = []
    for split, table in parts:
        missing = [c for c in (text_col, pair_col, label_col) if c and c not in table.names]
        if missing:
            raise DataError(f"{table.where} has no column {_cols(missing)} (columns: {_cols(table.names)}), unlike {first.where}; "
                            f"give every split the same columns")
        fetched.append((split, table, table.fetch([c for c in (text_col, pair_col, label_col) if c])))
    declared = first.class_names.get(label_col)
    multi = _is_multi([(t, v[label_col]) for _, t, v in fetched], label_col, label_separator)
    per_split: dict[str, tuple[list, list | None, list]] = {}
    skipped = 0
    for split, table, values in fetched:
        texts = _texts_of(table, values[text_col], text_col)
        pairs = _texts_of(table, values[pair_col], pair_col) if pair_col else None
        keep = [i for i, t in enumerate(texts) if t and (pairs is None or pairs[i])]
        skipped += len(texts) - len(keep)
        labels = _labels_of(table, values[label_col], keep, label_col, multi, label_separator)
        key = SPLIT_NAMES.get(split, split) if split else ALL
        bucket = per_split.setdefault(key, ([], [] if pairs is not None else None, []))
        bucket[0].extend(texts[i] for i in keep)
        if pairs is not None:
            bucket[1].extend(pairs[i] for i in keep)
        bucket[2].extend(labels)
    if "train" in per_split:
        # other split names (e.g. a DatasetDict's "unsupervised") are left out
        per_split = {k: v for k, v in per_split.items() if k in ("train", "dev", "test")}
    elif len(per_split) == 1:
        per_split = {ALL: next(iter(per_split.values()))}   # one part, whatever its name: the seeded split applies
    else:
        raise DataError(f"{path} has splits {_cols(per_split)} but no 'train'; save the training split as 'train'")
    for key, (texts, _, _) in per_split.items():
        if not texts:
            what = f"split {key!r} of {path}" if key != ALL else str(path)
            raise DataError(f"{what} has no rows with text in column {text_col!r}" + (f" and {pair_col!r}" if pair_col else "")
                            + "; check --text-column")
    observed = {n for _, _, labels in per_split.values() for lab in labels for n in (lab if multi else (lab,))}
    names = tuple(declared or label_names or sorted(observed, key=label_key))
    unknown = sorted(observed - set(names), key=label_key)
    if unknown:
        what = "the data's ClassLabel names" if declared else "the label set"
        raise DataError(f"{path}: labels {unknown[:5]} are not in {what} {list(names)}; fix the rows or the label set")
    if len(observed) < 2:
        which = f"only one class ({next(iter(observed))!r})" if observed else "no labels"
        raise DataError(f"{path} has {which} in column {label_col!r}; a classifier needs at least two labels")
    index = {n: i for i, n in enumerate(names)}
    splits = {}
    for key in sorted(per_split, key=[ALL, "train", "dev", "test"].index):
        texts, pairs, labels = per_split[key]
        ids = [tuple(sorted(index[n] for n in lab)) for lab in labels] if multi else [index[lab] for lab in labels]
        splits[key] = Rows(texts, pairs, ids)
    return LabelledData(path, fmt, names, splits, text_col, pair_col, label_col, multi, bool(declared), skipped)
