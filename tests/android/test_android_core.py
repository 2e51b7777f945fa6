"""android_demo/core (plain Java 8) built with javac and run under JUnit 5 against vectors the Python
reference writes here, at test time, from a real exported bundle.

Skipped, with the reason, only where javac / java / the JUnit console launcher are absent.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "android_demo" / "core" / "src"
JUNIT_JARS = ("/usr/share/java/junit-platform-console-standalone.jar",)
INSTALL_HINT = "apt-get install -y openjdk-17-jdk-headless junit5 (or set JUNIT_CONSOLE_JAR to a junit-platform-console-standalone jar)"


def _toolchain() -> tuple[str, str, str] | str:
    javac, java = shutil.which("javac"), shutil.which("java")
    jar = next((j for j in (os.environ.get("JUNIT_CONSOLE_JAR"), *JUNIT_JARS) if j and Path(j).is_file()), None)
    if not javac or not java:
        return f"javac/java not found: the Android core tests need a JDK; {INSTALL_HINT}"
    if not jar:
        return f"the JUnit 5 console launcher jar was not found; {INSTALL_HINT}"
    return javac, java, jar


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"android_demo_tools_{name}", ROOT / "android_demo" / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def toolchain():
    tools = _toolchain()
    if isinstance(tools, str):
        pytest.skip(tools)
    return tools


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, encoder, base_dir, movie):
    """A real bundle (int8 default + fp32) of a tiny BiLSTM, its output bias centred so both labels occur."""
    from distill import RNNStudent, RNNStudentConfig
    from export import BundleConfig, QuantConfig, quantize_onnx, to_onnx, write_bundle

    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=8)).eval()
    with torch.no_grad():
        logits = model(**encoder.encode(movie[0][:256]))
        last = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias[1] -= (logits[:, 1] - logits[:, 0]).median()
    tmp = tmp_path_factory.mktemp("android-bundle")
    fp32 = to_onnx(model, encoder.encode(movie[0][:2]), tmp / "s.onnx")
    int8 = quantize_onnx(fp32, tmp / "s.int8.onnx", QuantConfig("int8"))
    config = BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings))
    return write_bundle(tmp / "bundle", [int8, fp32], base_dir, config, parity={"agreement": 1.0})


@pytest.fixture(scope="module")
def javac_job(toolchain, tmp_path_factory):
    """javac (core + tests, --release 8) started in the background: it needs no vectors, so it overlaps their writing.

    --release 8 keeps the core Java 8 for minSdk 24; android.jar is not on the class path, so an android.* import fails here.
    """
    javac, _, jar = toolchain
    classes = tmp_path_factory.mktemp("android-classes")
    sources = sorted(str(p) for p in CORE.rglob("*.java"))
    cmd = [javac, "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "--release", "8", "-Xlint:-options", "-encoding", "UTF-8",
           "-cp", jar, "-d", str(classes), *sources]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield proc, classes, time.perf_counter()
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def vectors(javac_job, bundle_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("android-vectors")
    t0 = time.perf_counter()
    summary = _load_tool("android_vectors").write_vectors(bundle_dir, out)
    summary["families"] = _load_tool("family_vectors").write_family_vectors(bundle_dir, out)
    summary["long_text"] = _load_tool("long_text_vectors").write_long_text_vectors(out)
    summary["wall_seconds"] = time.perf_counter() - t0
    return out, summary


class JUnitRun:
    def __init__(self, cases: dict, stdout: str, seconds: dict, out: Path):
        self.cases, self.stdout, self.seconds, self.out = cases, stdout, seconds, out

    def assert_class_passed(self, cls: str, min_tests: int = 1) -> None:
        mine = {k: v for k, v in self.cases.items() if k[0] == f"org.edgedistill.core.{cls}"}
        assert len(mine) >= min_tests, f"{cls}: expected at least {min_tests} JUnit tests, found {sorted(n for _, n in mine)}\n{self.stdout[-3000:]}"
        bad = {name: outcome for (_, name), outcome in mine.items() if outcome != "passed"}
        assert not bad, f"{cls}: {bad}\n{self.stdout[-6000:]}"

    def parity_line(self, what: str) -> str:
        return next((ln for ln in self.stdout.splitlines() if ln.startswith(f"PARITY {what} ")), "")


@pytest.fixture(scope="module")
def junit(toolchain, javac_job, bundle_dir, vectors, tmp_path_factory) -> JUnitRun:
    _, java, jar = toolchain
    proc, classes, started = javac_job
    compiler_output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"javac failed:\n{compiler_output}"
    seconds = {"javac": time.perf_counter() - started, "vectors": vectors[1]["wall_seconds"]}
    work = tmp_path_factory.mktemp("android-junit")
    reports, out = work / "reports", work / "out"
    out.mkdir()
    t0 = time.perf_counter()
    cmd = [java, f"-Dedgedistill.bundle={bundle_dir}", f"-Dedgedistill.vectors={vectors[0]}", f"-Dedgedistill.out={out}",
           "-jar", jar, "--disable-banner", "--disable-ansi-colors", "--details=tree", "--class-path", str(classes),
           "--select-package", "org.edgedistill.core", "--reports-dir", str(reports)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    seconds["junit"] = time.perf_counter() - t0
    cases = {}
    for xml in reports.glob("*.xml"):
        for case in ET.parse(xml).getroot().iter("testcase"):
            outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else \
                      "skipped" if case.find("skipped") is not None else "passed"
            cases[(case.get("classname"), case.get("name"))] = outcome
    assert cases, f"the JUnit console launcher ran no tests (exit {run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    return JUnitRun(cases, run.stdout + run.stderr, seconds, out)


def test_core_is_plain_java_without_android_imports():
    offenders = [p.name for p in (CORE / "main").rglob("*.java") if "import android." in p.read_text(encoding="utf-8")]
    assert not offenders, f"android_demo/core must not import android.*: {offenders}"


def test_vectors_cover_the_required_texts(vectors):
    print(json.dumps({k: v for k, v in vectors[1].items() if k not in ("tokenizer", "families", "long_text")}))
    _, summary = vectors
    cats = summary["categories"]
    assert summary["texts"] >= 10_000
    assert cats["movie-test"] == 2000
    assert {"amazon-snippets", "tweets", "nyt-snippets", "handmade", "fuzz"} <= set(cats)
    assert summary["tokenizer"]["truncated@64"] > 0 and summary["tokenizer"]["truncated@16"] > 0
    assert set(summary["golden"]["model_labels"]) == {"negative", "positive"}, summary["golden"]
    ml = summary["multilabel"]
    assert ml["rows"] >= 2000 and ml["at_threshold"] >= 100 and ml["extreme_logits"] >= 100 and ml["empty"] > 0 and ml["nan_logits"] > 0, ml
    assert summary["task_manifests"]["read"] >= 6 and summary["task_manifests"]["refused"] >= 10, summary["task_manifests"]


def test_java_tokenizer_equals_python_on_every_vector(junit, vectors):
    junit.assert_class_passed("TokenizerParityTest", 3)
    line = junit.parity_line("tokenizer")
    assert "mismatches=0" in line, line
    print(line)


FAMILIES = ("bert", "mpnet", "roberta", "modernbert", "xlmr", "albert", "deberta", "bpe-variants", "wordlevel")


def test_family_vectors_cover_every_family_texts_and_pairs(vectors):
    families = vectors[1]["families"]
    print(json.dumps(families, indent=1))
    assert set(families["families"]) == set(FAMILIES)
    for name, f in families["families"].items():
        assert f["vectors"] >= 10_000 and f["pairs"] >= 4000 and f["truncated"] > 1000, (name, f)
        assert f["siamese_pairs"] == f["pairs"] and f["siamese_truncated_sides"] > 500, (name, f)
    models = {f["model"] for f in families["families"].values()}
    assert models == {"WordPiece", "BPE", "Unigram", "WordLevel"}


def test_java_tokenizers_equal_python_for_every_family(junit):
    """Each family's encodings (singles and pairs: ids, type ids, truncation), its normalizer on whole texts,
    the Unicode normalizers and ByteLevel classes on every code point, and the refusals."""
    junit.assert_class_passed("PipelineParityTest", 6)
    for name in FAMILIES:
        line = junit.parity_line(f"family={name}")
        assert "mismatches=0" in line and "vectors=" in line, (name, line)
        print(line[:160])
    lines = [ln for ln in junit.stdout.splitlines() if ln.startswith(("PARITY family_normalizer=", "PARITY pipeline_codepoints "))]
    assert len(lines) >= 8 and all("mismatches=0" in ln for ln in lines), lines
    print("\n".join(lines))


def test_java_normalizer_and_pretokenizer_equal_python_on_every_code_point(junit):
    junit.assert_class_passed("UnicodeSweepTest", 3)
    for what in ("normalizer", "pretokenizer", "normalized_texts"):
        assert "mismatches=0" in junit.parity_line(what), junit.parity_line(what)
        print(junit.parity_line(what))


def test_java_softmax_and_labels_equal_numpy_on_golden_logits(junit):
    junit.assert_class_passed("SoftmaxGoldenTest", 3)
    assert "label_mismatches=0" in junit.parity_line("softmax")
    print(junit.parity_line("softmax"))


def test_java_multilabel_decisions_equal_numpy(junit):
    """sigmoid probabilities within 1e-6 and identical labels over threshold on random, saturated (+-80, 1e4,
    3.4e38, inf), NaN and exactly-at-threshold logits; plus the sigmoid's exact values and the count checks."""
    junit.assert_class_passed("MultiLabelGoldenTest", 5)
    line = junit.parity_line("multilabel")
    assert "decision_mismatches=0" in line, line
    print(line)


def test_java_reads_task_manifests_and_refuses_bad_ones(junit):
    """Every manifest tools/android_vectors.py writes with a task block is opened and verified by the Java core and
    read as cases.json says (problem type, thresholds, pair encoding, inputs, a sample decided and encoded through
    it), or refused with a one-line BundleException naming the field (threshold count, 1.5, NaN, inf, a string,
    missing, unknown problem_type / pair_encoding / input, siamese without pairs or pair inputs, ...)."""
    junit.assert_class_passed("TaskManifestTest", 5)
    line = junit.parity_line("task_manifests")
    assert "mismatches=0" in line, line
    print(line)
    print("\n".join(ln for ln in junit.stdout.splitlines() if ln.startswith("refused ")))


def test_java_siamese_sides_equal_python_single_text_encodings(junit):
    """Each family's 4,200 pairs: each side encoded alone (siamese) equals the reference's single-text encoding of
    that side (ids, type ids, truncation at max_len per side) and fills input_ids / pair_input_ids and both masks.
    (The token_type_ids row a joint pair model is fed is checked against the reference in PipelineParityTest.)"""
    junit.assert_class_passed("SiameseParityTest", 1)
    for name in FAMILIES:
        line = junit.parity_line(f"siamese family={name}")
        assert "mismatches=0" in line and "pairs=4200" in line, (name, line)
        print(line)


def test_task_manifests_agree_with_the_python_schema(vectors):
    """The manifests the Java core reads validate against edge_runtime.schema.MANIFEST_SCHEMA, once that schema
    describes the new task fields (built on the Python side); until then this says so and is skipped."""
    from edge_runtime.schema import MANIFEST_SCHEMA, SchemaError, validate

    described = set(MANIFEST_SCHEMA["properties"].get("task", {}).get("properties", {}))
    if not {"problem_type", "thresholds", "pair_encoding"} <= described:
        pytest.skip(f"edge_runtime.schema MANIFEST_SCHEMA task describes only {sorted(described)}, not problem_type/thresholds/pair_encoding yet")
    folder = vectors[0] / "task_manifests"
    accepted_by_schema_only = []
    for case in json.loads((folder / "cases.json").read_text()):
        manifest = json.loads((folder / f"{case['name']}.json").read_text())
        if case["expect"] == "read":
            validate(manifest, "manifest")
        else:
            try:
                validate(manifest, "manifest")
                accepted_by_schema_only.append(case["name"])
            except SchemaError:
                pass
    print("refused by the Java core but valid under the schema (cross-field rules a JSON schema may not express):", accepted_by_schema_only)


LONG_TEXT_FAMILIES = ("bert", "mpnet", "roberta", "xlm-roberta")


def test_long_text_vectors_cover_strategies_windows_and_bad_input(vectors):
    """tools/long_text_vectors.py: four tests/families.py tokenizers (WordPiece, BPE, Unigram), movie texts of about
    100-2,000 content tokens, runs of one word at the window edges, empty / punctuation / zero-width / whitespace
    texts and a ~200,000-character one; every strategy (13 settings) and 12 windows settings."""
    lt = vectors[1]["long_text"]
    print(json.dumps(lt, indent=1))
    assert set(lt["families"]) == set(LONG_TEXT_FAMILIES)
    assert {"movie", "run", "empty", "punctuation", "zero-width", "huge"} <= set(lt["categories"]) and lt["huge_chars"] >= 200_000
    for name, f in lt["families"].items():
        assert f["truncation_vectors"] >= 500 and f["window_vectors"] >= 450 and f["windows"] >= 2000, (name, f)
        assert f["cut"] > 300 and f["capped"] > 100 and f["one_window"] > 100, (name, f)
        assert f["content_tokens"]["min_movie"] <= 150 and f["content_tokens"]["max_movie"] >= 1700 and f["content_tokens"]["huge"] > 50_000, (name, f)
    assert {f["model"] for f in lt["families"].values()} == {"WordPiece", "BPE", "Unigram"}
    assert lt["aggregate"]["rows"] >= 1000 and lt["aggregate"]["ties"] >= 500, lt["aggregate"]
    assert lt["manifests"]["read"] >= 6 and lt["manifests"]["refused"] >= 10, lt["manifests"]


def test_java_long_text_equals_python(junit):
    """Every truncation strategy's encoding (ids, mask, type ids, whether it cut) and every window of every windows
    setting (count; ids, attention mask, token type ids of each, as the app feeds them) equal the reference for each
    family; mean / max aggregation (single- and multi-label, ties) equal edgecore.longtext.aggregate; the long_text /
    truncation records read or refused; a real bundle opened with tail truncation and windows."""
    junit.assert_class_passed("LongTextParityTest", 5)
    for name in LONG_TEXT_FAMILIES:
        line = junit.parity_line(f"long_text family={name}")
        assert "mismatches=0" in line and "window_vectors=" in line, (name, line)
        print(line)
    for what in ("long_text_aggregate", "long_text_manifests"):
        line = junit.parity_line(what)
        assert "mismatches=0" in line, line
        print(line)


def test_java_latency_stats_equal_edge_runtime(junit):
    junit.assert_class_passed("LatencyStatsTest", 2)
    print(junit.parity_line("latency_stats"))


def test_java_reads_and_verifies_bundles(junit):
    junit.assert_class_passed("BundleManifestTest", 9)
    junit.assert_class_passed("JsonTest", 3)


def test_java_bench_line_is_read_by_the_host(junit):
    from edge_runtime.adb import DeviceBenchConfig, DeviceBenchError, parse_instrument_output, result_from_json

    junit.assert_class_passed("BenchReportTest", 4)
    line = (junit.out / "bench_line.json").read_text()
    for output in (line + "\n", f"INSTRUMENTATION_RESULT: stream={line}\nINSTRUMENTATION_CODE: -1\n"):   # am's plain and -r modes
        result = result_from_json(parse_instrument_output(output, "emulator-5554"), "emulator-5554", DeviceBenchConfig())
        assert result.runs == 5 and result.latency_ms["p50"] == 1.5 and result.peak_rss_mb == 20.0
        assert result.latencies_ms == [1.25, 1.5, 1.0, 2.0, 1.75] and result.info["device"]["model"] == 'Pixel "7" \u00e9'
    with pytest.raises(DeviceBenchError, match="model.onnx is missing second line"):
        parse_instrument_output((junit.out / "bench_error_line.json").read_text(), "emulator-5554")


def test_no_java_test_was_skipped_or_failed(junit):
    outcomes = list(junit.cases.values())
    print(f"JUnit: {len(outcomes)} tests; vectors {junit.seconds['vectors']:.1f} s, javac {junit.seconds['javac']:.1f} s "
          f"(in parallel with the vectors), junit {junit.seconds['junit']:.1f} s")
    assert len(outcomes) >= 40
    assert outcomes.count("passed") == len(outcomes), {k: v for k, v in junit.cases.items() if v != "passed"}
