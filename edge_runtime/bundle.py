"""Read a bundle folder (or .zip): verify every file against manifest.json, tokenize like the app will."""
from __future__ import annotations

import json
import lzma
import shutil
import stat
import tempfile
import weakref
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from edgecore import IntegrityError, UnsupportedError, sha256_file
from edgecore.tokenizer import pad_ids, pad_pair_ids  # the one padding the students and the bundle reader share

FORMAT = "edgedistill-bundle"
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_BYTES = 8 * 2**30     # a Transformer bundle with every format and precision is a few hundred MB
MAX_ZIP_RATIO = 200           # model files and tokenizers compress 1-5x; a member that expands 200x is a zip bomb


@dataclass
class Bundle:
    """A bundle folder (or .zip) read back: its manifest, its model files, labels, and the tokenizer an app uses.

    A .zip is extracted into a temporary folder that the Bundle owns: it is removed when the Bundle is garbage
    collected, on `close()` / leaving a `with` block, or at the latest when the process exits. Keep the Bundle (or the
    runner `runners.load` returns, which keeps it) while its files are used.

    >>> bundle = Bundle.open("runs/demo/bundle")                          # doctest: +SKIP
    >>> bundle.labels, bundle.model_path("int8", "onnx").name             # doctest: +SKIP
    (['negative', 'positive'], 'bilstm.int8.onnx')
    """
    root: Path
    manifest: dict
    source: Path | None = None    # what was opened: the folder, or the .zip that `root` was extracted from
    _cleanup: weakref.finalize | None = field(default=None, repr=False, compare=False)

    @property
    def temporary(self) -> bool:
        """True when `root` is an extracted copy of a .zip that is removed with this Bundle."""
        return self._cleanup is not None

    def close(self) -> None:
        """Remove the extracted copy of a .zip now (nothing for a folder); the Bundle's files are gone afterwards."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> Bundle:
        """Open a bundle folder or zip. With `verify`, every file's sha256 and size must match the manifest.

        >>> bundle = Bundle.open("runs/demo/bundle")  # doctest: +SKIP
        >>> bundle.encode(["a fine film"])["input_ids"].shape  # doctest: +SKIP
        (1, 5)
        """
        source = path = Path(path)
        temp = None
        if path.suffix == ".zip" and path.is_file():
            path, temp = _extract(path)
        try:
            bundle = cls._open(path, source, verify, temp)
        except BaseException:
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)
            raise
        return bundle

    @classmethod
    def _open(cls, path: Path, source: Path, verify: bool, temp: Path | None) -> Bundle:
        manifest_path = path / "manifest.json"
        if not manifest_path.is_file():
            raise UnsupportedError(f"{source} is not a bundle (no manifest.json); give a folder written by `edgedistill export` or the demo")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise IntegrityError(f"{manifest_path} is not valid JSON ({e}); re-export the bundle") from None
        if not isinstance(manifest, dict):
            kind = {"str": "string", "list": "array", "int": "number", "float": "number", "bool": "boolean"}.get(
                type(manifest).__name__, "null")
            raise UnsupportedError(f"{manifest_path} holds a JSON {kind}, not a bundle manifest (an object with "
                                   f"\"format\": {FORMAT!r}); give a bundle written by `edgedistill export`, or re-export it")
        if manifest.get("format") != FORMAT:
            raise UnsupportedError(f"{manifest_path} has format {manifest.get('format')!r}, expected {FORMAT!r}; give a bundle written "
                                   f"by `edgedistill export`, or re-export it")
        bundle = cls(path, manifest, source)
        bundle.check_manifest()
        if verify:
            bundle.verify()
        if temp is not None:   # only now: until the bundle is returned, open() removes the folder itself
            bundle._cleanup = weakref.finalize(bundle, shutil.rmtree, str(temp), ignore_errors=True)
        return bundle

    def check_manifest(self) -> None:
        """The manifest is untrusted input: its shape must match the schema, every path it names must stay inside
        the bundle (no '..', no absolute path, no symlink out), every model file must be hash-listed, and each
        model's output width must equal the number of labels. Raises IntegrityError naming the first problem."""
        from edge_runtime.schema import SchemaError, validate

        def entries(key: str) -> list:   # any JSON value may stand here: the schema check below names a wrong type
            value = self.manifest.get(key)
            return value if isinstance(value, list) else []

        named = [e.get("path") for e in entries("files") if isinstance(e, dict)]
        named += [e.get("file") for e in entries("models") if isinstance(e, dict)]
        for relative in (n for n in named if isinstance(n, str)):
            pure = PurePosixPath(relative.replace("\\", "/"))
            if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
                raise IntegrityError(f"manifest entry {relative!r} points outside the bundle {self.root}; refusing it")
        try:
            validate(self.manifest, "manifest")
        except SchemaError as e:
            raise IntegrityError(f"{self.root / 'manifest.json'} is malformed: {e}; re-export the bundle") from None
        listed = [entry["path"] for entry in self.manifest["files"]]
        for path in listed:
            self.resolve(path)
        for entry in self.manifest["models"]:
            self.resolve(entry["file"])
            name = entry["file"].rstrip("/")
            if name not in listed and not any(p.startswith(name + "/") for p in listed):
                raise IntegrityError(f"model {name!r} is not in the manifest's files list, so its sha256 cannot be checked; re-export the bundle")
            for out in entry.get("outputs", []):
                width = out["shape"][-1] if out["shape"] else None
                if isinstance(width, int) and width != len(self.labels):
                    raise IntegrityError(f"model {name!r} outputs {width} logits but the manifest has {len(self.labels)} labels; "
                                         f"re-export the bundle")
        self._check_task()

    def _check_task(self) -> None:
        """The task fields the schema cannot tie together: a multi-label bundle has one threshold per label, each a
        finite number in [0, 1] (the schema lets NaN through), and only a multi-label bundle has thresholds; a siamese
        pair bundle reads pairs and its models take the pair inputs, and only a siamese bundle's models do."""
        from edgecore import ConfigError
        from edgecore.multilabel import MULTI_LABEL, check_thresholds

        task, where = self.manifest.get("task") or {}, self.root / "manifest.json"
        if task.get("problem_type") == MULTI_LABEL:
            if "thresholds" not in task:
                raise IntegrityError(f"{where} says multi_label_classification but has no task.thresholds (one per label); re-export the bundle")
            try:
                check_thresholds(task["thresholds"], len(self.labels), f"{where} task.thresholds")
            except ConfigError as e:
                raise IntegrityError(f"{e}; re-export the bundle") from None
        elif "thresholds" in task:
            raise IntegrityError(f"{where} has task.thresholds but is not multi_label_classification (task.problem_type "
                                 f"{task.get('problem_type', 'single_label_classification')!r}); re-export the bundle")
        siamese = task.get("pair_encoding") == "siamese"
        if siamese and "text_pair" not in (task.get("inputs") or []):
            raise IntegrityError(f"{where} says pair_encoding siamese but task.inputs has no text_pair; re-export the bundle")
        for entry in self.manifest["models"]:
            takes = {spec["name"] for spec in entry.get("inputs", [])}
            if takes and siamese != ("pair_input_ids" in takes):
                what = "takes no pair_input_ids" if siamese else "takes pair_input_ids"
                raise IntegrityError(f"model {entry['file']!r} {what} but the manifest's task.pair_encoding is "
                                     f"{task.get('pair_encoding', 'absent')!r}; re-export the bundle")

    def resolve(self, relative: str) -> Path:
        """The absolute path of a file the manifest names, refused if it resolves (symlinks followed) outside the bundle."""
        root = self.root.resolve()
        file = (root / relative).resolve()
        if file != root and root not in file.parents:
            raise IntegrityError(f"manifest entry {relative!r} points outside the bundle {self.root}; refusing it")
        return file

    def verify(self) -> None:
        """Raise IntegrityError naming the first file that is missing, resized or modified since export."""
        for entry in self.manifest.get("files", []):
            file = self.resolve(entry["path"])
            if not file.is_file():
                raise IntegrityError(f"{entry['path']} is listed in manifest.json but missing from {self.root}; re-export the bundle")
            if file.stat().st_size != entry["size"] or sha256_file(file) != entry["sha256"]:
                raise IntegrityError(f"{entry['path']} in {self.root} was modified after export (sha256 mismatch); re-export the bundle")

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def max_len(self) -> int:
        return int(self.manifest["tokenizer"]["max_len"])

    def model_entry(self, precision: str | None = None, fmt: str | None = None) -> dict:
        models = self.manifest["models"]
        for entry in models:
            if (precision is None or entry["precision"] == precision) and (fmt is None or entry["format"] == fmt):
                if precision or fmt or entry.get("default"):
                    return entry
        if precision is None and fmt is None and models:
            return models[0]
        have = ", ".join(f"{m['format']}/{m['precision']}" for m in models)
        raise UnsupportedError(f"bundle {self.root} has no {fmt or 'any format'}/{precision or 'any precision'} model; it has {have}")

    def model_path(self, precision: str | None = None, fmt: str | None = None) -> Path:
        """The model file of the (precision, format) entry, checked to lie inside the bundle."""
        return self.resolve(self.model_entry(precision, fmt)["file"])

    @property
    def truncation(self):
        """Which content tokens a long text keeps (manifest tokenizer.truncation; absent: head, or tail for a
        left-truncating tokenizer), an edgecore.longtext.Truncation."""
        from edgecore.longtext import Truncation

        settings = self.manifest["tokenizer"]
        if "truncation" not in settings:
            return Truncation("tail" if settings.get("truncation_side") == "left" else "head")
        record = settings["truncation"]
        return Truncation(record["strategy"], record.get("head") if record["strategy"] == "head_tail" else None)

    @property
    def long_text(self):
        """How a document longer than the model is read (manifest task.long_text; absent: truncate), an edgecore.longtext.LongText."""
        from edgecore.longtext import LongText

        return LongText.from_dict((self.manifest.get("task") or {}).get("long_text"))

    @property
    def template(self):
        """The single-text template's special tokens, from the bundle's tokenizer.json (edgecore.longtext.Template)."""
        if getattr(self, "_template", None) is None:
            from edgecore.longtext import template_of

            self._template = template_of(json.loads(self.resolve("tokenizer.json").read_text(encoding="utf-8")))
        return self._template

    @property
    def content_len(self) -> int:
        return self.template.content_len(self.max_len)

    def tokenizer(self):
        """The bundle's tokenizer as `encode` and `windows` take it: the tokenizer's own truncation where it gives the
        tokens needed (head, or tail on a left-truncating tokenizer, without windows), else none (content ids whole)."""
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.resolve("tokenizer.json")))
        tok.no_padding()
        side = self.manifest["tokenizer"].get("truncation_side", "right")
        if self.truncation.strategy == ("tail" if side == "left" else "head") and not self.long_text.windows:
            tok.enable_truncation(self.max_len, direction="left" if side == "left" else "right")
        else:
            tok.no_truncation()
        return tok

    @property
    def siamese(self) -> bool:
        """Whether the models read a sentence pair as two single texts (manifest task.pair_encoding "siamese")."""
        return (self.manifest.get("task") or {}).get("pair_encoding") == "siamese"

    def encode(self, texts: list[str], pad_to: int | None = None, tokenizer=None) -> dict[str, np.ndarray]:
        """int64 input_ids / attention_mask (B, T), right-padded with the tokenizer's pad id to the longest text or to
        `pad_to`, and token_type_ids when the bundle's models take them (manifest tokenizer.model_inputs).

        A (text, text_pair) row is encoded with the tokenizer's pair template, or, in a siamese bundle (manifest
        task.pair_encoding "siamese"), as two single texts: input_ids / attention_mask of the text and
        pair_input_ids / pair_attention_mask of the text pair, both padded to one width (a single text reads as (text, text))."""
        tok = tokenizer or self.tokenizer()
        settings = self.manifest["tokenizer"]
        pad_id = int(settings.get("pad_id", 0))
        if self.siamese:
            sides = [t if isinstance(t, tuple) else (t, t) for t in texts]
            first, second = self._singles(tok, [a for a, _ in sides]), self._singles(tok, [b for _, b in sides])
            return pad_pair_ids([ids for ids, _ in first], [ids for ids, _ in second], pad_id, pad_to)
        takes_types = "token_type_ids" in settings.get("model_inputs", ())
        if any(isinstance(t, tuple) for t in texts):   # a pair read as one sequence: the tokenizer's pair template, longest-first
            if tok.truncation is None:   # a copy: the caller's tokenizer stays as it was
                from tokenizers import Tokenizer

                tok = Tokenizer.from_str(tok.to_str())
                tok.enable_truncation(self.max_len, direction="left" if settings.get("truncation_side") == "left" else "right")
            encodings = tok.encode_batch(list(texts))
            return pad_ids([e.ids for e in encodings], pad_id, pad_to, [e.type_ids for e in encodings] if takes_types else None)
        rows = self._singles(tok, list(texts))
        return pad_ids([ids for ids, _ in rows], pad_id, pad_to, [types for _, types in rows] if takes_types else None)

    def _singles(self, tok, texts: list[str]) -> list[tuple[list[int], list[int]]]:
        """(ids, token types) per single text: content ids (no special tokens) cut by the manifest's truncation, then
        wrapped with the template: what distill.text.Encoder gives for the same text (an empty text: the specials alone)."""
        from edgecore.longtext import cut

        truncation, keep = self.truncation, self.content_len
        return [self.template.wrap(cut(e.ids, keep, truncation)) for e in tok.encode_batch(texts, add_special_tokens=False)]

    def windows(self, texts: list[str], tokenizer=None, pad_to: int | None = None) -> tuple[dict[str, np.ndarray], list[int]]:
        """(feeds, owners): every text read as windows of content tokens by the manifest's task.long_text (stride, at most
        max_windows of them, edgecore.longtext.windows), each wrapped with the template, all padded into one batch;
        owners[i] is the index of the text that row i reads. Single texts only."""
        from edgecore import ConfigError
        from edgecore.longtext import windows

        if self.siamese or any(isinstance(t, tuple) for t in texts):
            raise ConfigError("long_text windows read single texts; a sentence-pair bundle is read with truncation")
        tok = tokenizer or self.tokenizer()
        if tok.truncation is not None:
            raise ConfigError("windows need the whole text: pass the tokenizer bundle.tokenizer() gives for a windows bundle, or none")
        policy, size = self.long_text, self.content_len
        stride = policy.stride_tokens(size)
        rows, owners = [], []
        for i, e in enumerate(tok.encode_batch(list(texts), add_special_tokens=False)):
            for part in windows(e.ids, size, stride, policy.max_windows):
                rows.append(self.template.wrap(part))
                owners.append(i)
        settings = self.manifest["tokenizer"]
        types = [t for _, t in rows] if "token_type_ids" in settings.get("model_inputs", ()) else None
        return pad_ids([ids for ids, _ in rows], int(settings.get("pad_id", 0)), pad_to, types), owners

    def logits(self, runner, texts: list, tokenizer=None, batch_size: int = 32) -> np.ndarray:
        """(N, C) float32 logits of `texts` through `runner` the way the manifest says an app reads them: one sequence per
        text (truncated), or, for a windows bundle, each text's windows run in batches and aggregated (task.long_text)."""
        from edgecore.longtext import aggregate_rows
        from edgecore.multilabel import MULTI_LABEL

        tok = tokenizer or self.tokenizer()
        policy = self.long_text
        if not policy.windows:   # length-sorted batches (little padding), as edge_runtime.runners.logits_for_texts runs them
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]) if isinstance(texts[i], str) else sum(map(len, texts[i])))
            rows: list = [None] * len(texts)
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                for i, row in zip(chunk, runner(self.encode([texts[i] for i in chunk], tokenizer=tok))):
                    rows[i] = row
            return np.stack(rows).astype(np.float32) if rows else np.zeros((0, len(self.labels)), np.float32)
        out = []
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start:start + batch_size])
            feeds, owners = self.windows(chunk, tok)
            rows = np.concatenate([np.asarray(runner({k: v[i:i + batch_size] for k, v in feeds.items()}))
                                   for i in range(0, len(owners), batch_size)])
            multi = (self.manifest.get("task") or {}).get("problem_type") == MULTI_LABEL
            out.append(aggregate_rows(rows, owners, len(chunk), policy.aggregate, multi))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(self.labels)), np.float32)


def extract_zip(path: Path) -> Path:
    """Extract a bundle zip into a fresh temp folder (edgedistill-bundle-*), refusing any member that would land outside
    it; returns the bundle folder in it. The caller owns the temp folder and removes it: `Bundle.open` does that."""
    return _extract(path)[0]


#: what extracting a damaged archive raises besides BadZipFile (a CRC mismatch): a broken deflate / lzma / bzip2
#: stream, a truncated member, a compression method or flag (encryption) that a flipped bit made up
_UNPACK_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, NotImplementedError, RuntimeError, ValueError)


def _extract(path: Path) -> tuple[Path, Path]:
    """(the bundle folder, the temp folder to remove when done)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise IntegrityError(f"{path} is not a readable zip ({_first_line(e)}); give the bundle folder or re-export with --zip") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise IntegrityError(f"{path} holds {len(infos)} members (at most {MAX_ZIP_MEMBERS} in a bundle); refusing the archive")
        total = sum(i.file_size for i in infos)
        if total > MAX_ZIP_BYTES:
            raise IntegrityError(f"{path} unpacks to {total / 2**30:.1f} GiB (at most {MAX_ZIP_BYTES / 2**30:.0f} GiB); refusing the archive")
        for info in infos:
            name = PurePosixPath(info.filename)
            drive = bool(name.parts) and ":" in name.parts[0]
            if name.is_absolute() or ".." in name.parts or "\\" in info.filename or drive:
                raise IntegrityError(f"{path} holds {info.filename!r}, a path that escapes its folder; refusing the archive")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise IntegrityError(f"{path} holds {info.filename!r}, a symbolic link; bundles hold plain files only")
            if info.file_size > 2**20 and info.file_size > MAX_ZIP_RATIO * max(1, info.compress_size):
                raise IntegrityError(f"{path} member {info.filename!r} expands {info.file_size // max(1, info.compress_size)}x "
                                     f"(a zip bomb?); refusing the archive")
        out = Path(tempfile.mkdtemp(prefix="edgedistill-bundle-"))
        try:
            zf.extractall(out)
            folders = [p for p in out.iterdir() if p.is_dir()]
        except _UNPACK_ERRORS as e:
            shutil.rmtree(out, ignore_errors=True)
            raise IntegrityError(f"{path} could not be unpacked ({type(e).__name__}: {_first_line(e)}); the zip is damaged: "
                                 f"re-export the bundle (edgedistill export --zip) or give the bundle folder") from None
        except BaseException:   # Ctrl-C, SIGTERM: nothing half-extracted is left behind
            shutil.rmtree(out, ignore_errors=True)
            raise
    root = folders[0] if len(folders) == 1 and not (out / "manifest.json").exists() else out
    return root, out


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
