"""String in, logits out: an ids-input ONNX file with an onnxruntime-extensions tokenizer op merged in front.

The tokenizer op is chosen from the checkpoint's tokenizer family and must be in onnxruntime-extensions' prebuilt
Android and iOS packages, so the file runs on a phone as it runs here:

  WordPiece (BERT, DistilBERT, ELECTRA, MiniLM, MPNet)  -> `BertTokenizer` (domain ai.onnx.contrib)
  BPE (RoBERTa, ModernBERT, GPT-2 style)                  -> refused: the mobile packages carry no BPE op
  Unigram (XLM-R, ALBERT, DeBERTa-v2)                     -> refused for now (SentencepieceTokenizer needs the
                                                              sentencepiece model file and a matching normaliser)

The op is set from the pipeline transformers runs for the checkpoint (edgecore.tokenizer): lowercasing, accent
stripping, the [CLS]/[SEP] tokens of the single-text template, the unknown token, the subword prefix and max_len
(the op truncates the word pieces to max_len - 2, as the Python tokenizer does). The file takes one string per
call, `text` of shape [1] (the op reads two strings as a sentence pair, so a batch is refused by the declared
shape), and returns `logits` (1, C), plus `probabilities` when asked. onnxruntime loads it with the extensions
library registered (edge_runtime.text_runner); file name `*.text.onnx`.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgecore import ConfigError, OutputExistsError, UnsupportedError
from export.artifact import Artifact, TensorSpec, tool_versions

#: what a string-input file can hold today, named in every refusal
SUPPORTED = "WordPiece tokenizers (BERT, DistilBERT, ELECTRA, MiniLM, MPNet) through onnxruntime-extensions' BertTokenizer op"
CONTRIB = "ai.onnx.contrib"
TEXT_INPUT = "text"
SUFFIX = ".text.onnx"


@dataclass(frozen=True)
class BertOpSettings:
    """The BertTokenizer op's attributes for one checkpoint, and what they were read from."""
    vocab: tuple[str, ...]     # tokens in id order
    lowercase: bool
    strip_accents: bool
    cls_token: str
    sep_token: str
    unk_token: str
    pad_token: str
    mask_token: str
    suffix_indicator: str
    max_len: int
    tokenize_chinese_chars: bool

    def attributes(self) -> dict:
        return {"vocab_file": "\n".join(self.vocab), "do_lower_case": int(self.lowercase), "strip_accents": int(self.strip_accents),
                "do_basic_tokenize": 1, "tokenize_chinese_chars": int(self.tokenize_chinese_chars),
                "cls_token": self.cls_token, "sep_token": self.sep_token, "unk_token": self.unk_token, "pad_token": self.pad_token,
                "mask_token": self.mask_token, "suffix_indicator": self.suffix_indicator, "max_length": self.max_len}


def _refuse(what: str) -> UnsupportedError:
    return UnsupportedError(f"{what}; a string-input file supports {SUPPORTED} (BPE has no op in the prebuilt mobile packages)")


def bert_op_settings(spec: dict, settings: dict) -> BertOpSettings:
    """The BertTokenizer op settings that reproduce `spec` (tokenizer.json as transformers runs it) with the bundle's
    tokenizer `settings` (max_len, special tokens), or UnsupportedError naming what the op cannot do.

    >>> bert_op_settings(load_tokenizer("runs/teacher").spec, asdict(encoder.settings)).lowercase   # doctest: +SKIP
    True
    """
    model = spec.get("model") or {}
    kind = model.get("type")
    if kind == "BPE":
        raise _refuse("this checkpoint's tokenizer is BPE (byte-level BPE: RoBERTa, ModernBERT, GPT-2 style)")
    if kind == "Unigram":
        raise _refuse("this checkpoint's tokenizer is SentencePiece Unigram (XLM-R, ALBERT, DeBERTa-v2); its SentencepieceTokenizer "
                      "route is not built yet")
    if kind != "WordPiece":
        raise _refuse(f"this checkpoint's tokenizer model is {kind!r}")
    norm = spec.get("normalizer")
    if isinstance(norm, dict) and norm.get("type") == "Sequence" and len(norm.get("normalizers") or []) == 1:
        norm = norm["normalizers"][0]
    if not isinstance(norm, dict) or norm.get("type") != "BertNormalizer":
        raise _refuse(f"its normaliser is {(norm or {}).get('type') if isinstance(norm, dict) else norm!r}, not BERT's "
                      f"(BertNormalizer), which the op implements")
    pre = spec.get("pre_tokenizer")
    if not isinstance(pre, dict) or pre.get("type") != "BertPreTokenizer":
        raise _refuse(f"its pre-tokenizer is {(pre or {}).get('type') if isinstance(pre, dict) else pre!r}, not BertPreTokenizer")
    if int(model.get("max_input_chars_per_word", 100)) != 100:
        raise _refuse(f"its WordPiece max_input_chars_per_word is {model.get('max_input_chars_per_word')} (the op's is fixed at 100)")
    template = (settings.get("template_single") or "").split()
    if len(template) != 3 or template[1] != "$A":
        raise _refuse(f"its single-text template is {settings.get('template_single')!r}; the op writes CLS $A SEP")
    if settings.get("truncation_side", "right") != "right" or (settings.get("truncation") or {}).get("strategy", "head") != "head":
        raise _refuse("it truncates long texts other than from the right (truncation_side / truncation strategy); the op keeps the head")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or sorted(vocab.values()) != list(range(len(vocab))):
        raise ConfigError("the WordPiece vocabulary has gaps or repeated ids; save the tokenizer again")
    tokens = tuple(t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]))
    if any("\n" in t or "\r" in t for t in tokens):
        raise _refuse("a vocabulary token holds a line break, which the op's one-token-per-line vocabulary cannot carry")
    lowercase = bool(norm.get("lowercase", True))
    strip = norm.get("strip_accents")
    roles = {role: settings.get(f"{role}_token") for role in ("unk", "pad", "mask")}
    roles["unk"] = roles["unk"] or model.get("unk_token")
    for role, token in roles.items():   # the op looks every role up in the vocabulary and fails to load without it
        if token not in vocab:
            roles[role] = template[0] if role != "unk" else None
    if roles["unk"] is None:
        raise _refuse("its unknown token is not in the vocabulary")
    return BertOpSettings(tokens, lowercase, lowercase if strip is None else bool(strip), template[0], template[2], roles["unk"],
                          roles["pad"], roles["mask"], str(model.get("continuing_subword_prefix", "##")), int(settings["max_len"]),
                          bool(norm.get("handle_chinese_chars", True)))


def tokenizer_graph(op: BertOpSettings, model_inputs: tuple[str, ...], opset: int, ir_version: int):
    """text [1] -> BertTokenizer -> each of `model_inputs` as a (1, T) int64 tensor named `tok.<input>`."""
    from onnx import TensorProto, helper

    outs = {"input_ids": "tok.ids_1d", "token_type_ids": "tok.types_1d", "attention_mask": "tok.mask_1d"}
    nodes = [helper.make_node("BertTokenizer", [TEXT_INPUT], list(outs.values()), domain=CONTRIB, name="tokenizer", **op.attributes()),
             helper.make_node("Constant", [], ["tok.axis0"], value=helper.make_tensor("axis0", TensorProto.INT64, [1], [0]))]
    outputs = []
    for name in model_inputs:
        if name not in outs:
            raise UnsupportedError(f"the model takes {name!r}; the BertTokenizer op gives input_ids, token_type_ids and attention_mask")
        nodes.append(helper.make_node("Unsqueeze", [outs[name], "tok.axis0"], [f"tok.{name}"], name=f"unsqueeze_{name}"))
        outputs.append(helper.make_tensor_value_info(f"tok.{name}", TensorProto.INT64, [1, "sequence"]))
    graph = helper.make_graph(nodes, "tokenizer", [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, [1])], outputs)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(CONTRIB, 1)])
    proto.ir_version = ir_version
    return proto


def prepend_tokenizer(model_path: str | Path, op: BertOpSettings, probabilities: bool = False):
    """The merged ModelProto: the tokenizer graph's outputs wired to the ids-input model's inputs (+ Softmax)."""
    import onnx
    from onnx import compose, helper

    model = onnx.load(str(model_path))
    inits = {i.name for i in model.graph.initializer}
    names = tuple(i.name for i in model.graph.input if i.name not in inits)
    if [o.name for o in model.graph.output] != ["logits"]:
        raise UnsupportedError(f"{model_path} outputs {[o.name for o in model.graph.output]}; prepend a tokenizer to a file with one `logits` output")
    if "pair_input_ids" in names:
        raise UnsupportedError("a siamese pair model takes two texts; a string-input file takes one text (export the ids-input files)")
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    tok = tokenizer_graph(op, names, opset, model.ir_version)
    merged = compose.merge_models(tok, model, io_map=[(f"tok.{n}", n) for n in names])
    if probabilities:
        merged.graph.node.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1, name="probabilities"))
        merged.graph.output.append(helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, [1, "labels"]))
    del merged.metadata_props[:]
    merged.metadata_props.extend(model.metadata_props)
    return merged


def to_text_input_onnx(source: Artifact, spec: dict, settings: dict, path: str | Path, *, probabilities: bool = False,
                       validate_with: list[tuple[str, dict]] | None = None, force: bool = False) -> Artifact:
    """Write `source` (an ids-input ONNX artifact) with the tokenizer op in front at `path`, checked against `source`
    on `validate_with` ((text, ids feeds of that text) pairs: the ids file must give the same logits), and return its Artifact.

    >>> art = to_text_input_onnx(fp32, load_tokenizer(ckpt).spec, asdict(encoder.settings), "model.fp32.text.onnx",
    ...                          validate_with=[(t, encoder.encode_np([t])) for t in texts])         # doctest: +SKIP
    >>> art.validation["max_abs_logit_diff"] < 1e-4                                                    # doctest: +SKIP
    True
    """
    from export.onnx import set_metadata

    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass force=True (--force) to replace it")
    if source.format != "onnx":
        raise UnsupportedError(f"a string-input file is built from an ONNX file; got {source.format}")
    op = bert_op_settings(spec, settings)
    merged = prepend_tokenizer(source.path, op, probabilities)
    tools = dict(source.tools) | tool_versions("onnx", "onnxruntime", "onnxruntime-extensions")
    meta = {**source.metadata, "edgedistill.input": TEXT_INPUT, "edgedistill.tokenizer_op": "BertTokenizer",
            "edgedistill.tokenizer_op.lowercase": str(op.lowercase).lower(),
            "edgedistill.tokenizer_op.strip_accents": str(op.strip_accents).lower(), "edgedistill.ids_source": source.sha256,
            **{f"tool.{k}": v for k, v in tools.items()}}
    set_metadata(merged, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.onnx", dir=path.parent)
    os.close(fd)
    try:
        import onnx

        onnx.save(merged, tmp)
        validation = compare_with_ids(tmp, source.path, validate_with or [], source.precision)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    outputs = [TensorSpec("logits", "float32", (1, "labels"))] + ([TensorSpec("probabilities", "float32", (1, "labels"))] if probabilities else [])
    width = validation.pop("num_labels", None)
    if width:
        outputs = [TensorSpec(o.name, o.dtype, (1, width)) for o in outputs]
    return Artifact.for_file(path, "onnx", source.precision, [TensorSpec(TEXT_INPUT, "string", (1,))], outputs, tools, meta, validation)


def compare_with_ids(text_path: str | Path, ids_path: str | Path, pairs: list[tuple[str, dict]], precision: str) -> dict:
    """The string-input file on each text against the ids-input file on that text's ids: token-for-token agreement
    shows as logits equal up to kernel order. No raising here: parity decides."""
    import numpy as np

    from edge_runtime.runners import OnnxRunner
    from edge_runtime.text_runner import TextOnnxRunner

    if not pairs:
        return {"sentences": 0}
    text_runner, ids_runner = TextOnnxRunner(text_path), OnnxRunner(ids_path)
    got = text_runner({TEXT_INPUT: np.array([t for t, _ in pairs], dtype=object)})
    ref = np.concatenate([ids_runner(feeds) for _, feeds in pairs])
    diff = np.abs(got - ref).max(axis=1)
    return {"sentences": len(pairs), "max_abs_logit_diff_vs_ids": float(diff.max()), "agreement_vs_ids": float((got.argmax(1) == ref.argmax(1)).mean()),
            "rows_differing_vs_ids": int((diff > 1e-4).sum()), "num_labels": int(ref.shape[1]), "precision": precision}
