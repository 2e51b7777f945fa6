"""Issue #26 acceptance run: raw text in, label out, on the 2,000 movie-snippets test sentences.

For the built-in teacher, a Transformer student and a BiLSTM student (WordPiece), this takes the CLI path a user would:

    edgedistill export CKPT --format onnx,tflite --precision fp32,int8 --text-input --mediapipe --out WORK/NAME --json WORK/NAME.export.json

then, for each string-input ONNX file (`*.text.onnx`, fp32 and int8) and the MediaPipe file (`*.fp32.mediapipe.tflite`):
- agreement of the top label with the ids-input file of the same precision (ONNX; the MediaPipe file against the fp32
  ONNX and the fp32 TFLite ids-input files) and the max |logit diff| (MediaPipe gives scores: its top category and its
  scores against softmax of our logits, max |dp|);
- file size and size cost against the ids-input file;
- end-to-end latency, raw string in -> logits out, batch 1, 1 thread: the string-input file against tokenizer-outside
  (HF `tokenizers` in Python via Bundle.encode + the ids-input file), all variants of one checkpoint interleaved in
  one run (benchmarks/peers/fast_timing.py);
- token agreement: the ids the file's tokenizer op gives (export.text_input.op_token_ids) against Bundle.encode's, text
  for text.

No real SentencePiece Unigram checkpoint (XLM-R, ALBERT, DeBERTa-v2) comes from a pip package here (distill/bases.py
ships MiniLM and all-mpnet-base-v2, both WordPiece), so the Unigram route (SentencepieceTokenizer) is checked at scale on
TINY random-init checkpoints (`tiny-xlm-roberta`, `tiny-albert`, `tiny-deberta-v2`: tests/families.py, 2 layers, hidden 32,
a 400-piece Unigram tokenizer trained by `tokenizers` on the movie train split), exported with
`--format onnx --precision fp32 --text-input` (+ `--mediapipe` for tiny-albert, the Unigram family MediaPipe's preprocessor
fits: lowercasing, [CLS]/[SEP]): their accuracy means nothing, their token and logit agreement does.

A file the export could not write or left out is listed with the export's exact error. An existing export under WORK is
reused (delete it, or pass --force, to export again).

    python benchmarks/text_input_table.py [--work runs/text_input] [--only teacher,transformer-3L,bilstm] [--runs 400]

Writes benchmarks/results/text_input.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
RESULTS = ROOT / "benchmarks" / "results"
FRONTIER = ROOT / "runs" / "frontier"
CHECKPOINTS = ("teacher", "transformer-3L", "bilstm", "tiny-xlm-roberta", "tiny-albert", "tiny-deberta-v2")


def checkpoint_path(name: str, wait_minutes: float, work: Path) -> Path:
    if name.startswith("tiny-"):   # a tiny random-init Unigram checkpoint, its tokenizer trained on the movie train split
        path = work / "checkpoints" / name
        if not (path / "config.json").is_file():
            sys.path.insert(0, str(ROOT / "tests"))
            from families import build

            from distill import load_dataset

            build(name.removeprefix("tiny-"), path, list(load_dataset("movie-snippets").train.texts))
        return path
    if name == "teacher":
        from distill import TeacherConfig, finetune_teacher, load_dataset

        return Path(finetune_teacher(load_dataset("movie-snippets"), TeacherConfig()).path)
    path = FRONTIER / name
    marker = path / ("student.json" if name == "bilstm" else "config.json")
    deadline = time.time() + wait_minutes * 60
    while not marker.is_file():   # the BiLSTM is trained by benchmarks/frontier_table.py; runs/frontier is read-only here
        if time.time() > deadline:
            raise SystemExit(f"error: {marker} does not exist after {wait_minutes} min; run `make bench-frontier` first")
        time.sleep(20)
    return path


MAIN_ARGS = ("--format", "onnx,tflite", "--precision", "fp32,int8", "--text-input", "--mediapipe")
TINY_ARGS = ("--format", "onnx", "--precision", "fp32", "--text-input")   # the tiny Unigram checkpoints: the tokenizer route only
# what a user does when the default int8 recipe misses its tolerance on a BERT (docs/export.md, export.quantize.TEACHER_NBITS)
INT8_RETRY_ARGS = ("--format", "onnx", "--precision", "int8", "--nbits", "sensitive", "--text-input")


def export(name: str, ckpt: Path, work: Path, force: bool, args: tuple[str, ...] = MAIN_ARGS) -> tuple[Path, dict, list[str], float | None]:
    """The bundle folder, the export's --json figures, the command line and its wall time (None when reused)."""
    out, js = work / name, work / f"{name}.export.json"
    cmd = [str(ROOT / ".venv" / "bin" / "edgedistill"), "export", str(ckpt), *args, "--out", str(out), "--json", str(js)] + (["--force"] if force else [])
    wall = None
    if force or not js.is_file():   # an earlier export's figures are reused, also when nothing passed (no bundle folder)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        (work / f"{name}.export.log").write_text(r.stdout + r.stderr)
        if r.returncode not in (0, 2) or not js.is_file():   # 2: some file left out, the rest shipped
            raise SystemExit(f"error: export of {ckpt} failed (exit {r.returncode}): {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return out, json.loads(js.read_text()), cmd, wall


def softmax(x):
    import numpy as np

    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def measure(name: str, exports: list[tuple[Path, dict]], texts: list[str], runs: int, timed_texts: int) -> dict:
    """`exports`: (bundle folder, export figures) of the main export and any int8 retry; a (format, precision) shipped by
    the main export is taken from it, one it left out from the retry (files keyed as 'folder/file')."""
    import numpy as np
    from fast_timing import time_text_classifiers

    from edge_runtime import Bundle
    from edge_runtime.runners import load
    from edge_runtime.text_runner import text_feeds

    failed_exports = [(d, f) for d, f in exports if not (d / "manifest.json").is_file()]   # nothing passed: its rows say why
    exports = [(d, f) for d, f in exports if (d / "manifest.json").is_file()]
    bundles = [Bundle.open(d) for d, _ in exports]
    bundle = bundles[0]
    tok = bundle.tokenizer()
    labels = bundle.labels
    entries, ids, text, paths = {}, {}, {}, {}
    for b, (d, _) in zip(bundles, exports):
        for e in b.manifest["models"]:
            f = f"{d.name}/{e['file']}"
            key = (e["format"], e["precision"])
            into = text if e.get("input") == "text" else ids
            if key not in into:
                into[key], entries[f], paths[f] = f, e, b.resolve(e["file"])
    size = lambda f: paths[f].stat().st_size
    encode = lambda t: bundle.encode([t], tokenizer=tok)
    tokens = token_agreement(bundle, tok, texts) if text else None

    # the export's rows for the text files and the ids files: a file it could not write or left out shows its exact error here
    failed = []
    for d, figures in exports + failed_exports:
        for r in figures.get("rows", []):
            if not r.get("passed"):
                failed.append({"export": d.name, "format": r["format"], "precision": r["precision"], "input": r.get("input") or "ids",
                               "runtime": r.get("runtime"), "error": "; ".join(r.get("failures") or [])})

    print(f"[{name}] logits of the ids-input files on {len(texts)} sentences (batch 1)", flush=True)
    runners, ref = {}, {}
    for key in [("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32")]:
        if key in ids:
            runners[f"ids {key[0]} {key[1]}"] = r = load(paths[ids[key]], threads=1, precision=key[1])
            ref[key] = np.concatenate([r(encode(t)) for t in texts])
    rows = []
    for key, f in sorted(text.items(), key=lambda kv: (kv[0][0] != "onnx", kv[0][1])):
        fmt, prec = key
        print(f"[{name}] {f} on {len(texts)} sentences", flush=True)
        runner = load(paths[f], threads=1, precision=prec)
        got = np.concatenate([runner(text_feeds([t])) for t in texts])
        row = {"file": f, "format": fmt, "precision": prec, "runtime": entries[f].get("runtime"), "size_bytes": size(f)}
        if fmt == "onnx":
            base = ids[("onnx", prec)]
            d = np.abs(got - ref[("onnx", prec)]).max(1)
            row |= {"vs": base, "vs_size_bytes": size(base), "agreement": float((got.argmax(1) == ref[("onnx", prec)].argmax(1)).mean()),
                    "max_abs_logit_diff": float(d.max()), "rows_differing": int((d > 1e-4).sum())}
            runners[f"text {fmt} {prec}"] = runner
        else:   # MediaPipe: scores in its metadata's label order
            order = [runner.labels.index(lab) for lab in labels]
            got = got[:, order]
            base = ids.get(("tflite", "fp32"), ids[("onnx", "fp32")])
            p_onnx = softmax(ref[("onnx", "fp32")])
            row |= {"vs": ids[("onnx", "fp32")], "vs_size_bytes": size(ids[("onnx", "fp32")]),
                    "agreement": float((got.argmax(1) == p_onnx.argmax(1)).mean()),
                    "max_abs_prob_diff": float(np.abs(got - p_onnx).max()),
                    "rows_differing": int((np.abs(got - p_onnx).max(1) > 1e-4).sum())}
            if ("tflite", "fp32") in ref:
                p_tfl = softmax(ref[("tflite", "fp32")])
                row |= {"vs_tflite": base, "vs_tflite_size_bytes": size(base), "agreement_vs_tflite": float((got.argmax(1) == p_tfl.argmax(1)).mean()),
                        "max_abs_prob_diff_vs_tflite": float(np.abs(got - p_tfl).max())}
            runners["mediapipe tflite fp32"] = runner
        row["size_cost_bytes"] = row["size_bytes"] - row["vs_size_bytes"]
        rows.append(row)
    # end-to-end latency: raw string in -> logits out, every variant of this checkpoint interleaved in one run
    predictors = {}
    for label, r in runners.items():
        if label.startswith("ids "):
            predictors[f"tokenizer-outside + {label}"] = (lambda t, r=r: r(encode(t)))
        else:
            predictors[label] = (lambda t, r=r: r(text_feeds([t])))
    print(f"[{name}] timing {len(predictors)} variants interleaved, {runs} rounds", flush=True)
    timing = time_text_classifiers(predictors, texts[:timed_texts], runs=runs, warmup=20)
    return {"checkpoint": name, "bundles": [str(d) for d, _ in exports], "labels": labels, "files": rows, "failed": failed, "latency": timing,
            "ids_sizes": {f"{k[0]} {k[1]}": size(f) for k, f in ids.items()}, "tokens": tokens}


def token_agreement(bundle, tok, texts: list[str]) -> dict:
    """The string-input files' tokenizer op against Bundle.encode (the checkpoint's tokenizer), text for text."""
    from export.text_input import op_settings, op_token_ids

    op = op_settings(json.loads(tok.to_str()), bundle.manifest["tokenizer"])
    got = op_token_ids(op, texts)
    ref = [bundle.encode([t], tokenizer=tok)["input_ids"][0].tolist() for t in texts]
    differ = [t for t, g, r in zip(texts, got, ref, strict=True) if g != r]
    return {"op": type(op).__name__.removesuffix("OpSettings"), "texts": len(texts), "equal": len(texts) - len(differ), "first_differing": differ[:3]}


def markdown(result: dict) -> str:
    lines = [f"# Raw text in: string-input ONNX and MediaPipe TFLite vs the ids-input files ({result['sentences']} movie-snippets test sentences)", "",
             f"Machine: {result['machine']['cpu']}, {result['machine']['threads']} thread, batch 1; shared with other jobs while measured "
             "(read the ratios: every variant of a checkpoint was timed interleaved in one run).", "",
             "## Agreement and size", "",
             "| checkpoint | file | vs ids-input file | agreement | max abs logit diff | max abs prob diff | size MB | ids MB | size cost |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for c in result["checkpoints"]:
        for r in c["files"]:
            logit = f"{r['max_abs_logit_diff']:.2e}" if "max_abs_logit_diff" in r else "-"
            prob = f"{r['max_abs_prob_diff']:.2e}" if "max_abs_prob_diff" in r else "-"
            cost = r["size_cost_bytes"]
            lines.append(f"| {c['checkpoint']} | {r['file']} | {r['vs']} | {r['agreement']:.2%} ({r['rows_differing']} rows differ) | {logit} | {prob} | "
                         f"{r['size_bytes'] / 1e6:.2f} | {r['vs_size_bytes'] / 1e6:.2f} | {cost / 1e3:+.0f} KB ({cost / r['vs_size_bytes']:+.1%}) |")
            if "agreement_vs_tflite" in r:
                lines.append(f"| {c['checkpoint']} | {r['file']} | {r['vs_tflite']} | {r['agreement_vs_tflite']:.2%} | - | "
                             f"{r['max_abs_prob_diff_vs_tflite']:.2e} | {r['size_bytes'] / 1e6:.2f} | {r['vs_tflite_size_bytes'] / 1e6:.2f} | "
                             f"{(r['size_bytes'] - r['vs_tflite_size_bytes']) / 1e3:+.0f} KB |")
        for f in c["failed"]:
            what = f"{f['export']}: {f['format']} {f['precision']} {f['input']}-input" + (f" ({f['runtime']})" if f.get("runtime") else "")
            lines.append(f"| {c['checkpoint']} | {what} | - | left out by the export: {f['error']} | | | | | |")
    for c in result.get("errors", []):
        lines.append(f"| {c['checkpoint']} | - | - | FAILED: {c['error']} | | | | | |")
    lines += ["", "## Token agreement (the file's tokenizer op vs the checkpoint's tokenizer, input_ids equal text for text)", "",
              "| checkpoint | op | texts with equal ids |", "|---|---|---:|"]
    for c in result["checkpoints"]:
        t = c.get("tokens")
        if t:
            op = {"Bert": "BertTokenizer", "Spm": "SentencepieceTokenizer"}.get(t["op"], t["op"])
            lines.append(f"| {c['checkpoint']} | {op} | {t['equal']}/{t['texts']} ({t['equal'] / t['texts']:.2%})" +
                         (f"; first differing: {t['first_differing']!r}" if t["first_differing"] else "") + " |")
    lines += ["", "tiny-* rows: TINY random-init Unigram checkpoints (tests/families.py; no real Unigram base comes from a pip package here): "
              "their agreement and latency check the SentencepieceTokenizer route, not a model.",
              "", "## End-to-end latency (raw string in -> logits out, batch 1, 1 thread)", "",
              "Tokenizer-outside = HF `tokenizers` in Python (Bundle.encode) + the ids-input file. One interleaved run per checkpoint; "
              "x = median over rounds of (variant / tokenizer-outside ONNX fp32) in the same round.", "",
              "| checkpoint | variant | p50 ms | p90 ms | p99 ms | x vs tok-outside ONNX fp32 |", "|---|---|---:|---:|---:|---:|"]
    for c in result["checkpoints"]:
        for v, t in c["latency"].items():
            lines.append(f"| {c['checkpoint']} | {v} | {t['p50_ms']:.2f} | {t['p90_ms']:.2f} | {t['p99_ms']:.2f} | {t['paired_ratio_vs_first']:.2f} |")
    lines += ["", "Commands:", "", "```"] + [" ".join(x).replace(str(ROOT) + "/", "") for c in result["checkpoints"] for x in c["commands"]] + \
             [f"{cmd}  # {sec:.0f} s" for cmd, sec in result.get("earlier_runs", [])] + \
             [f"{result.get('command', 'python benchmarks/text_input_table.py')}  # {result['wall_seconds']:.0f} s", "```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "text_input")
    p.add_argument("--only", default=",".join(CHECKPOINTS))
    p.add_argument("--runs", type=int, default=400, help="timed rounds per checkpoint (each round runs every variant once)")
    p.add_argument("--timed-texts", type=int, default=2000, help="test sentences the rounds cycle through")
    p.add_argument("--sentences", type=int, default=None, help="agreement on the first N test sentences (default: all)")
    p.add_argument("--wait", type=float, default=60, help="minutes to wait for runs/frontier/bilstm/student.json")
    p.add_argument("--force", action="store_true", help="export again even where WORK/NAME exists")
    p.add_argument("--keep", action="store_true", help="keep the figures of checkpoints not in --only from the existing results JSON")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)

    from distill import load_dataset

    t0 = time.perf_counter()
    texts = load_dataset("movie-snippets").test.texts[: a.sentences]
    a.work.mkdir(parents=True, exist_ok=True)
    result = {"sentences": len(texts), "machine": {"cpu": _cpu(), "threads": 1}, "checkpoints": [], "errors": [],
              "command": " ".join(["python benchmarks/text_input_table.py", *(argv if argv is not None else sys.argv[1:])])}
    previous = a.out / "text_input.json"
    if a.keep and previous.is_file():   # the other checkpoints' figures from an earlier run of the same size stay
        old = json.loads(previous.read_text())
        if old.get("sentences") == len(texts):
            result["checkpoints"] = [c for c in old["checkpoints"] if c["checkpoint"] not in a.only.split(",")]
            result["earlier_runs"] = old.get("earlier_runs", []) + [(old.get("command", "python benchmarks/text_input_table.py"), old["wall_seconds"])]
    for name in a.only.split(","):
        ckpt = checkpoint_path(name, a.wait, a.work)
        try:
            args = MAIN_ARGS if not name.startswith("tiny-") else TINY_ARGS + (("--mediapipe",) if name == "tiny-albert" else ())
            out, figures, cmd, wall = export(name, ckpt, a.work, a.force, args)
            exports, commands, walls = [(out, figures)], [cmd], [wall]
            if any(r["format"] == "onnx" and r["precision"] == "int8" and not r.get("input") and not r["passed"] for r in figures["rows"]):
                out2, figures2, cmd2, wall2 = export(f"{name}-int8-nbits", ckpt, a.work, a.force, INT8_RETRY_ARGS)
                exports.append((out2, figures2))
                commands.append(cmd2)
                walls.append(wall2)
        except SystemExit as e:
            result["errors"].append({"checkpoint": name, "error": str(e)})
            continue
        c = measure(name, exports, texts, a.runs, a.timed_texts)
        c |= {"commands": [[Path(x[0]).name, *x[1:]] for x in commands], "checkpoint_path": str(ckpt), "export_wall_seconds": walls}
        result["checkpoints"].append(c)
        _write(result, a.out, t0)   # after each checkpoint, so nothing is lost
    _write(result, a.out, t0)
    print(markdown(result))
    return 0


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def _write(result: dict, out: Path, t0: float) -> None:
    result["wall_seconds"] = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "text_input.json").write_text(json.dumps(result, indent=1))
    (out / "text_input.md").write_text(markdown(result))


if __name__ == "__main__":
    raise SystemExit(main())
