"""Fast peers (issue #23): model2vec (its own distillation of the teacher's base + StaticModelForClassification),
fastText, and MediaPipe Model Maker's average-word-embedding classifier, on the built-in movie-snippets data with the
same test split and one latency harness.

    python benchmarks/peers/fast_peers.py             # full: 7,041 train / 1,000 dev / 2,000 test, 2,000 timed sentences per peer
    python benchmarks/peers/fast_peers.py --quick     # smoke: 1,000 / 200 / 200, short training, 200 timed sentences

Runs in the main venv; the peers train and run as subprocesses (one thread each: OMP_NUM_THREADS=1):
- .venv-fast (`make fast-peers-env`, benchmarks/peers/requirements-fast.txt): model2vec 0.10 (transformers 5.3, which its
  `distill` extra pins below 5.4, and huggingface-hub 1.x, which transformers 4.57 in .venv-peers refuses), fastText
  (fasttext-numpy2) and the MediaPipe Tasks runtime that runs Model Maker's .tflite on a raw string;
- .venv-mm (`make mm-env`, benchmarks/peers/requirements-mm.txt): mediapipe-model-maker (TensorFlow 2.15, numpy 1.26),
  training and .tflite export only. If it is missing or fails, the error is recorded in the results and the rest goes on.

Per peer: test accuracy on the test sentences, agreement with the teacher's test predictions (the cached fine-tuned
MiniLM-L6, `distill.finetune_teacher(ds, TeacherConfig())`), train wall seconds (inside the worker: model2vec's
distillation + fit; fastText's final training (+ quantization for .ftz; the dev grid is reported apart); Model Maker's
create), file size, and latency at batch 1, 1 thread: end to end (raw text -> label, tokenization included;
fast_timing.time_text_classifiers, all peers interleaved in one process over the same test sentences) and, where the
model runs apart from its tokenizer, model only: model2vec's ONNX export in onnxruntime at seq 64 through
edge_runtime.bench_interleaved, as this toolkit's files are timed (`--ours-onnx` adds one of ours to that run).

Writes benchmarks/results/fast_peers[_quick].{json,md} and prints the Markdown; work files and logs go to runs/fast-peers[-quick].
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]

RESULTS = ROOT / "benchmarks" / "results"
ROW_KEYS = ("name", "tool", "version", "accuracy", "agreement", "p50_ms_e2e", "p90_ms_e2e", "p50_ms_model", "size_mb", "train_s")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def child_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
            "TF_NUM_INTEROP_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1",
            "TOKENIZERS_PARALLELISM": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}


def run_worker(cmd: list, log_path: Path) -> dict:
    """One worker process: {seconds, returncode, error (last stderr line, if it failed)}."""
    t0 = time.perf_counter()
    with open(log_path, "w") as f:
        proc = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=f, text=True, env=child_env(), cwd=ROOT)
    log_path.with_suffix(".out").write_text(proc.stdout)
    res = {"seconds": time.perf_counter() - t0, "returncode": proc.returncode}
    if proc.returncode:
        lines = [ln for ln in log_path.read_text().splitlines() if ln.strip()]
        res["error"] = (lines[-1] if lines else proc.stdout.strip()[-300:])[:400]
    return res


def accuracy(pred: list[int], gold: list[int]) -> float:
    return sum(int(p) == int(g) for p, g in zip(pred, gold, strict=True)) / len(gold)


def make_row(name: str, tool: str, ver: str, pred: list[int], gold: list[int], teacher: list[int], e2e: dict | None,
             size_bytes: int, train_s: float | None, p50_model: float | None = None, **extra) -> dict:
    """One JSON row: the keys every consumer relies on (ROW_KEYS), then details."""
    return {"name": name, "tool": tool, "version": ver, "accuracy": accuracy(pred, gold), "agreement": accuracy(pred, teacher),
            "p50_ms_e2e": e2e["p50_ms"] if e2e else None, "p90_ms_e2e": e2e["p90_ms"] if e2e else None, "p50_ms_model": p50_model,
            "size_mb": size_bytes / 1e6, "train_s": train_s, **extra}


class OutputOf:
    """edge_runtime's OnnxRunner (same session options) fetching the graph's first output, whatever its name: model2vec's
    export calls it `probabilities`, ours `logits`."""

    def __init__(self, runner) -> None:
        self.runner, self.info = runner, runner.info
        self.output = runner.session.get_outputs()[0].name

    def __call__(self, feeds: dict):
        return self.runner.session.run([self.output], {n: feeds[n] for n in self.runner.input_names})[0]


def model_only(onnx_models: dict[str, tuple[Path, object]], texts: list[str], runs: int, warmup: int) -> dict[str, dict]:
    """ONNX Runtime latency of each file at batch 1, 1 thread, seq 64 (real tokens, no padding), interleaved, as ours are timed."""
    from edge_runtime import BenchConfig, bench_interleaved, fixed_length_feeds, load

    runners = {name: OutputOf(load(path, threads=1)) for name, (path, _) in onnx_models.items()}
    feeds = {name: fixed_length_feeds(encode, texts[:40], 64) for name, (_, encode) in onnx_models.items()}
    bench = bench_interleaved(runners, feeds, BenchConfig(warmup=warmup, runs=runs, threads=1, seq_len=64))
    return {name: {k: r.latency_ms[k] for k in ("p50", "p90", "p99", "mean")} | {"runs": r.runs} for name, r in bench.items()}


def tokenizer_encoder(tokenizer_json: Path):
    """model2vec's own tokenizer (no special tokens) -> int64 input_ids + attention_mask, right-padded."""
    import numpy as np
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_truncation()
    tok.no_padding()

    def encode(batch: list[str]) -> dict:
        rows = [tok.encode(t, add_special_tokens=False).ids for t in batch]
        width = max(1, max(len(r) for r in rows))
        ids, mask = np.zeros((len(rows), width), np.int64), np.zeros((len(rows), width), np.int64)
        for i, r in enumerate(rows):
            ids[i, :len(r)], mask[i, :len(r)] = r, 1
        return {"input_ids": ids, "attention_mask": mask}

    return encode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1,000 train / 200 dev / 200 test sentences, short training, 200 timed runs")
    p.add_argument("--runs", type=int, default=None, help="timed sentences per peer, end to end (default 2,000; --quick 200) and model only (default 1,000)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--pca-dims", type=int, default=128, help="model2vec's PCA width (ours uses 128)")
    p.add_argument("--mm-epochs", type=int, default=30, help="Model Maker: epochs of each dev-tuning run (seq_len 64 and 256)")
    p.add_argument("--no-mediapipe", action="store_true", help="skip MediaPipe Model Maker")
    p.add_argument("--ours-onnx", type=Path, default=None,
                   help="also score and time one of our ONNX files (e.g. the static student's) with the peers, end to end and model only")
    p.add_argument("--ours-tokenizer", type=Path, default=None,
                   help="its tokenizer.json (default: the one beside the file, else the teacher's); max length: the teacher encoder's")
    p.add_argument("--ours-train-s", type=float, default=None, help="its training wall seconds, for the table (measured by whoever trained it)")
    p.add_argument("--fast-venv", type=Path, default=ROOT / ".venv-fast")
    p.add_argument("--mm-venv", type=Path, default=ROOT / ".venv-mm")
    p.add_argument("--work", type=Path, default=None, help="models, data and logs (default runs/fast-peers[-quick])")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--reuse", action="store_true", help="keep the work folder and reuse the peers trained there (re-time only)")
    a = p.parse_args(argv)
    fast_py, mm_py = a.fast_venv.resolve() / "bin" / "python", a.mm_venv.resolve() / "bin" / "python"
    if not fast_py.is_file() or not list((a.fast_venv / "lib").glob("python3*/site-packages/model2vec")):
        raise SystemExit(f"error: no model2vec in {a.fast_venv}; run `make fast-peers-env` first")
    if a.ours_onnx is not None and not a.ours_onnx.is_file():
        raise SystemExit(f"error: --ours-onnx {a.ours_onnx} is not a file; give an .onnx file exported by `edgedistill export`")
    runs = a.runs or (200 if a.quick else 2000)
    model_runs = a.runs or (200 if a.quick else 1000)

    import torch

    torch.set_num_threads(1)
    from distill import TeacherConfig, finetune_teacher, load_dataset
    from distill.bases import base_path
    from distill.trainer import predict

    t_start = time.perf_counter()
    work = (a.work or ROOT / "runs" / ("fast-peers-quick" if a.quick else "fast-peers")).resolve()
    if not a.reuse:
        shutil.rmtree(work, ignore_errors=True)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("movie-snippets")
    sizes = {"train": 1000, "dev": 200, "test": 200} if a.quick else {"train": None, "dev": None, "test": None}
    data = {s: {"texts": list(getattr(ds, s).texts[:n]), "labels": [int(y) for y in getattr(ds, s).labels[:n]]} for s, n in sizes.items()}
    (work / "data.json").write_text(json.dumps(data))
    teacher = finetune_teacher(ds, TeacherConfig())
    enc = teacher.encoder
    test, gold = data["test"]["texts"], data["test"]["labels"]
    t_pred = predict(teacher.model, enc.ids(test), enc.pad).argmax(1).tolist()
    log(f"teacher {teacher.path.name}: test accuracy {accuracy(t_pred, gold):.4f} on {len(test)} sentences")

    steps, notes = {}, []
    base = base_path("minilm-l6")
    worker = HERE / "fast_peers_worker.py"
    quick = ["--quick"] if a.quick else []
    def done(name: str) -> bool:
        return a.reuse and (work / f"{name}.json").is_file()

    if not done("model2vec"):
        steps["model2vec"] = run_worker([fast_py, worker, "model2vec", work, base, "--pca-dims", a.pca_dims, *quick], logs / "model2vec.log")
        log(f"model2vec: {steps['model2vec']['seconds']:.0f} s {steps['model2vec'].get('error', '')}")
    if not done("fasttext"):
        steps["fasttext"] = run_worker([fast_py, worker, "fasttext", work, *quick], logs / "fasttext.log")
        log(f"fasttext: {steps['fasttext']['seconds']:.0f} s {steps['fasttext'].get('error', '')}")
    if a.no_mediapipe:
        notes.append("MediaPipe Model Maker: skipped (--no-mediapipe).")
    elif not mm_py.is_file():
        notes.append(f"MediaPipe Model Maker: not run, no {a.mm_venv}/bin/python (`make mm-env` builds it).")
    elif not done("mediapipe"):
        steps["mediapipe"] = run_worker([mm_py, HERE / "fast_peers_mm_worker.py", work, "--max-epochs", 2 if a.quick else a.mm_epochs], logs / "mediapipe.log")
        log(f"mediapipe model maker: {steps['mediapipe']['seconds']:.0f} s {steps['mediapipe'].get('error', '')}")
    for name, s in steps.items():
        if s["returncode"]:
            notes.append(f"{name}: worker failed (exit {s['returncode']}): {s.get('error')} (log: {logs / (name + '.log')})")
    ours = []
    if a.ours_onnx is not None:
        tok = a.ours_tokenizer or next((t for t in (a.ours_onnx.parent / "tokenizer.json", teacher.path / "tokenizer.json") if t.is_file()), None)
        if tok is None or not tok.is_file():
            raise SystemExit(f"error: no tokenizer.json for {a.ours_onnx}; give --ours-tokenizer PATH")
        ours = ["--ours", a.ours_onnx.resolve(), tok.resolve(), enc.max_len]
    steps["time"] = run_worker([fast_py, worker, "time", work, "--runs", runs, "--warmup", a.warmup, *ours], logs / "time.log")
    if steps["time"]["returncode"]:
        raise SystemExit(f"error: the timing worker failed: {steps['time'].get('error')}; see {logs / 'time.log'}")
    timing = json.loads((work / "timing-fast.json").read_text())
    e2e = timing["results"]
    log("end-to-end timing: " + ", ".join(f"{k} {v['p50_ms']:.3f} ms" for k, v in e2e.items()))

    res = {k: json.loads((work / f"{k}.json").read_text()) for k in ("model2vec", "fasttext", "mediapipe") if (work / f"{k}.json").is_file()}
    onnx_models = {}
    if "model2vec" in res:
        onnx_models["model2vec onnx"] = (Path(res["model2vec"]["onnx_dir"]) / "model.onnx", tokenizer_encoder(Path(res["model2vec"]["onnx_dir"]) / "tokenizer.json"))
    if a.ours_onnx is not None:
        onnx_models["ours (--ours-onnx)"] = (a.ours_onnx, enc.encode_np)
    model = model_only(onnx_models, ds.test.texts, model_runs, a.warmup) if onnx_models else {}
    if model:
        log("model-only timing (seq 64): " + ", ".join(f"{k} {v['p50']:.3f} ms" for k, v in model.items()))

    rows = []
    if "model2vec" in res:
        m = res["model2vec"]
        common = dict(train_s=m["train_s"], distill_s=m["distill_s"], fit_s=m["fit_s"], dev_accuracy=m["dev_accuracy"],
                      config={"pca_dims": m["pca_dims"], "sif_coefficient": m["sif_coefficient"], "vocab_rows": m["vocab_rows"],
                              "head": m["head"], "table_dtype_after_distill": m["embedding_dtype"]})
        rows.append(make_row("model2vec classifier (StaticModelPipeline, numpy)", "model2vec", m["version"], m["test_pred"], gold, t_pred,
                             e2e.get("model2vec pipeline"), m["pipeline_bytes"], **common, path=m["pipeline_dir"]))
        rows.append(make_row("model2vec classifier (its ONNX export, onnxruntime)", "model2vec", m["version"], m["onnx_test_pred"], gold, t_pred,
                             e2e.get("model2vec onnx"), m["onnx_with_tokenizer_bytes"], p50_model=model.get("model2vec onnx", {}).get("p50"),
                             **common, onnx_model_bytes=m["onnx_bytes"], p90_ms_model=model.get("model2vec onnx", {}).get("p90"),
                             path=m["onnx_dir"], agreement_with_pipeline=accuracy(m["onnx_test_pred"], m["test_pred"])))
    if "fasttext" in res:
        f = res["fasttext"]
        common = dict(params=f["params"], dev_grid_s=f["grid_s"], dev_grid_size=len(f["grid"]))
        rows.append(make_row("fastText supervised (.bin)", "fasttext-numpy2", f["version"], f["test_pred"], gold, t_pred, e2e.get("fasttext"),
                             f["bin_bytes"], f["train_s"], dev_accuracy=f["dev_accuracy"], **common, path=f["bin"]))
        rows.append(make_row("fastText supervised, quantized (.ftz)", "fasttext-numpy2", f["version"], f["ftz_test_pred"], gold, t_pred,
                             e2e.get("fasttext ftz"), f["ftz_bytes"], f["train_s"] + f["quantize_s"], dev_accuracy=f["dev_accuracy_quantized"],
                             quantize_s=f["quantize_s"], **common, path=f["ftz"]))
    if "mediapipe" in res and "mediapipe_test_pred" in timing:
        mm = res["mediapipe"]
        rows.append(make_row("MediaPipe Model Maker average word embedding (.tflite, MediaPipe Tasks)", "mediapipe-model-maker", mm["version"],
                             timing["mediapipe_test_pred"], gold, t_pred, e2e.get("mediapipe awe"), mm["tflite_bytes"], mm["train_s"],
                             dev_accuracy=mm["dev_accuracy"], epochs=mm["epochs"], seq_len=mm["seq_len"],
                             tuning={"max_epochs": mm["grid"][0]["epochs"], "seq_lens": [g["seq_len"] for g in mm["grid"]], "grid_s": mm["grid_s"],
                                     "dev_accuracy_by_epoch": {str(g["seq_len"]): g["val_accuracy"] for g in mm["grid"]}}, runtime=f"mediapipe {timing.get('mediapipe_version')}",
                             trained_with=f"tensorflow {mm['tensorflow']}, mediapipe {mm['mediapipe']}", path=mm["tflite"]))
    if "ours_test_pred" in timing:
        rows.append(make_row(f"ours: {a.ours_onnx.name} (onnxruntime + tokenizers)", "edgedistill", "this tree", timing["ours_test_pred"], gold, t_pred,
                             e2e.get("ours"), a.ours_onnx.stat().st_size, a.ours_train_s, p50_model=model.get("ours (--ours-onnx)", {}).get("p50"),
                             path=str(a.ours_onnx)))
    for r in rows:
        key = {"model2vec classifier (StaticModelPipeline, numpy)": "model2vec pipeline", "model2vec classifier (its ONNX export, onnxruntime)": "model2vec onnx",
               "fastText supervised (.bin)": "fasttext", "fastText supervised, quantized (.ftz)": "fasttext ftz"}.get(
            r["name"], "ours" if r["tool"] == "edgedistill" else "mediapipe awe")
        if key in e2e:
            r["latency_e2e_ms"] = {k: e2e[key][k] for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms")}

    payload = {"setup": {"quick": a.quick, "data": "movie-snippets", "train": len(data["train"]["texts"]), "dev": len(data["dev"]["texts"]),
                         "test": len(test), "e2e_runs": runs, "model_runs": model_runs, "warmup": a.warmup,
                         "bench": {"batch": 1, "threads": 1, "interleaved": True, "model_seq_len": 64},
                         "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                         "teacher": {"path": str(teacher.path), "accuracy": accuracy(t_pred, gold)}, "base": str(base)},
               "rows": rows, "model_only": model, "e2e": e2e, "notes": notes,
               "steps": {k: {"seconds": v["seconds"], "returncode": v["returncode"], **({"error": v["error"]} if "error" in v else {})} for k, v in steps.items()},
               "wall_seconds": time.perf_counter() - t_start}
    if "fasttext" in res:
        payload["fasttext_grid"] = res["fasttext"]["grid"]
    a.out.mkdir(parents=True, exist_ok=True)
    stem = "fast_peers_quick" if a.quick else "fast_peers"
    (a.out / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    md = markdown(payload)
    (a.out / f"{stem}.md").write_text(md)
    print(md)
    return 0


def _f(x, fmt: str) -> str:
    return "" if x is None else format(x, fmt)


def markdown(payload: dict) -> str:
    s = payload["setup"]
    quick = " **(quick smoke run: not the benchmark)**" if s["quick"] else ""
    lines = [f"Fast peers{quick} on movie-snippets: {s['train']} train / {s['dev']} dev / {s['test']} test sentences; teacher (fine-tuned "
             f"MiniLM-L6) test accuracy {s['teacher']['accuracy']:.2%}. Latency at batch 1, 1 thread: end to end = raw text in, label out "
             f"(tokenization included), {s['e2e_runs']} test sentences per peer, all peers interleaved in one process; model only = the ONNX "
             f"file in ONNX Runtime at seq 64, {s['model_runs']} interleaved runs (edge_runtime). {s['cpus']} cores ({s['machine']}).", "",
             "| peer | tool | size MB | train s | p50 ms e2e | p90 ms e2e | p50 ms model (seq 64) | test acc | agree w/ teacher | dev acc |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        lines.append(f"| {r['name']} | {r['tool']} {r['version']} | {r['size_mb']:.2f} | {_f(r['train_s'], '.1f')} | {_f(r['p50_ms_e2e'], '.3f')} | "
                     f"{_f(r['p90_ms_e2e'], '.3f')} | {_f(r['p50_ms_model'], '.3f')} | {r['accuracy']:.2%} | {r['agreement']:.2%} | "
                     f"{_f(r.get('dev_accuracy'), '.2%')} |")
    if any(r["tool"] == "edgedistill" for r in payload["rows"]):
        lines.append("\nours: an ONNX file of this toolkit given with --ours-onnx, run end to end like model2vec's export (its tokenizer.json "
                     "through `tokenizers`, special tokens added, truncated at the teacher encoder's max length, onnxruntime at 1 thread) "
                     "in the same interleaved loop as the peers, and in the same model-only run.")
    byname = {r["name"]: r for r in payload["rows"]}
    m2v = byname.get("model2vec classifier (its ONNX export, onnxruntime)")
    if m2v:
        c = m2v["config"]
        lines.append(f"\nmodel2vec: `distill_from_model` on the teacher's base (all-MiniLM-L6-v2 from its PyPI wheel), PCA {c['pca_dims']}, "
                     f"SIF {c['sif_coefficient']}, {c['vocab_rows']} token rows (its defaults otherwise: mean pooling, {c['table_dtype_after_distill']} table); "
                     f"then `StaticModelForClassification.from_static_model` ({c['head']['n_layers']} hidden layer of {c['head']['hidden_dim']}) "
                     f"`.fit(train, X_val=dev, y_val=dev)` (early stopping on dev, patience 5). train s = distillation {m2v['distill_s']:.1f} s + "
                     f"fit {m2v['fit_s']:.1f} s, one thread. Its ONNX export agrees with its numpy pipeline on {m2v['agreement_with_pipeline']:.2%} "
                     f"of the test sentences; size = model.onnx + tokenizer.json.")
    ft = byname.get("fastText supervised (.bin)")
    grid = payload.get("fasttext_grid", [])
    retried = sum(1 for g in grid if g.get("attempts", 1) > 1)
    failed = [f"epoch {g['epoch']}, wordNgrams {g['wordNgrams']}, dim {g['dim']}, lr {g['lr']}" for g in grid if g.get("dev_accuracy") is None]
    nan_ngrams = sorted({g["wordNgrams"] for g in grid if g.get("attempts", 1) > 1 or g.get("dev_accuracy") is None})
    if ft:
        lines.append(f"\nfastText: lower-cased, punctuation split off (its tutorial's preprocessing, inside the timed call); grid on dev "
                     f"({ft['dev_grid_size']} settings of epoch x wordNgrams x dim x lr, {ft['dev_grid_s']:.0f} s) -> {ft['params']}; "
                     f"train s = the final training alone (one thread), plus `quantize(retrain=True, qnorm=True, cutoff=100000)` for .ftz. "
                     f"This build raises `Encountered NaN` at random on some calls with identical arguments (in this run with wordNgrams "
                     f"{nan_ngrams or 'none'}; at wordNgrams 1 fastText sets bucket 0); such a call is repeated, up to 8 times, and the model that comes out is the same: "
                     f"{retried} of the grid's settings needed a repeat, {len(failed)} failed all 8 and were skipped"
                     + (f" ({'; '.join(failed)})" if failed else "") + ".")
    mp = next((r for r in payload["rows"] if r["tool"] == "mediapipe-model-maker"), None)
    if mp:
        by_epoch = mp["tuning"]["dev_accuracy_by_epoch"].get("256", [])
        default_dev = by_epoch[9] if len(by_epoch) >= 10 else None
        lines.append(f"\nMediaPipe Model Maker: `TextClassifier.create` with AVERAGE_WORD_EMBEDDING_CLASSIFIER (batch 32, rmsprop, 16-d "
                     f"embeddings: its defaults), trained in .venv-mm ({mp['trained_with']}), exported with `export_model()`. "
                     + (f"With its defaults, seq_len 256 (the padding is averaged in) and 10 epochs, dev accuracy was {default_dev:.1%}; "
                        if default_dev is not None else "") + f"seq_len and epochs were tuned on dev: one {mp['tuning']['max_epochs']}-epoch run per seq_len {mp['tuning']['seq_lens']} ({mp['tuning']['grid_s']:.0f} s), "
                     f"best seq_len {mp['seq_len']} at {mp['epochs']} epochs; train s = that final training. Test predictions and latency "
                     f"from MediaPipe Tasks' `TextClassifier.classify(text)` ({mp['runtime']}) in the timing process; its runtime picks its own "
                     f"XNNPACK threading (not settable from the Python API); no model-only figure.")
    lines += ["", "Train s: wall seconds inside the worker, one thread (process start-up excluded; model2vec's includes loading the base)."]
    lines += [f"- {n}" for n in payload["notes"]]
    lines.append(f"\nWhole run: {payload['wall_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
