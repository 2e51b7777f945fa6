"""Core ML export, checked without a Mac: the saved package's MIL program is evaluated with numpy and
compared with PyTorch. Tiny models are built here; sentences are the real movie snippets."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgecore import ConfigError, OutputExistsError, ParityError
from export import to_coreml
from export.coreml import CoreMLConfig, labels_of, read_metadata

LABELS = ("negative", "positive")


def _rows(encoder, sentences):
    """Feeds that exercise lengths and padding: one short sentence alone, then a padded batch of four."""
    short = encoder.encode(sentences[:1])
    batch = encoder.encode(sentences[1:5])
    return [short, batch]


def _reference(model, feed):
    with torch.no_grad():
        out = model(**feed)
    return getattr(out, "logits", out).numpy()


def _evaluate(path, feed):
    from edge_runtime.coreml import CoreMLRunner

    runner = CoreMLRunner(path)
    assert runner.info.provider == "mil-numpy-evaluator"   # Linux: no Core ML runtime, the numpy evaluator
    return runner({k: v.numpy() for k, v in feed.items()})


def _spec_ops(path):
    """Op types in the package's own protobuf (not through our helpers)."""
    from edge_runtime._coreml import coremltools

    spec = coremltools().utils.load_spec(str(path))
    block = spec.mlProgram.functions["main"].block_specializations
    ops = [op.type for b in block.values() for op in b.operations]
    return ops


@pytest.fixture(scope="module")
def lstm_student(make_tiny_student):
    return make_tiny_student()


@pytest.fixture(scope="module")
def lstm_fp32(lstm_student, encoder, sentences, tmp_path_factory):
    path = tmp_path_factory.mktemp("coreml") / "bilstm.fp32.mlpackage"
    config = CoreMLConfig("fp32", labels=LABELS, tokenizer={"max_len": 64, "pad_id": 0, "lowercase": True})
    return to_coreml(lstm_student, encoder.encode(sentences[:2]), path, config, validate_with=[encoder.encode(sentences[2:18])])


def test_importing_export_does_not_import_coremltools():
    code = "import sys, export; assert 'coremltools' not in sys.modules, 'export imported coremltools'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_errors_name_the_valid_choices():
    with pytest.raises(ConfigError, match="fp32, fp16, int8, palettize4, palettize6"):
        CoreMLConfig("int4")
    with pytest.raises(ConfigError, match="iOS17, iOS18"):
        CoreMLConfig(minimum_deployment_target="iOS15")
    with pytest.raises(ConfigError, match="precision='fp16'"):
        CoreMLConfig("fp32", compute_precision="fp16")
    with pytest.raises(ConfigError, match="increasing"):
        CoreMLConfig(buckets=(64, 16))
    assert CoreMLConfig("int8").compute == "fp16" and CoreMLConfig("int8", compute_precision="fp32").compute == "fp32"
    assert json.loads(json.dumps(CoreMLConfig("palettize4", labels=LABELS).to_dict()))["precision"] == "palettize4"


def test_bilstm_package_matches_pytorch(lstm_fp32, lstm_student, encoder, sentences):
    art = lstm_fp32
    assert art.format == "coreml" and art.path.endswith(".mlpackage") and art.size_bytes > 0
    assert [(t.name, t.dtype, t.shape) for t in art.inputs] == [("input_ids", "int32", (1, "sequence")),
                                                                 ("attention_mask", "int32", (1, "sequence"))]
    spec = art.validation["spec"]
    assert spec["inputs"][0]["ranges"] == [[1, 1], [1, 128]]            # flexible sequence (RangeDim), batch 1
    assert spec["op_counts"]["lstm"] == 2                                # the native lstm op, forward + backward
    assert art.validation["sentences"] == 18 and art.validation["max_abs_logit_diff"] < 1e-4
    assert art.validation["predict"]["available"] is False               # said, not hidden
    for feed in _rows(encoder, sentences):
        got, ref = _evaluate(art.path, feed), _reference(lstm_student, feed)
        assert got.shape == ref.shape and got.dtype == np.float32
        assert np.abs(got - ref).max() < 1e-4


def test_gru_package_matches_pytorch(encoder, sentences, tmp_path):
    from distill import RNNStudent, RNNStudentConfig

    torch.manual_seed(1)
    gru = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, cell="gru", embed_dim=16, hidden=8,
                                      head_hidden=0, pooling="mean")).eval()
    art = to_coreml(gru, encoder.encode(sentences[:2]), tmp_path / "gru.mlpackage", CoreMLConfig(labels=LABELS))
    assert art.validation["spec"]["op_counts"]["while_loop"] == 2        # PyTorch's GRU maths as a loop
    for feed in _rows(encoder, sentences):
        assert np.abs(_evaluate(art.path, feed) - _reference(gru, feed)).max() < 1e-4


def test_stacked_bidirectional_lstm_matches_pytorch(encoder, sentences, tmp_path):
    class Tagger(torch.nn.Module):   # nn.LSTM(bidirectional=True) converts to one 'bidirectional' lstm op per layer
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(encoder.settings.vocab_size, 8)
            self.rnn = torch.nn.LSTM(8, 6, num_layers=2, bidirectional=True, batch_first=True)
            self.head = torch.nn.Linear(24, 3)

        def forward(self, input_ids, attention_mask):
            out, (h, _) = self.rnn(self.embed(input_ids) * attention_mask.unsqueeze(-1))
            return self.head(torch.cat([out[:, 0], out[:, -1]], -1))     # both ends: time alignment matters

    torch.manual_seed(2)
    model = Tagger().eval()
    feed = encoder.encode(sentences[:1])
    art = to_coreml(model, feed, tmp_path / "tagger.mlpackage", CoreMLConfig(labels=("a", "b", "c")))
    assert art.validation["max_abs_logit_diff"] < 1e-4
    from edge_runtime._coreml import load_program

    program, _ = load_program(art.path)
    lstms = [op for op in program.functions["main"].operations if op.op_type == "lstm"]
    assert [op.inputs["direction"].val for op in lstms] == ["bidirectional", "bidirectional"]


def test_bert_package_matches_pytorch(tiny_bert_dir, encoder, sentences, tmp_path):
    from distill.teacher import load_classifier

    bert = load_classifier(tiny_bert_dir)
    art = to_coreml(bert, encoder.encode(sentences[:2]), tmp_path / "bert.mlpackage", CoreMLConfig(max_seq_len=64),
                    validate_with=[encoder.encode(sentences[2:10])])
    assert art.metadata["edgedistill.route"].startswith("torch.export")
    assert art.validation["spec"]["inputs"][0]["ranges"] == [[1, 1], [2, 64]]
    assert json.loads(art.metadata["edgedistill.labels"]) == list(LABELS)   # from the checkpoint's id2label
    for feed in _rows(encoder, sentences):
        assert np.abs(_evaluate(art.path, feed) - _reference(bert, feed)).max() < 1e-4


@pytest.mark.parametrize("precision, op, bits", [("int8", "constexpr_affine_dequantize", 8),
                                                 ("palettize4", "constexpr_lut_to_dense", 4),
                                                 ("palettize6", "constexpr_lut_to_dense", 6)])
def test_compressed_packages_hold_compressed_weights(precision, op, bits, lstm_student, lstm_fp32, encoder, sentences, tmp_path):
    art = to_coreml(lstm_student, encoder.encode(sentences[:2]), tmp_path / f"s.{precision}.mlpackage",
                    CoreMLConfig(precision, labels=LABELS), validate_with=[encoder.encode(sentences[2:18])])
    assert op in _spec_ops(art.path)                                     # in the protobuf itself
    weights = art.validation["spec"]["compressed_weights"]
    assert weights["bits"] == {str(bits): 1} and weights["params"] == encoder.settings.vocab_size * 16
    assert weights["dense_over_threshold"] == {}                         # nothing big left uncompressed
    assert art.size_bytes < lstm_fp32.size_bytes * {8: 0.35, 6: 0.3, 4: 0.2}[bits]
    assert art.validation["agreement"] == 1.0 and not art.validation["failures"]
    assert art.validation["evaluator_ops"]["constexpr"] == 1             # decompressed by the evaluator, not skipped


def test_fp16_package_computes_in_fp16(lstm_student, lstm_fp32, encoder, sentences, tmp_path):
    art = to_coreml(lstm_student, encoder.encode(sentences[:2]), tmp_path / "s.fp16.mlpackage", CoreMLConfig("fp16", labels=LABELS),
                    validate_with=[encoder.encode(sentences[2:18])])
    assert art.metadata["edgedistill.compute_precision"] == "fp16"
    assert art.validation["spec"]["op_counts"]["cast"] >= 2               # int32/fp32 IO around an fp16 body
    assert art.size_bytes < lstm_fp32.size_bytes * 0.55
    diff = art.validation["max_abs_logit_diff"]
    assert 0 < diff < 0.05                                               # fp16 rounding is real, and small


def test_a_refused_range_falls_back_to_one_fixed_length(tmp_path):
    class Pairs(torch.nn.Module):   # reshapes by T // 2: torch.export cannot keep T free in 2..16
        def __init__(self):
            super().__init__()
            self.embed, self.head = torch.nn.Embedding(100, 4), torch.nn.Linear(8, 2)

        def forward(self, input_ids, attention_mask):
            x = self.embed(input_ids) * attention_mask.unsqueeze(-1)
            return self.head(x.reshape(1, input_ids.shape[1] // 2, 8).sum(1))

    torch.manual_seed(5)
    ids = torch.randint(1, 100, (1, 12))
    art = to_coreml(Pairs().eval(), {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, tmp_path / "pairs.mlpackage",
                    CoreMLConfig(labels=LABELS, max_seq_len=16))
    sequence = json.loads(art.metadata["edgedistill.sequence"])
    assert sequence["kind"] == "fixed" and "Constraints violated" in sequence["range_failed"]   # said why
    assert art.inputs[0].shape == (1, 16) and art.validation["max_abs_logit_diff"] < 1e-4     # padded rows still agree


def test_package_metadata_holds_labels_tokenizer_and_versions(lstm_fp32):
    meta = read_metadata(lstm_fp32.path)
    assert labels_of(lstm_fp32.path) == list(LABELS)
    assert json.loads(meta["edgedistill.tokenizer"]) == {"lowercase": True, "max_len": 64, "pad_id": 0}
    assert meta["tool.coremltools"] == "9.0" and meta["tool.torch"].startswith("2.13")
    assert meta["edgedistill.source"] == "RNNStudent" and meta["edgedistill.precision"] == "fp32"
    from edge_runtime._coreml import read_metadata as full

    described = full(lstm_fp32.path)
    assert described["author"] == "edgedistill" and "negative, positive" in described["shortDescription"]
    assert meta["edgedistill.author"] == "edgedistill" and meta["edgedistill.description"] == described["shortDescription"]
    assert meta == lstm_fp32.metadata | {k: v for k, v in meta.items() if k.startswith("com.github.apple")}


def test_kmeans_palette_is_exact_on_few_values_and_beats_an_even_grid():
    from export._coreml.palette import kmeans_1d

    few = np.array([0.5, -1.0, 0.5, 2.0, 2.0], np.float16)
    centroids, index = kmeans_1d(few, 4)
    assert (centroids[index] == few).all()                              # <= 16 distinct values: lossless
    weights = np.random.default_rng(0).standard_normal(100_000).astype(np.float16) * 0.05
    centroids, index = kmeans_1d(weights, 16)
    grid = np.linspace(weights.min(), weights.max(), 16, dtype=np.float32)
    grid_error = np.abs(grid[np.abs(weights[:, None] - grid[None]).argmin(1)] - weights).mean()
    assert np.abs(centroids[index] - weights).mean() < 0.6 * grid_error


def test_a_wrong_conversion_is_caught_and_nothing_is_written(encoder, sentences, tmp_path):
    class LengthDependent(torch.nn.Module):   # a Python branch on the length: jit.trace freezes the sample's side
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(encoder.settings.vocab_size, 4)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, input_ids, attention_mask):
            x = self.embed(input_ids)
            if input_ids.shape[1] > 8:
                x = x * 3.0
            return self.head(x.mean(1))

    torch.manual_seed(3)
    short = encoder.encode(["a fine film"])
    long = encoder.encode([s for s in sentences if len(s.split()) > 12][:4])
    path = tmp_path / "wrong.mlpackage"
    with pytest.raises(ParityError, match="coreml|Core ML"):
        to_coreml(LengthDependent().eval(), short, path, CoreMLConfig(labels=LABELS, route="trace"), validate_with=[long])
    assert not path.exists() and list(tmp_path.iterdir()) == []
    art = to_coreml(LengthDependent().eval(), short, path, CoreMLConfig(labels=LABELS, route="trace"), validate_with=[long], strict=False)
    assert art.validation["failures"] and path.exists()                 # kept on request, failures recorded


def test_paths_are_checked_before_converting(lstm_fp32, lstm_student, encoder, tmp_path):
    with pytest.raises(OutputExistsError, match="force"):
        to_coreml(lstm_student, encoder.encode(["hi"]), lstm_fp32.path, CoreMLConfig(labels=LABELS))
    with pytest.raises(ConfigError, match=r"\.mlpackage"):
        to_coreml(lstm_student, encoder.encode(["hi"]), tmp_path / "s.mlmodel", CoreMLConfig(labels=LABELS))
    with pytest.raises(ConfigError, match="labels"):
        to_coreml(lstm_student, encoder.encode(["hi there"]), tmp_path / "s.mlpackage", CoreMLConfig())
