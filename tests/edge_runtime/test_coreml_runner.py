"""The Core ML runner behind the one runner protocol: loaded by suffix or from a bundle, int64 batches in,
float32 logits out, on Linux through the numpy MIL evaluator (edge_runtime._coreml), which is checked here too."""
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest
import torch

from edge_runtime import Bundle, load, parity
from edge_runtime.coreml import CoreMLRunner
from edgecore import UnsupportedError
from export import BundleConfig, to_coreml, write_bundle
from export.coreml import CoreMLConfig

LABELS = ("negative", "positive")


@pytest.fixture(scope="module")
def student(encoder):
    from distill import RNNStudent, RNNStudentConfig

    torch.manual_seed(4)
    return RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=8,
                                       pooling="attention")).eval()


@pytest.fixture(scope="module")
def packages(student, encoder, sentences, tmp_path_factory):
    out = tmp_path_factory.mktemp("coreml-runner")
    tokenizer = asdict(encoder.settings)
    sample = encoder.encode(sentences[:2])
    flexible = to_coreml(student, sample, out / "s.fp32.mlpackage", CoreMLConfig(labels=LABELS, tokenizer=tokenizer))
    fixed = to_coreml(student, sample, out / "s.fixed.mlpackage",
                      CoreMLConfig("int8", labels=LABELS, tokenizer=tokenizer, sequence="fixed", max_seq_len=32))
    return flexible, fixed


def _torch(student, feeds):
    with torch.no_grad():
        return student(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()


def test_importing_edge_runtime_does_not_import_coremltools():
    code = ("import sys, edge_runtime, edge_runtime.coreml, edge_runtime._coreml; "
            "assert 'coremltools' not in sys.modules, 'edge_runtime imported coremltools'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_load_dispatches_mlpackage_to_the_coreml_runner(packages, student, encoder, sentences):
    runner = load(packages[0].path)
    assert isinstance(runner, CoreMLRunner)
    assert (runner.info.format, runner.info.precision, runner.info.provider) == ("coreml", "fp32", "mil-numpy-evaluator")
    assert runner.input_names == ("input_ids", "attention_mask") and runner.info.extra["labels"] == list(LABELS)
    feeds = encoder.encode_np(sentences[:6])   # int64, padded, batch 6
    logits = runner(feeds)
    assert logits.shape == (6, 2) and logits.dtype == np.float32
    assert np.abs(logits - _torch(student, feeds)).max() < 1e-4


def test_fixed_length_package_pads_rows_and_refuses_longer_ones(packages, student, encoder, sentences):
    runner = load(packages[1].path)
    assert runner.info.extra["sequence"]["kind"] == "fixed" and runner.info.precision == "int8"
    assert packages[1].inputs[0].shape == (1, 32)
    short = [s for s in sentences if len(encoder.ids([s])[0]) < 32][:4]
    feeds = encoder.encode_np(short)
    assert feeds["input_ids"].shape[1] < 32                                 # each row is padded to 32 inside
    report = parity(runner(feeds), _torch(student, feeds), _torch(student, feeds), fmt="coreml", precision="int8")
    assert report.passed and report.agreement_with_source == 1.0
    too_long = {k: np.ones((1, 40), np.int64) for k in feeds}
    with pytest.raises(UnsupportedError, match="maximum sequence length 32"):
        runner(too_long)


def test_bundle_carries_the_package_and_its_spec_checks(packages, student, base_dir, encoder, sentences, tmp_path):
    fp32, int8 = packages
    out = write_bundle(tmp_path / "bundle", [int8, fp32], base_dir, BundleConfig("tiny", LABELS, asdict(encoder.settings)))
    bundle = Bundle.open(out)                                                # verifies every file's sha256
    listed = {f["path"] for f in bundle.manifest["files"]}
    assert "tiny.int8.mlpackage/Data/com.apple.CoreML/model.mlmodel" in listed
    entry = bundle.model_entry("int8", "coreml")
    assert entry["validation"]["spec"]["compressed_weights"]["bits"] == {"8": 1}
    assert entry["validation"]["spec"]["inputs"][0]["shape"] == [1, 32]
    runner = load(out, precision="fp32")
    feeds = bundle.encode(sentences[:3])
    assert np.abs(runner(feeds) - _torch(student, feeds)).max() < 1e-4


def test_evaluator_names_an_op_it_cannot_evaluate(tmp_path):
    from coremltools.converters.mil import Builder as mb

    from edge_runtime._coreml import MILEvaluator, UnsupportedOpError, coremltools

    ct = coremltools()

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 8, 8))], opset_version=ct.target.iOS17)
    def program(x):
        y = mb.conv(x=x, weight=np.ones((4, 3, 3, 3), np.float32), name="edge_detector")   # conv: no kernel, no value inference
        return mb.relu(x=y)

    model = ct.convert(program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
                       compute_precision=ct.precision.FLOAT32, skip_model_load=True)
    model.save(str(tmp_path / "conv.mlpackage"))
    with pytest.raises(UnsupportedOpError, match=r"conv.*'edge_detector'"):
        MILEvaluator.from_package(tmp_path / "conv.mlpackage")
