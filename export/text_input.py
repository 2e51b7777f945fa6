"""String in, logits out: an ids-input ONNX file with an onnxruntime-extensions tokenizer op merged in front.

The tokenizer op is chosen from the checkpoint's tokenizer family and must be in onnxruntime-extensions' prebuilt
Android and iOS packages, so the file runs on a phone as it runs here:

  WordPiece (BERT, DistilBERT, ELECTRA, MiniLM, MPNet)  -> `BertTokenizer` (domain ai.onnx.contrib)
  Unigram (XLM-R, ALBERT, DeBERTa-v2)                     -> `SentencepieceTokenizer` (domain ai.onnx.contrib)
  BPE (RoBERTa, ModernBERT, GPT-2 style)                  -> refused: the mobile packages carry no BPE op

The op is set from the pipeline transformers runs for the checkpoint (edgecore.tokenizer), and the op truncates
the pieces to max_len - 2 before adding the template's two special tokens, as the Python tokenizer does (head
truncation; other strategies are refused). The file takes one string per call, `text` of shape [1] (BertTokenizer
reads two strings as a sentence pair, so a batch is refused by the declared shape), and returns `logits` (1, C),
plus `probabilities` when asked. onnxruntime loads it with the extensions library registered
(edge_runtime.text_runner); file name `*.text.onnx`.

WordPiece: lowercasing, accent stripping, the [CLS]/[SEP] tokens of the single-text template, the unknown token and
the subword prefix become the BertTokenizer op's attributes.

Unigram: the SentencepieceTokenizer op (the sentencepiece library inside onnxruntime-extensions) takes a serialized
sentencepiece ModelProto, built here from tokenizer.json (`sentencepiece_op_settings`; a checkpoint saved by
transformers 5 carries no .model file, and the pipeline transformers runs is the one to match):
- the pieces and scores in tokenizer.json id order, so the op's ids are the HF ids (XLM-R's fairseq offset is
  already in those ids: the op's `fairseq` input stays off); the unknown token UNKNOWN, the special added tokens
  CONTROL (never matched in the text), other added tokens USER_DEFINED, `<0xNN>` pieces BYTE under byte fallback;
- the normaliser as a precompiled charsmap compiled by sentencepiece's own trainer (`normalization_rule_tsv`) from
  what the checkpoint's normaliser, run by `tokenizers` (NFC/NFKC/NFD/NFKD, Lowercase, StripAccents, Replace, Nmt,
  a `Precompiled` charsmap), does to every assigned code point, to the decomposed forms of each and to each literal
  Replace pattern; where a WhitespaceSplit pre-tokenizer splits, its whitespace (and a literal "▁") maps to " ";
- remove_extra_whitespaces when the pipeline drops whitespace runs (WhitespaceSplit, or a Replace that collapses
  "  "), add_dummy_prefix from Metaspace's prepend_scheme, escape_whitespaces on. Other pre-tokenizers (Punctuation,
  Whitespace, ByteLevel, ...) are refused: sentencepiece splits only at "▁".
The [CLS]/<s> and [SEP]/</s> of the template are added by graph ops after the truncation, not by the op's
add_bos/add_eos. Known differences, measured by the export (`token_agreement_vs_ids`) and in
tests/export/test_text_input.py: special-token strings typed in the text ("<mask>") are split into pieces, not read as
the special token, and a pipeline that keeps whitespace runs (Metaspace without WhitespaceSplit or a collapsing
Replace) gets one more "▁" piece for leading spaces, and DeBERTa-v2's pipeline one more for a text that starts with
a literal "▁" (sentencepiece always adds its dummy prefix).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from edgecore import ConfigError, OutputExistsError, UnsupportedError
from export.artifact import Artifact, TensorSpec, tool_versions

#: what a string-input file can hold today, named in every refusal
SUPPORTED = ("WordPiece tokenizers (BERT, DistilBERT, ELECTRA, MiniLM, MPNet) through onnxruntime-extensions' BertTokenizer op and "
             "SentencePiece Unigram tokenizers (XLM-R, ALBERT, DeBERTa-v2) through its SentencepieceTokenizer op")
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


def _single_template(settings: dict, writes: str) -> list[str]:
    """The single-text template's three parts (FIRST $A LAST), refused when the op cannot write it or the checkpoint
    truncates other than by keeping the head, which is all the op does."""
    template = (settings.get("template_single") or "").split()
    if len(template) != 3 or template[1] != "$A":
        raise _refuse(f"its single-text template is {settings.get('template_single')!r}; {writes}")
    if settings.get("truncation_side", "right") != "right" or (settings.get("truncation") or {}).get("strategy", "head") != "head":
        raise _refuse("it truncates long texts other than from the right (truncation_side / truncation strategy); the op keeps the head")
    return template


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
        raise UnsupportedError("this checkpoint's tokenizer is SentencePiece Unigram: its op is SentencepieceTokenizer "
                               "(export.text_input.op_settings picks the op for a checkpoint)")
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
    template = _single_template(settings, "the op writes CLS $A SEP")
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


@dataclass(frozen=True)
class SpmOpSettings:
    """The SentencepieceTokenizer op's model for one checkpoint, and the template/truncation around it."""
    model: bytes               # serialized sentencepiece ModelProto, pieces in tokenizer.json id order
    cls_id: int                # the template's first special token (<s> / [CLS]), added after truncation
    sep_id: int                # the template's last special token (</s> / [SEP])
    max_len: int
    charsmap: str              # "derived" (compiled from the checkpoint's normaliser) or "none" (it has none)
    remove_extra_whitespaces: bool
    add_dummy_prefix: bool


#: Rust's char::is_whitespace (the White_Space property), which tokenizers' WhitespaceSplit splits on
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_CHAR_STEPS = {"NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "Precompiled", "Replace", "Nmt"}
_BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")


def _steps(node: dict | None, key: str) -> list[dict]:
    if not node:
        return []
    if node.get("type") == "Sequence":
        return [s for n in node.get(key) or [] for s in _steps(n, key)]
    return [node]


def _normalizer(steps: list[dict]):
    """A tokenizers normaliser running `steps` (tokenizer.json dicts), built the way tokenizers reads them."""
    from tokenizers import Tokenizer

    spec = {"version": "1.0", "model": {"type": "WordLevel", "vocab": {"x": 0}, "unk_token": "x"},
            "normalizer": {"type": "Sequence", "normalizers": steps}}
    return Tokenizer.from_str(json.dumps(spec)).normalizer


def _derived_charsmap(steps: list[dict], split_whitespace: bool) -> bytes:
    """sentencepiece's precompiled charsmap for what `steps` do to each assigned code point, each one's decomposed forms
    and each literal Replace pattern (compiled by sentencepiece's own trainer from a normalization_rule_tsv)."""
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    norm = _normalizer(steps)
    sources = set()
    for cp in range(0x110000):
        c = chr(cp)
        if 0xD800 <= cp < 0xE000 or unicodedata.category(c) in ("Cn", "Co"):
            continue
        sources.add(c)
        for form in ("NFD", "NFKD"):
            d = unicodedata.normalize(form, c)
            if len(d) > 1:
                sources.add(d)
    sources.update(s["pattern"]["String"] for s in steps if s["type"] == "Replace" and "String" in s.get("pattern", {}))
    sources.discard("")
    rules = []
    for src in sorted(sources):
        tgt = norm.normalize_str(src)
        if split_whitespace:   # WhitespaceSplit drops these; a literal "▁" then starts a piece as a space does
            tgt = "".join(" " if ch in WHITE_SPACE or ch == "\u2581" else ch for ch in tgt)
        if tgt != src:
            rules.append(" ".join(f"{ord(ch):X}" for ch in src) + "\t" + " ".join(f"{ord(ch):X}" for ch in tgt))
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text("\n".join(rules) + "\n", encoding="utf-8")
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(["a b c"] * 4), model_writer=buf, vocab_size=8, model_type="char",
                                       hard_vocab_limit=False, normalization_rule_tsv=str(tsv), minloglevel=2)
    proto = pb.ModelProto()
    proto.ParseFromString(buf.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def sentencepiece_op_settings(spec: dict, settings: dict) -> SpmOpSettings:
    """The SentencepieceTokenizer op's model that reproduces `spec` (a Unigram tokenizer.json as transformers runs it)
    with the bundle's tokenizer `settings`, or UnsupportedError naming what the op cannot do."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = spec.get("model") or {}
    pre = _steps(spec.get("pre_tokenizer"), "pretokenizers")
    names = [p.get("type") for p in pre]
    if not names or names[-1] != "Metaspace" or any(n != "WhitespaceSplit" for n in names[:-1]):
        raise _refuse(f"its Unigram pre-tokenizer is {' + '.join(map(str, names)) or 'none'}; sentencepiece splits at spaces only "
                      f"(Metaspace, optionally after WhitespaceSplit)")
    meta = pre[-1]
    if meta.get("replacement", "\u2581") != "\u2581" or not meta.get("split", True):
        raise _refuse("its Metaspace pre-tokenizer uses another replacement than \u2581 or does not split; sentencepiece's does")
    scheme = meta.get("prepend_scheme") or ("always" if meta.get("add_prefix_space", True) else "never")
    steps = _steps(spec.get("normalizer"), "normalizers")
    odd = [s.get("type") for s in steps if s.get("type") not in _CHAR_STEPS | {"Strip"}]
    if odd:
        raise _refuse(f"its normaliser has {', '.join(map(str, odd))}, which a sentencepiece charsmap does not express")
    chars = [s for s in steps if s["type"] != "Strip"]
    split_ws = "WhitespaceSplit" in names
    collapse = split_ws or (bool(chars) and _normalizer(chars).normalize_str("a  \t b") in ("a b", "a\u2581b"))
    template = _single_template(settings, "the route writes FIRST $A LAST")
    vocab = model.get("vocab")
    if not isinstance(vocab, list) or not vocab or any(not isinstance(v, list | tuple) or len(v) != 2 for v in vocab):
        raise ConfigError("the Unigram vocabulary in tokenizer.json is not a list of [piece, score]; save the tokenizer again")
    unk = model.get("unk_id")
    if unk is None or not 0 <= int(unk) < len(vocab):
        raise _refuse("its Unigram model has no unknown token, which sentencepiece needs")
    ids = {p: i for i, (p, _) in enumerate(vocab)}
    special = {t["content"] for t in spec.get("added_tokens") or [] if t.get("special")}
    user = {t["content"] for t in spec.get("added_tokens") or [] if not t.get("special")}
    first, last = (ids.get(t) for t in (template[0], template[2]))
    if first is None or last is None:
        raise _refuse(f"its template tokens {template[0]!r}/{template[2]!r} are not in the Unigram vocabulary")
    byte_fallback = bool(model.get("byte_fallback"))
    proto = pb.ModelProto()
    kinds = pb.ModelProto.SentencePiece
    for i, (piece, score) in enumerate(vocab):
        sp = proto.pieces.add(piece=piece, score=float(score))
        sp.type = (kinds.UNKNOWN if i == unk else kinds.CONTROL if piece in special else kinds.USER_DEFINED if piece in user
                   else kinds.BYTE if byte_fallback and _BYTE_PIECE.fullmatch(piece) else kinds.NORMAL)
    if len(ids) != len(vocab):
        raise ConfigError("the Unigram vocabulary repeats a piece; save the tokenizer again")
    t = proto.trainer_spec
    t.model_type, t.vocab_size, t.byte_fallback = pb.TrainerSpec.UNIGRAM, len(vocab), byte_fallback
    t.unk_id, t.bos_id, t.eos_id, t.pad_id, t.unk_piece = int(unk), -1, -1, -1, vocab[int(unk)][0]
    n = proto.normalizer_spec
    n.name, n.add_dummy_prefix, n.remove_extra_whitespaces, n.escape_whitespaces = "edgedistill", scheme != "never", collapse, True
    if chars or split_ws:
        n.precompiled_charsmap, kind = _derived_charsmap(chars, split_ws), "derived"
    else:
        kind = "none"
    return SpmOpSettings(proto.SerializeToString(), first, last, int(settings["max_len"]), kind, collapse, scheme != "never")


def op_settings(spec: dict, settings: dict) -> BertOpSettings | SpmOpSettings:
    """The tokenizer op for the checkpoint's tokenizer family, or UnsupportedError naming the family and the routes that exist.

    >>> type(op_settings(load_tokenizer("runs/xlmr").spec, asdict(encoder.settings))).__name__   # doctest: +SKIP
    'SpmOpSettings'
    """
    if (spec.get("model") or {}).get("type") == "Unigram":
        return sentencepiece_op_settings(spec, settings)
    return bert_op_settings(spec, settings)


def _spm_nodes(op: SpmOpSettings) -> tuple[list, str]:
    """text [1] -> SentencepieceTokenizer -> head max_len - 2 pieces -> FIRST + pieces + LAST: the (T,) int64 ids."""
    from onnx import TensorProto, helper

    def const(name: str, values: list, dtype=TensorProto.INT64):
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, dtype, [len(values)], values))

    nodes = [const("tok.nbest", [0]), const("tok.alpha", [0.0], TensorProto.FLOAT), const("tok.false", [False], TensorProto.BOOL),
             helper.make_node("SentencepieceTokenizer", [TEXT_INPUT, "tok.nbest", "tok.alpha", "tok.false", "tok.false", "tok.false"],
                              ["tok.pieces32", "tok.instances"], domain=CONTRIB, name="tokenizer", model=op.model),
             helper.make_node("Cast", ["tok.pieces32"], ["tok.pieces"], to=TensorProto.INT64),
             const("tok.start", [0]), const("tok.stop", [op.max_len - 2]), const("tok.axis", [0]),
             helper.make_node("Slice", ["tok.pieces", "tok.start", "tok.stop", "tok.axis"], ["tok.head"], name="truncate"),
             const("tok.first", [op.cls_id]), const("tok.last", [op.sep_id]),
             helper.make_node("Concat", ["tok.first", "tok.head", "tok.last"], ["tok.ids_1d"], axis=0, name="template")]
    return nodes, "tok.ids_1d"


def tokenizer_graph(op: BertOpSettings | SpmOpSettings, model_inputs: tuple[str, ...], opset: int, ir_version: int):
    """text [1] -> the tokenizer op -> each of `model_inputs` as a (1, T) int64 tensor named `tok.<input>`."""
    from onnx import TensorProto, helper

    outs = {"input_ids": "tok.ids_1d", "token_type_ids": "tok.types_1d", "attention_mask": "tok.mask_1d"}
    if isinstance(op, SpmOpSettings):   # one segment: mask all ones, token types all zeros
        nodes, _ = _spm_nodes(op)
        nodes += [helper.make_node("Shape", ["tok.ids_1d"], ["tok.shape"]),
                  helper.make_node("ConstantOfShape", ["tok.shape"], ["tok.mask_1d"], value=helper.make_tensor("one", TensorProto.INT64, [1], [1])),
                  helper.make_node("ConstantOfShape", ["tok.shape"], ["tok.types_1d"], value=helper.make_tensor("zero", TensorProto.INT64, [1], [0]))]
        op_name = "SentencepieceTokenizer route"
    else:
        nodes = [helper.make_node("BertTokenizer", [TEXT_INPUT], list(outs.values()), domain=CONTRIB, name="tokenizer", **op.attributes())]
        op_name = "BertTokenizer op"
    nodes.append(helper.make_node("Constant", [], ["tok.axis0"], value=helper.make_tensor("axis0", TensorProto.INT64, [1], [0])))
    outputs = []
    for name in model_inputs:
        if name not in outs:
            raise UnsupportedError(f"the model takes {name!r}; the {op_name} gives input_ids, token_type_ids and attention_mask")
        nodes.append(helper.make_node("Unsqueeze", [outs[name], "tok.axis0"], [f"tok.{name}"], name=f"unsqueeze_{name}"))
        outputs.append(helper.make_tensor_value_info(f"tok.{name}", TensorProto.INT64, [1, "sequence"]))
    graph = helper.make_graph(nodes, "tokenizer", [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, [1])], outputs)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(CONTRIB, 1)])
    proto.ir_version = ir_version
    return proto


def prepend_tokenizer(model_path: str | Path, op: BertOpSettings | SpmOpSettings, probabilities: bool = False):
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
    op = op_settings(spec, settings)
    merged = prepend_tokenizer(source.path, op, probabilities)
    tools = dict(source.tools) | tool_versions("onnx", "onnxruntime", "onnxruntime-extensions")
    if isinstance(op, SpmOpSettings):
        tools |= tool_versions("sentencepiece")
        op_meta = {"edgedistill.tokenizer_op": "SentencepieceTokenizer", "edgedistill.tokenizer_op.charsmap": op.charsmap,
                   "edgedistill.tokenizer_op.remove_extra_whitespaces": str(op.remove_extra_whitespaces).lower()}
    else:
        op_meta = {"edgedistill.tokenizer_op": "BertTokenizer", "edgedistill.tokenizer_op.lowercase": str(op.lowercase).lower(),
                   "edgedistill.tokenizer_op.strip_accents": str(op.strip_accents).lower()}
    meta = {**source.metadata, "edgedistill.input": TEXT_INPUT, **op_meta, "edgedistill.ids_source": source.sha256,
            **{f"tool.{k}": v for k, v in tools.items()}}
    set_metadata(merged, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.onnx", dir=path.parent)
    os.close(fd)
    try:
        import onnx

        onnx.save(merged, tmp)
        validation = compare_with_ids(tmp, source.path, validate_with or [], source.precision)
        if validate_with:
            validation |= compare_tokens(op, validate_with)
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


def op_token_ids(op: BertOpSettings | SpmOpSettings, texts: list[str]) -> list[list[int]]:
    """The input_ids the file's tokenizer part gives for each text (the tokenizer graph alone, run by onnxruntime with
    the extensions library registered)."""
    import numpy as np
    import onnxruntime as ort
    from onnxruntime_extensions import get_library_path

    graph = tokenizer_graph(op, ("input_ids",), 17, 8)
    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return [session.run(None, {TEXT_INPUT: np.array([t], dtype=object)})[0][0].tolist() for t in texts]


def compare_tokens(op: BertOpSettings | SpmOpSettings, pairs: list[tuple[str, dict]]) -> dict:
    """Token for token: the op's ids against the ids-input path's ids (the checkpoint's own tokenizer) of each text."""
    got = op_token_ids(op, [t for t, _ in pairs])
    ref = [list(map(int, f["input_ids"][0][: int(f["attention_mask"][0].sum())] if "attention_mask" in f else f["input_ids"][0])) for _, f in pairs]
    differ = [i for i, (a, b) in enumerate(zip(got, ref, strict=True)) if a != b]
    return {"token_agreement_vs_ids": 1 - len(differ) / len(pairs), "token_rows_differing_vs_ids": len(differ),
            "token_first_differing": [pairs[i][0][:80] for i in differ[:3]]}
