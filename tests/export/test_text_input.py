"""Raw text in: the string-input ONNX (onnxruntime-extensions BertTokenizer op) and the MediaPipe Tasks .tflite,
each against the ids-input path on real sentences, on a tiny BERT (tests/families.py) and a tiny BiLSTM."""
from __future__ import annotations

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
    from export.text_input import bert_op_settings

    build("roberta", tmp_path / "roberta", movie[0][:300])
    settings = asdict(Encoder(tmp_path / "roberta", 64).settings)
    with pytest.raises(UnsupportedError) as e:
        bert_op_settings(load_tokenizer(tmp_path / "roberta").spec, settings)
    message = str(e.value)
    assert "BPE" in message and "WordPiece" in message and "\n" not in message
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
