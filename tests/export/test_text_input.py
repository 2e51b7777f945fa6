"""Raw text in: the string-input ONNX (onnxruntime-extensions BertTokenizer op for WordPiece, SentencepieceTokenizer for
Unigram) and the MediaPipe Tasks .tflite, each against the ids-input path on real sentences, on tiny BERT, XLM-R, ALBERT
and DeBERTa-v2 checkpoints (tests/families.py) and a tiny BiLSTM."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from edgecore import DataError, UnsupportedError

LABELS = ("negative", "positive")
ACCENTED = ["Café au lait, naïve and a little passé.", "A résumé of déjà vu", "ÉCOLE und Ökonomie", "piñata fiancée"]
# where the op's normaliser differs from the tokenizers library (measured, documented in docs/export.md): it case-folds
# "ß" to "ss" and "İ" to "i̇" where Python's lowercasing keeps "ß" and gives "i̇" another way
OP_DIFFERS = ["Straße", "İstanbul"]
# what a SentencePiece route must tokenize as the checkpoint's tokenizer does: unicode, accents (composed and decomposed),
# whitespace runs, tabs and newlines, emoji, compatibility forms, the empty string and texts far past max_len
UNIGRAM_PROBES = ["", " ", "   ", " a", "  leading spaces", "trailing   ", "runs   of \t tabs\nand\r\nnewlines", "Café au lait, naïve",
                  "e\u0301cole, decomposed", "ÉCOLE und Ökonomie", "Straße İstanbul", "emoji 😀🎬👍🏽 here", "日本語のテキスト",
                  "Ｆｕｌｌｗｉｄｔｈ ﬁ ligature ①", "``quoted'' text", "nbsp\u00a0here", "zero\u200bwidth", "\u3000ideographic space",
                  "control\x01char", "x" * 3000, " ".join(["word"] * 400)]


@pytest.fixture(scope="module")
def bert(tmp_path_factory, movie):
    """(checkpoint dir, model, encoder, ids-input fp32 ONNX artifact, vocab.txt, 120 real test sentences)."""
    from families import build

    from distill.teacher import load_teacher
    from export import to_onnx
    from export.bundle import _derive_vocab_txt

    texts = movie[0]
    root = tmp_path_factory.mktemp("text-input")
    build("bert", root / "bert", texts[:1500])
    teacher = load_teacher(root / "bert")
    art = to_onnx(teacher.model, teacher.encoder.encode(texts[:2]), root / "model.fp32.onnx")
    _derive_vocab_txt(root / "bert" / "tokenizer.json", root / "vocab.txt")
    return root, teacher.model, teacher.encoder, art, root / "vocab.txt", texts[3000:3120]


@pytest.fixture(scope="module")
def text_onnx(bert):
    from edgecore.tokenizer import load_tokenizer
    from export.text_input import to_text_input_onnx

    root, _, encoder, art, _, texts = bert
    long = " ".join(texts[:12])   # far past max_len (64): truncated by the op as by the tokenizer
    pairs = [(t, encoder.encode_np([t])) for t in [*texts, long, *ACCENTED]]
    return to_text_input_onnx(art, load_tokenizer(root / "bert").spec, asdict(encoder.settings), root / "model.fp32.text.onnx",
                              validate_with=pairs)


@pytest.fixture(scope="module")
def mediapipe_bert(bert):
    from export.mediapipe import to_mediapipe_tflite

    root, model, encoder, _, vocab, texts = bert
    pairs = [(t, encoder.encode_np([t])) for t in texts]
    return to_mediapipe_tflite(model, asdict(encoder.settings), vocab, LABELS, root / "model.fp32.mediapipe.tflite", validate_with=pairs)


def test_string_onnx_equals_ids_onnx(bert, text_onnx):
    from edge_runtime.runners import OnnxRunner, load
    from edge_runtime.text_runner import TextOnnxRunner, text_feeds

    _, _, encoder, art, _, texts = bert
    v = text_onnx.validation
    assert v["sentences"] == len(texts) + 1 + len(ACCENTED)
    assert v["agreement_vs_ids"] == 1.0 and v["rows_differing_vs_ids"] == 0 and v["max_abs_logit_diff_vs_ids"] < 1e-4
    assert [(t.name, t.dtype) for t in text_onnx.inputs] == [("text", "string")]
    assert text_onnx.metadata["edgedistill.input"] == "text" and text_onnx.metadata["edgedistill.tokenizer_op.strip_accents"] == "true"
    runner = load(text_onnx.path)
    assert isinstance(runner, TextOnnxRunner)
    known = runner(text_feeds(OP_DIFFERS)) - OnnxRunner(art.path)(encoder.encode_np(OP_DIFFERS))
    print(f"\nknown op differences ({', '.join(OP_DIFFERS)}): max |dlogit| {np.abs(known).max():.2e}")
    got, ref = runner(text_feeds(texts[:20])), OnnxRunner(art.path)(encoder.encode_np(texts[:20]))
    assert np.abs(got - ref).max() < 1e-4
    print(f"\nstring-input ONNX: {v['sentences']} sentences, agreement {v['agreement_vs_ids']:.2%}, max |dlogit| "
          f"{v['max_abs_logit_diff_vs_ids']:.2e}; size {text_onnx.size_bytes} vs ids {art.size_bytes} bytes")


def test_text_runner_input_rules(text_onnx):
    """UTF-8 bytes read as their text; invalid UTF-8 and lone surrogates are refused naming the row."""
    from edge_runtime.text_runner import TextOnnxRunner, text_feeds

    runner = TextOnnxRunner(text_onnx.path)
    text = "a fine, moving film"
    assert np.array_equal(runner(text_feeds([text.encode()])), runner(text_feeds([text])))
    with pytest.raises(DataError, match="row 1 is not valid UTF-8"):
        runner(text_feeds([text, b"caf\xe9"]))
    with pytest.raises(DataError, match="row 0 holds an unpaired surrogate"):
        runner(text_feeds(["bad \udc80 text"]))
    with pytest.raises(UnsupportedError, match="single texts"):
        text_feeds([("a", "b")])


def test_bpe_family_refused_by_name(tmp_path, movie):
    from families import build

    from distill import Encoder
    from edgecore.tokenizer import load_tokenizer
    from export.mediapipe import check_tokenizer
    from export.text_input import op_settings

    build("roberta", tmp_path / "roberta", movie[0][:300])
    settings = asdict(Encoder(tmp_path / "roberta", 64).settings)
    with pytest.raises(UnsupportedError) as e:
        op_settings(load_tokenizer(tmp_path / "roberta").spec, settings)
    message = str(e.value)
    assert "BPE" in message and "WordPiece" in message and "SentencePiece Unigram" in message and "\n" not in message
    with pytest.raises(UnsupportedError, match="tokenizer is BPE; MediaPipe's TextClassifier supports"):
        check_tokenizer(settings)


def test_mediapipe_bert_equals_our_runner(bert, mediapipe_bert):
    from edge_runtime.runners import OnnxRunner, load
    from edge_runtime.text_runner import MediaPipeTextRunner, text_feeds

    _, _, encoder, art, _, texts = bert
    v = mediapipe_bert.validation
    assert v["sentences"] == len(texts) and v["agreement_litert"] == 1.0 and v["max_abs_prob_diff_litert"] < 1e-5
    assert v["agreement_vs_ids"] == 1.0 and v["max_abs_prob_diff_vs_ids"] < 1e-5
    runner = load(mediapipe_bert.path)
    assert isinstance(runner, MediaPipeTextRunner)
    scores = runner(text_feeds(texts))
    logits = OnnxRunner(art.path)(encoder.encode_np(texts))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    assert runner.labels == list(LABELS)
    assert (scores.argmax(1) == probs.argmax(1)).all() and np.abs(scores - probs).max() < 1e-5
    print(f"\nMediaPipe TextClassifier vs our ONNX runner: {len(texts)} sentences, agreement 100%, max |dp| "
          f"{np.abs(scores - probs).max():.2e}; size {mediapipe_bert.size_bytes} bytes")


def test_accents_measured(bert, text_onnx, mediapipe_bert):
    """The uncased normaliser strips accents; the op does too (same answers), MediaPipe's tokenizer does not (measured)."""
    from edge_runtime.runners import OnnxRunner
    from edge_runtime.text_runner import MediaPipeTextRunner, TextOnnxRunner, text_feeds

    _, _, encoder, art, _, _ = bert
    ref = OnnxRunner(art.path)(encoder.encode_np(ACCENTED))
    assert np.abs(TextOnnxRunner(text_onnx.path)(text_feeds(ACCENTED)) - ref).max() < 1e-4
    probs = np.exp(ref - ref.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    mp = MediaPipeTextRunner(mediapipe_bert.path)(text_feeds(ACCENTED))
    differing = int((np.abs(mp - probs).max(1) > 1e-4).sum())
    assert differing >= 1   # the documented difference: MediaPipe keeps "é" and lowercases ASCII only
    assert mediapipe_bert.metadata["edgedistill.mediapipe.accents_differ"] == "true"
    print(f"\naccented sentences whose MediaPipe scores differ from the ids path: {differing}/{len(ACCENTED)}")


def test_mediapipe_recurrent_student(bert, tmp_path):
    """A BiLSTM (ids + mask) gets an ignored segment input; MediaPipe runs its unrolled loop (one subgraph)."""
    from distill import Encoder, RNNStudent, RNNStudentConfig
    from edgecore.tokenizer import RNN_INPUTS
    from export.mediapipe import to_mediapipe_tflite

    root, _, _, _, vocab, texts = bert
    encoder = Encoder(root / "bert", 16).with_inputs(RNN_INPUTS)   # 16 tokens: a quick unrolled conversion; most texts truncate
    torch.manual_seed(0)
    rnn = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=0, pooling="mean")).eval()
    art = to_mediapipe_tflite(rnn, asdict(encoder.settings), vocab, LABELS, tmp_path / "rnn.mediapipe.tflite",
                              validate_with=[(t, encoder.encode_np([t])) for t in texts[:60]])
    v = art.validation
    assert [t.name for t in art.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert v["recurrent"]["route"] == "loop" and v["agreement_vs_ids"] == 1.0 and v["max_abs_prob_diff_vs_ids"] < 1e-5


def test_bundle_lists_text_files(bert, text_onnx, mediapipe_bert, tmp_path):
    from edge_runtime import Bundle, load
    from edge_runtime.text_runner import MediaPipeTextRunner, TextOnnxRunner, text_feeds
    from export import BundleConfig, write_bundle

    root, _, encoder, art, _, texts = bert
    out = write_bundle(tmp_path / "bundle", [art, text_onnx, mediapipe_bert], root / "bert",
                       BundleConfig("bert", LABELS, asdict(encoder.settings)))
    bundle = Bundle.open(out)   # schema (string dtype, input/runtime keys) and hashes checked
    entries = {e["file"]: e for e in bundle.manifest["models"]}
    assert set(entries) == {"bert.fp32.onnx", "bert.fp32.text.onnx", "bert.fp32.mediapipe.tflite"}
    assert entries["bert.fp32.onnx"]["default"] and "input" not in entries["bert.fp32.onnx"]
    assert entries["bert.fp32.text.onnx"]["input"] == "text" and entries["bert.fp32.text.onnx"]["runtime"] == "onnxruntime-extensions"
    assert entries["bert.fp32.mediapipe.tflite"]["runtime"] == "mediapipe-tasks"
    assert isinstance(load(bundle.resolve("bert.fp32.text.onnx")), TextOnnxRunner)
    mp = load(bundle.resolve("bert.fp32.mediapipe.tflite"))
    assert isinstance(mp, MediaPipeTextRunner) and mp(text_feeds(texts[:3])).shape == (3, 2)


def test_minimum_parser_version_port():
    """The stand-in for the wheel's missing _pywrap_metadata_version gives MediaPipe's versions field by field."""
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    from export.mediapipe import _ensure_metadata_version_module, minimum_parser_version

    def version(model: fb.ModelMetadataT) -> str:
        b = flatbuffers.Builder(0)
        b.Finish(model.Pack(b), b"M001")
        return minimum_parser_version(bytes(b.Output()))

    model = fb.ModelMetadataT()
    assert version(model) == "1.0.0"
    sub = fb.SubGraphMetadataT()
    model.subgraphMetadata = [sub]
    vocab = fb.AssociatedFileT()
    vocab.name, vocab.type = "vocab.txt", fb.AssociatedFileType.VOCABULARY
    sub.associatedFiles = [vocab]
    assert version(model) == "1.0.1"
    unit = fb.ProcessUnitT()
    unit.optionsType, unit.options = fb.ProcessUnitOptions.BertTokenizerOptions, fb.BertTokenizerOptionsT()
    sub.inputProcessUnits = [unit]
    assert version(model) == "1.1.0"
    group = fb.TensorGroupT()
    group.name = "g"
    sub.outputTensorGroups = [group]
    assert version(model) == "1.2.0"
    with pytest.raises(ValueError):
        minimum_parser_version(b"\0" * 16)
    _ensure_metadata_version_module()
    from mediapipe.tasks.cc.metadata.python import _pywrap_metadata_version

    assert _pywrap_metadata_version.GetMinimumMetadataParserVersion is minimum_parser_version or \
        _pywrap_metadata_version.__doc__ is None or "stand-in" not in _pywrap_metadata_version.__doc__


def test_mediapipe_runner_bad_input_and_truncation(bert, mediapipe_bert):
    """The run-time rules hold for the MediaPipe file as for the string-input ONNX: invalid UTF-8 and lone surrogates are
    refused naming the row, UTF-8 bytes read as their text, and an over-long text is cut as the ids-input files' tokenizer cuts it."""
    from edge_runtime.runners import OnnxRunner
    from edge_runtime.text_runner import MediaPipeTextRunner, text_feeds

    _, _, encoder, art, _, texts = bert
    runner = MediaPipeTextRunner(mediapipe_bert.path)
    with pytest.raises(DataError, match="row 1 is not valid UTF-8"):
        runner(text_feeds([texts[0], b"caf\xe9"]))
    with pytest.raises(DataError, match="row 0 holds an unpaired surrogate"):
        runner(text_feeds(["bad \udc80 text"]))
    assert np.array_equal(runner(text_feeds([texts[0].encode()])), runner(text_feeds([texts[0]])))
    long = " ".join(texts[:12])
    feeds = encoder.encode_np([long])
    assert feeds["input_ids"].shape[1] == encoder.max_len   # the ids path truncated it
    ref = OnnxRunner(art.path)(feeds)
    probs = np.exp(ref - ref.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    got = runner(text_feeds([long, long + " and then some more words at the end"]))
    assert np.abs(got - probs).max() < 1e-5   # same scores as the ids file on the truncated ids; the tail never counts


# ---- SentencePiece Unigram (XLM-R, ALBERT, DeBERTa-v2) -------------------------------------------------------------

@pytest.fixture(scope="module", params=["xlm-roberta", "albert", "deberta-v2"])
def unigram(request, tmp_path_factory, movie):
    """(family, checkpoint dir, encoder, ids-input fp32 ONNX artifact, string-input artifact, texts checked)."""
    from families import build

    from distill.teacher import load_teacher
    from edgecore.tokenizer import load_tokenizer
    from export import to_onnx
    from export.text_input import to_text_input_onnx

    family, texts = request.param, movie[0]
    root = tmp_path_factory.mktemp(f"text-input-{family}")
    build(family, root / family, texts[:1500])
    teacher = load_teacher(root / family)
    art = to_onnx(teacher.model, teacher.encoder.encode(texts[:2]), root / "model.fp32.onnx")
    checked = [*texts[3000:3120], " ".join(texts[:12]), *ACCENTED, *UNIGRAM_PROBES]
    pairs = [(t, teacher.encoder.encode_np([t])) for t in checked]
    text_art = to_text_input_onnx(art, load_tokenizer(root / family).spec, asdict(teacher.encoder.settings), root / "model.fp32.text.onnx",
                                  validate_with=pairs)
    return family, root / family, teacher.encoder, art, text_art, checked


def test_unigram_string_onnx_equals_ids_onnx(unigram):
    """Token for token and logit for logit on real sentences and the probes (empty, 3,000 characters, emoji, ...)."""
    from edge_runtime.runners import OnnxRunner, load
    from edge_runtime.text_runner import TextOnnxRunner, text_feeds

    family, _, encoder, art, text_art, checked = unigram
    v = text_art.validation
    assert v["sentences"] == len(checked)
    assert v["token_agreement_vs_ids"] == 1.0, v["token_first_differing"]
    assert v["agreement_vs_ids"] == 1.0 and v["rows_differing_vs_ids"] == 0 and v["max_abs_logit_diff_vs_ids"] < 1e-4
    assert text_art.metadata["edgedistill.tokenizer_op"] == "SentencepieceTokenizer"
    assert text_art.metadata["edgedistill.tokenizer_op.remove_extra_whitespaces"] == "true"
    runner = load(text_art.path)
    assert isinstance(runner, TextOnnxRunner)
    long = ["x" * 3000, " ".join(["word"] * 400)]
    assert encoder.encode_np(long)["input_ids"].shape[1] == encoder.max_len   # the ids path truncated them: so did the op
    got, ref = runner(text_feeds(long + [""])), np.concatenate([OnnxRunner(art.path)(encoder.encode_np([t])) for t in long + [""]])
    assert np.abs(got - ref).max() < 1e-4
    print(f"\n{family} string-input ONNX: {v['sentences']} texts, tokens equal on {v['token_agreement_vs_ids']:.2%}, agreement "
          f"{v['agreement_vs_ids']:.2%}, max |dlogit| {v['max_abs_logit_diff_vs_ids']:.2e}; size {text_art.size_bytes} vs ids {art.size_bytes} bytes")


def test_unigram_known_difference_literal_special_tokens(unigram):
    """Special tokens typed in the text: the checkpoint's tokenizer reads "<mask>"/"[MASK]" as the special token, the op
    (CONTROL pieces are never matched in text) splits them into pieces. Measured, documented in docs/export.md."""
    from edgecore.tokenizer import load_tokenizer
    from export.text_input import op_settings, op_token_ids

    family, ckpt, encoder, _, _, _ = unigram
    mask = encoder.settings.mask_token
    text = f"a {mask} film"
    ids = op_token_ids(op_settings(load_tokenizer(ckpt).spec, asdict(encoder.settings)), [text])[0]
    ref = encoder.encode_np([text])["input_ids"][0].tolist()
    assert encoder.settings.mask_id in ref and encoder.settings.mask_id not in ids and ids != ref


def _charsmap(rule: str) -> str:
    """The precompiled charsmap sentencepiece's trainer writes for one of its built-in normalisation rules (base64, as
    tokenizer.json's Precompiled normaliser holds it)."""
    import base64
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["a b c"] * 4), model_writer=buf, vocab_size=8, model_type="char",
                                   hard_vocab_limit=False, normalization_rule_name=rule, minloglevel=2)
    proto = pb.ModelProto()
    proto.ParseFromString(buf.getvalue())
    return base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode()


def _hf_ids(spec: dict, texts: list[str], max_len: int = 64) -> list[list[int]]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(json.dumps(spec))
    tok.enable_truncation(max_len)
    return [tok.encode(t).ids for t in texts]


@pytest.fixture(scope="module")
def xlmr_spec(tmp_path_factory, movie):
    """A tiny XLM-R tokenizer as transformers 5 runs it, and the bundle settings."""
    from families import build

    from distill import Encoder
    from edgecore.tokenizer import load_tokenizer

    root = tmp_path_factory.mktemp("xlmr-spec")
    build("xlm-roberta", root / "x", movie[0][:1500])
    return load_tokenizer(root / "x").spec, asdict(Encoder(root / "x", 64).settings)


def test_unigram_precompiled_charsmap_and_byte_fallback(xlmr_spec, movie):
    """A real XLM-R's normaliser is a Precompiled charsmap (nmt_nfkc) before WhitespaceSplit + Metaspace: the op agrees token
    for token. With byte fallback, characters outside the vocabulary become the same <0xNN> pieces."""
    from export.text_input import op_settings, op_token_ids

    spec, settings = xlmr_spec
    spec = json.loads(json.dumps(spec))
    spec["normalizer"] = {"type": "Precompiled", "precompiled_charsmap": _charsmap("nmt_nfkc")}
    texts = [*UNIGRAM_PROBES, *ACCENTED, "\u2581a literal metaspace", "a \u2581b", *movie[0][3000:3300]]
    op = op_settings(spec, settings)
    assert op.charsmap == "derived" and op.remove_extra_whitespaces
    assert op_token_ids(op, texts) == _hf_ids(spec, texts)
    spec["model"]["vocab"] += [[f"<0x{b:02X}>", -20.0] for b in range(256)]
    spec["model"]["byte_fallback"] = True
    emoji = ["emoji 😀🎬👍🏽 here", "日本語のテキスト", "a fine film"]
    ref = _hf_ids(spec, emoji)
    assert len(ref[0]) > 8 and op_token_ids(op_settings(spec, settings), emoji) == ref


def test_unigram_metaspace_only_pipeline_leading_space_difference(xlmr_spec, movie):
    """A pipeline that keeps whitespace runs (Metaspace alone, no WhitespaceSplit or collapsing Replace): equal but for texts
    that start with a space, where sentencepiece's dummy prefix adds one more "▁" (documented)."""
    from export.text_input import op_settings, op_token_ids

    spec, settings = xlmr_spec
    spec = json.loads(json.dumps(spec))
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    spec["normalizer"] = {"type": "NFKC"}
    op = op_settings(spec, settings)
    assert not op.remove_extra_whitespaces
    texts = [*movie[0][3000:3300], "runs   of  spaces", "trailing  ", "a\tb"]
    assert op_token_ids(op, texts) == _hf_ids(spec, texts)
    leading = [" a fine film", "  two spaces"]
    got, ref = op_token_ids(op, leading), _hf_ids(spec, leading)
    space = [piece for piece, _ in spec["model"]["vocab"]].index("\u2581")
    assert got == [[r[0], space, *r[1:]] for r in ref]


def test_unigram_refusals_name_what_is_missing(xlmr_spec):
    """A Unigram pipeline the op cannot express gets one line naming the step and the routes that exist."""
    from export.text_input import op_settings

    spec, settings = xlmr_spec
    punct = json.loads(json.dumps(spec))
    punct["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "Punctuation", "behavior": "isolated"},
                                                                    {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]}
    with pytest.raises(UnsupportedError) as e:
        op_settings(punct, settings)
    assert "Punctuation + Metaspace" in str(e.value) and "SentencepieceTokenizer" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UnsupportedError, match="truncates long texts other than from the right"):
        op_settings(spec, {**settings, "truncation_side": "left"})
    with pytest.raises(UnsupportedError, match="no unknown token"):
        op_settings({**spec, "model": {**spec["model"], "unk_id": None}}, settings)


@pytest.mark.parametrize("unigram", ["albert"], indirect=True)
def test_mediapipe_sentencepiece_albert(unigram, tmp_path):
    """ALBERT (lowercasing Unigram, [CLS]/[SEP]): the MediaPipe file carries the same sentencepiece ModelProto as the ONNX op
    (MediaPipe's SentencePiece tokenizer metadata) and MediaPipe's TextClassifier gives the ids path's scores on the raw text."""
    from distill.teacher import load_teacher
    from edgecore.tokenizer import load_tokenizer
    from export.mediapipe import to_mediapipe_tflite
    from export.text_input import op_settings

    _, ckpt, encoder, _, _, checked = unigram
    model_file = tmp_path / "sentencepiece.model"
    model_file.write_bytes(op_settings(load_tokenizer(ckpt).spec, asdict(encoder.settings)).model)
    texts = checked   # 120 real sentences, a long text, the accented ones and the probes (empty, 3,000 characters, emoji, ...)
    art = to_mediapipe_tflite(load_teacher(ckpt).model, asdict(encoder.settings), model_file, LABELS, tmp_path / "albert.fp32.mediapipe.tflite",
                              validate_with=[(t, encoder.encode_np([t])) for t in texts])
    v = art.validation
    assert v["sentences"] == len(texts) and v["agreement_litert"] == 1.0
    assert v["agreement_vs_ids"] == 1.0 and v["rows_differing_vs_ids"] == 0 and v["max_abs_prob_diff_vs_ids"] < 1e-5
    assert art.metadata["edgedistill.mediapipe.accents_differ"] == "false"
    print(f"\nMediaPipe TextClassifier (SentencePiece metadata), tiny ALBERT: {len(texts)} texts, agreement {v['agreement_vs_ids']:.2%}, "
          f"max |dp| {v['max_abs_prob_diff_vs_ids']:.2e}; size {art.size_bytes} bytes")


def test_mediapipe_refuses_cased_or_non_cls_unigram(xlmr_spec):
    """XLM-R writes <s>/</s> (MediaPipe writes literal [CLS]/[SEP]); DeBERTa-v2 is cased (MediaPipe lowercases ASCII)."""
    from export.mediapipe import check_tokenizer

    _, settings = xlmr_spec
    with pytest.raises(UnsupportedError, match="single-text template is '<s> \\$A </s>'.*SentencePiece Unigram"):
        check_tokenizer(settings)
    with pytest.raises(UnsupportedError, match="cased"):
        check_tokenizer({**settings, "template_single": "[CLS] $A [SEP]", "lowercase": False})


def test_cli_text_input_bpe_refused_up_front(tmp_path, movie, capsys, monkeypatch):
    """`export --text-input` on a BPE checkpoint: one line naming the family and both routes, non-zero exit, nothing written."""
    from cli_helpers import assert_clean, cli
    from families import build

    build("roberta", tmp_path / "roberta", movie[0][:300])
    capsys.readouterr()   # the build's progress bar
    code, out, err = cli(["export", tmp_path / "roberta", "--format", "onnx", "--precision", "fp32", "--text-input", "--out", tmp_path / "out"],
                         capsys, monkeypatch)
    assert_clean(code, out, err, "BPE", "BertTokenizer", "SentencepieceTokenizer")
    assert not (tmp_path / "out").exists()
