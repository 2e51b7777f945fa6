"""PyTorch -> a .tflite that MediaPipe Tasks' TextClassifier runs on a raw string, on Android, iOS, web and Python.

MediaPipe's BERT model type reads three int32 (1, max_len) tensors that its metadata names ids / mask / segment_ids,
tokenizes with the WordPiece vocabulary or the sentencepiece model packed in the file, and reports one score per label from the labels file
packed in the file. So the model is wrapped to take `input_ids`, `attention_mask`, `token_type_ids` (int32, batch 1,
max_len) and return softmax probabilities (sigmoid for a multi-label classifier); a model without token types (the
recurrent students, DistilBERT) ignores the segment input but keeps it, because MediaPipe requires all three. The
metadata is written with MediaPipe's own writer (`metadata_writers.text_classifier.create_for_bert_model`).

What MediaPipe's preprocessor does, which decides which checkpoints fit (mediapipe/calculators/tensor/
bert_preprocessor_calculator.cc): ASCII-lowercases every text, tokenizes (WordPiece with "##", or sentencepiece),
looks the literal pieces "[CLS]" / "[SEP]" up around the pieces, truncation to max_len, pad id 0 (masked). So a
WordPiece or SentencePiece Unigram checkpoint with [CLS]/[SEP] that lowercases is accepted (uncased BERT, ALBERT);
BPE, cased vocabularies (XLM-R, DeBERTa-v2) and other special tokens (XLM-R's <s>/</s>) are refused. A Unigram
checkpoint's file carries the sentencepiece ModelProto the string-input ONNX's op gets (export.text_input
`sentencepiece_op_settings`: pieces in tokenizer.json id order, the normaliser as a charsmap), written with
`metadata_writer.SentencePieceTokenizer`. For WordPiece: MediaPipe does **not** strip accents nor
lowercase non-ASCII letters, while an uncased BERT normaliser does both: such texts ("café", "Ökonomie") tokenize
differently; the export measures how often that changes the answer (validation `agreement_vs_ids`) and records
`edgedistill.mediapipe.accents_differ`.

The Linux mediapipe 1.2.2 wheel lacks `mediapipe.tasks.cc.metadata.python._pywrap_metadata_version`, which the
writer's metadata.py imports for one function: the minimum metadata parser version a metadata buffer needs. When the
module is missing, `_ensure_metadata_version_module` registers a stand-in whose one function is a port of that
C++ (mediapipe/tasks/cc/metadata/metadata_version.cc: the largest schema version of the fields present);
tests/export/test_text_input.py checks its answers.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

from edgecore import ConfigError, OutputExistsError, UnsupportedError
from export.artifact import Artifact, TensorSpec, tool_versions

INPUTS = ("input_ids", "attention_mask", "token_type_ids")   # MediaPipe's roles ids, mask, segment_ids, in this order
SUFFIX = ".mediapipe.tflite"
TOOLS = ("torch", "litert-torch", "ai-edge-litert", "mediapipe")
SUPPORTED = ("lowercasing WordPiece or SentencePiece Unigram tokenizers with [CLS]/[SEP] (uncased BERT, MiniLM, ELECTRA, DistilBERT, "
             "ALBERT) and students of them")
_MISSING_MODULE = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"


def check_tokenizer(settings: dict) -> None:
    """Refuse, in one line, a tokenizer MediaPipe's BERT preprocessor would not reproduce."""
    def refuse(what: str) -> UnsupportedError:
        return UnsupportedError(f"{what}; MediaPipe's TextClassifier supports {SUPPORTED} (its BERT preprocessor lowercases ASCII, "
                                f"splits WordPiece or sentencepiece and writes literal [CLS]/[SEP])")

    if settings.get("model") not in ("WordPiece", "Unigram"):
        raise refuse(f"this checkpoint's tokenizer is {settings.get('model')}")
    if settings.get("template_single") != "[CLS] $A [SEP]":
        raise refuse(f"its single-text template is {settings.get('template_single')!r}, not '[CLS] $A [SEP]'")
    if not settings.get("lowercase"):
        raise refuse("its tokenizer is cased")
    if settings.get("truncation_side", "right") != "right" or (settings.get("truncation") or {}).get("strategy", "head") != "head":
        raise refuse("it truncates long texts other than from the right")
    if "pair_input_ids" in (settings.get("model_inputs") or ()):
        raise UnsupportedError("a siamese pair model takes two texts; MediaPipe's TextClassifier takes one (export the ids-input files)")


class MediaPipeClassifier(torch.nn.Module):
    """input_ids, attention_mask, token_type_ids (int32) in; per-label probabilities out."""

    def __init__(self, model: torch.nn.Module, takes_token_types: bool, multi_label: bool = False) -> None:
        super().__init__()
        self.model, self.takes_token_types, self.multi_label = model, takes_token_types, multi_label

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        feeds = {"input_ids": input_ids.long(), "attention_mask": attention_mask.long()}
        if self.takes_token_types:
            feeds["token_type_ids"] = token_type_ids.long()
        out = self.model(**feeds)
        logits = getattr(out, "logits", out).float()
        if not self.takes_token_types:   # keep the segment input in the graph (MediaPipe needs three inputs): adds 0
            logits = logits + token_type_ids[:, :1].float() * 0.0
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)


def to_mediapipe_tflite(model: torch.nn.Module, settings: dict, vocab_txt: str | Path, labels: tuple[str, ...], path: str | Path, *,
                        multi_label: bool = False, recurrent: str = "loop", metadata: dict[str, str] | None = None,
                        validate_with: list[tuple[str, dict]] | None = None, force: bool = False) -> Artifact:
    """Convert `model` to a fp32 .tflite with MediaPipe Tasks TextClassifier metadata at `path`, check it, return its Artifact.

    `vocab_txt`: the WordPiece vocab.txt, or for a Unigram checkpoint a sentencepiece `.model` file (the bytes of
    export.text_input.op_settings(spec, settings).model).
    `validate_with`: (text, ids feeds of that text) pairs; the file is run by LiteRT on the ids (the conversion) and by
    MediaPipe's TextClassifier on the text (conversion + MediaPipe's tokenizer), both against PyTorch's probabilities.

    >>> art = to_mediapipe_tflite(student, asdict(encoder.settings), "bundle/vocab.txt", ("negative", "positive"),
    ...                           "model.fp32.mediapipe.tflite", validate_with=[(t, encoder.encode_np([t])) for t in texts])  # doctest: +SKIP
    >>> art.validation["agreement_vs_ids"] >= 0.999                                                                # doctest: +SKIP
    True
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass force=True (--force) to replace it")
    check_tokenizer(settings)
    if Path(vocab_txt).suffix == ".model":   # a Unigram checkpoint: the sentencepiece ModelProto (export.text_input)
        found = _sentencepiece_ids(vocab_txt, ("[CLS]", "[SEP]"))
    else:
        vocab = Path(vocab_txt).read_text(encoding="utf-8").splitlines()
        for token in ("[CLS]", "[SEP]", "[UNK]"):
            if token not in vocab:
                raise UnsupportedError(f"{vocab_txt} has no {token}; MediaPipe's BERT preprocessor needs [CLS], [SEP] and [UNK]")
        found = (vocab.index("[CLS]"), vocab.index("[SEP]"))
    if found != (settings.get("cls_id"), settings.get("sep_id")):
        raise ConfigError(f"{vocab_txt} puts [CLS]/[SEP] at ids {found[0]}/{found[1]}, the tokenizer at "
                          f"{settings.get('cls_id')}/{settings.get('sep_id')}; rebuild it from tokenizer.json")
    max_len = int(settings["max_len"])
    takes_types = "token_type_ids" in (settings.get("model_inputs") or ())
    wrapper = MediaPipeClassifier(model.eval(), takes_types, multi_label).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        t0 = time.perf_counter()
        raw = work / "raw.tflite"
        route = _convert(wrapper, max_len, raw, recurrent)
        convert_s = time.perf_counter() - t0
        names = _input_tensor_names(raw)
        tools = tool_versions(*TOOLS)
        meta = {**(metadata or {}), "edgedistill.precision": "fp32", "edgedistill.input": "text", "edgedistill.runtime": "mediapipe-tasks",
                "edgedistill.outputs": "sigmoid" if multi_label else "softmax",
                "edgedistill.mediapipe.accents_differ": str(bool(settings.get("lowercase")) and settings.get("model") == "WordPiece").lower(),
                "edgedistill.tflite.recurrent": route["route"], "edgedistill.tflite.while_loops": str(route.get("while_loops", 0)),
                **{f"tool.{k}": v for k, v in tools.items()}}
        from export._tflite import flatbuffer

        tmp = work / "model.tflite"   # ours first: MediaPipe packs its vocab and labels as a zip after the flatbuffer
        tmp.write_bytes(write_metadata(flatbuffer.set_metadata(raw.read_bytes(), meta), vocab_txt, labels, names))
        validation = {"convert_seconds": round(convert_s, 2), "seq_len": max_len, "tensor_names": names, "recurrent": route,
                      **compare(wrapper, tmp, validate_with or [], labels)}
        os.replace(tmp, path)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    width = len(labels)
    inputs = [TensorSpec(n, "int32", (1, max_len)) for n in INPUTS]
    return Artifact.for_file(path, "tflite", "fp32", inputs, [TensorSpec("probabilities", "float32", (1, width))], tools, meta, validation)


def _convert(wrapper: torch.nn.Module, max_len: int, out: Path, recurrent: str) -> dict:
    """export.tflite's conversion at one bucket (max_len): its recurrent lowering (the WHILE loop by default) and its
    gather rewrites apply, so the file runs the ops the ids-input .tflite runs. Returns the recurrent route used."""
    from export.tflite import TFLiteConfig
    from export.tflite import _convert as convert_buckets

    sample = {"input_ids": torch.ones(1, max_len, dtype=torch.long), "attention_mask": torch.ones(1, max_len, dtype=torch.long),
              "token_type_ids": torch.zeros(1, max_len, dtype=torch.long)}
    return convert_buckets(wrapper, sample, INPUTS, TFLiteConfig(buckets=(max_len,), recurrent=recurrent), out)


def _input_tensor_names(path: Path) -> dict[str, str]:
    """{our input name: the tensor name in the file} (litert-torch writes serving_default_<name>:0 or similar)."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(path)).get_input_details()
    found = {}
    for name in INPUTS:
        match = [d["name"] for d in details if name in d["name"]]
        if len(match) != 1:
            raise UnsupportedError(f"the converted file's inputs are {[d['name'] for d in details]}; expected one tensor per "
                                   f"{', '.join(INPUTS)} (did the converter drop an unused input?)")
        found[name] = match[0]
    return found


def _sentencepiece_ids(model_file: str | Path, pieces: tuple[str, ...]) -> tuple[int, ...]:
    """The ids of `pieces` in a sentencepiece model file (what MediaPipe's LookupId gives), refusing a missing one."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    ids = tuple(sp.piece_to_id(p) for p in pieces)
    for piece, i in zip(pieces, ids):
        if sp.id_to_piece(i) != piece:
            raise UnsupportedError(f"{model_file} has no {piece} piece; MediaPipe's BERT preprocessor writes literal [CLS] and [SEP]")
    return ids


def write_metadata(model_bytes: bytes, vocab_txt: str | Path, labels: tuple[str, ...], names: dict[str, str]) -> bytes:
    """The .tflite with MediaPipe TextClassifier metadata: BERT tokenizer + vocab.txt (or the SentencePiece tokenizer + its
    .model file), the three input roles, the labels."""
    _ensure_metadata_version_module()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, text_classifier

    tokenizer = (metadata_writer.SentencePieceTokenizer(str(vocab_txt)) if Path(vocab_txt).suffix == ".model"
                 else metadata_writer.BertTokenizer(str(vocab_txt)))
    writer = text_classifier.MetadataWriter.create_for_bert_model(
        bytearray(model_bytes), tokenizer, metadata_writer.Labels().add(list(labels)),
        ids_name=names["input_ids"], mask_name=names["attention_mask"], segment_name=names["token_type_ids"])
    try:
        tflite, _ = writer.populate()
    finally:   # the writer's __del__ removes its temp folder, and fails when run at interpreter exit: let it run now
        import gc

        del writer
        gc.collect()
    return bytes(tflite)


def run_ids(path: str | Path, batches: list[dict[str, np.ndarray]]) -> np.ndarray:
    """The file's probabilities on our tokenizer's ids (LiteRT Interpreter, batch 1 each, right-padded to the file's length)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    details = {d["name"]: d for d in interpreter.get_input_details()}
    by_role = {name: next(d for n, d in details.items() if name in n) for name in INPUTS}
    length = int(by_role["input_ids"]["shape"][1])
    out_index = interpreter.get_output_details()[0]["index"]
    rows = []
    for feeds in batches:
        ids, mask = np.asarray(feeds["input_ids"]), np.asarray(feeds["attention_mask"])
        types_ = np.asarray(feeds.get("token_type_ids", np.zeros_like(ids)))
        for b in range(ids.shape[0]):
            for name, src in zip(INPUTS, (ids, mask, types_)):
                row = np.zeros((1, length), np.int32)
                cut = src[b, :length]
                row[0, : len(cut)] = cut
                interpreter.set_tensor(by_role[name]["index"], row)
            interpreter.invoke()
            rows.append(interpreter.get_tensor(out_index)[0].astype(np.float32))
    return np.stack(rows)


def compare(wrapper: torch.nn.Module, path: Path, pairs: list[tuple[str, dict]], labels: tuple[str, ...]) -> dict:
    """PyTorch's probabilities on our ids against (a) the file in LiteRT on the same ids and (b) MediaPipe's TextClassifier
    on the raw text (its own tokenizer). No raising here: parity decides."""
    if not pairs:
        return {"sentences": 0}
    from edge_runtime.text_runner import MediaPipeTextRunner, text_feeds

    rows = [[np.asarray(f.get(k, np.zeros_like(f["input_ids"])))[b] for k in ("input_ids", "attention_mask", "token_type_ids")]
            for _, f in pairs for b in range(np.asarray(f["input_ids"]).shape[0])]
    ref = []
    for start in range(0, len(rows), 32):   # the PyTorch reference in padded batches (padding is masked)
        chunk = rows[start:start + 32]
        width = max(len(r[0]) for r in chunk)
        args = [torch.zeros(len(chunk), width, dtype=torch.int32) for _ in range(3)]
        for i, r in enumerate(chunk):
            for a, v in zip(args, r):
                a[i, : len(v)] = torch.as_tensor(v)
        with torch.no_grad():
            ref.append(wrapper(*args).numpy())
    ref, lite = np.concatenate(ref), run_ids(path, [feeds for _, feeds in pairs])
    runner = MediaPipeTextRunner(path, labels=list(labels))
    try:
        mp = runner(text_feeds([t for t, _ in pairs]))
    finally:
        runner.close()
    return {"sentences": len(pairs), "max_abs_prob_diff_litert": float(np.abs(lite - ref).max()),
            "agreement_litert": float((lite.argmax(1) == ref.argmax(1)).mean()),
            "max_abs_prob_diff_vs_ids": float(np.abs(mp - ref).max()), "agreement_vs_ids": float((mp.argmax(1) == ref.argmax(1)).mean()),
            "rows_differing_vs_ids": int((np.abs(mp - ref).max(axis=1) > 1e-4).sum())}


# ---- the stand-in for the C++ module the Linux wheel lacks ----------------------------------------------------

def minimum_parser_version(buffer: bytes) -> str:
    """The smallest metadata parser version that reads `buffer` (a ModelMetadata flatbuffer): a port of MediaPipe's
    GetMinimumMetadataParserVersion (mediapipe/tasks/cc/metadata/metadata_version.cc), field by field."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    if not fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0):
        raise ValueError("The model metadata is not a valid FlatBuffer buffer (no M001 identifier).")
    version = (1, 0, 0)

    def bump(v: tuple[int, int, int]) -> None:
        nonlocal version
        version = max(version, v)

    def files(owner, count_name: str = "AssociatedFilesLength", get: str = "AssociatedFiles") -> None:
        for i in range(getattr(owner, count_name)()):
            f = getattr(owner, get)(i)
            if f.Type() == fb.AssociatedFileType.VOCABULARY:
                bump((1, 0, 1))
            if f.Type() == fb.AssociatedFileType.SCANN_INDEX_FILE:
                bump((1, 4, 0))
            if f.Version() is not None:
                bump((1, 4, 1))

    def unit(u) -> None:
        kind = u.OptionsType()
        if kind in (fb.ProcessUnitOptions.BertTokenizerOptions, fb.ProcessUnitOptions.SentencePieceTokenizerOptions):
            bump((1, 1, 0))
        if kind == fb.ProcessUnitOptions.RegexTokenizerOptions:
            bump((1, 2, 1))

    def tensor(t) -> None:
        files(t)
        for i in range(t.ProcessUnitsLength()):
            unit(t.ProcessUnits(i))
        content = t.Content()
        if content is not None and content.ContentPropertiesType() == fb.ContentProperties.AudioProperties:
            bump((1, 3, 0))

    root = fb.ModelMetadata.GetRootAsModelMetadata(buffer, 0)
    for s in range(root.SubgraphMetadataLength()):
        sub = root.SubgraphMetadata(s)
        for i in range(sub.InputTensorMetadataLength()):
            tensor(sub.InputTensorMetadata(i))
        for i in range(sub.OutputTensorMetadataLength()):
            tensor(sub.OutputTensorMetadata(i))
        files(sub)
        for present, count, get in (("InputProcessUnitsIsNone", "InputProcessUnitsLength", "InputProcessUnits"),
                                    ("OutputProcessUnitsIsNone", "OutputProcessUnitsLength", "OutputProcessUnits")):
            if not getattr(sub, present)():
                bump((1, 1, 0))
                for i in range(getattr(sub, count)()):
                    unit(getattr(sub, get)(i))
        if not sub.InputTensorGroupsIsNone() or not sub.OutputTensorGroupsIsNone():
            bump((1, 2, 0))
        if not sub.CustomMetadataIsNone():
            bump((1, 5, 0))
    files(root)
    return ".".join(map(str, version))


def _ensure_metadata_version_module() -> None:
    """Make `from mediapipe.tasks.cc.metadata.python import _pywrap_metadata_version` work when the wheel lacks it,
    with `minimum_parser_version` as its GetMinimumMetadataParserVersion. Nothing is registered if the real one imports."""
    import importlib

    try:
        importlib.import_module(_MISSING_MODULE)
        return
    except ImportError:
        pass
    parts = _MISSING_MODULE.split(".")
    parent = importlib.import_module(".".join(parts[:2]))   # mediapipe.tasks exists
    for depth in range(3, len(parts) + 1):   # mediapipe.tasks exists; stand in for .cc, .cc.metadata, ... below it
        name = ".".join(parts[:depth])
        module = sys.modules.get(name)
        if module is None:
            try:
                module = importlib.import_module(name)
            except ImportError:
                module = types.ModuleType(name, "stand-in registered by edgedistill's export.mediapipe (the wheel lacks it)")
                if depth < len(parts):
                    module.__path__ = []
                sys.modules[name] = module
        setattr(parent, parts[depth - 1], module)
        parent = module
    parent.GetMinimumMetadataParserVersion = minimum_parser_version
