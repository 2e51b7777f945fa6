"""The worker edge_runtime.arm64 starts under the arm64 interpreter (qemu-user), or under the host's for the x86 side.

    python -m edge_runtime._arm64_worker REQUEST.json

Pure Python + numpy + the runtimes: it imports only the project's own runner modules (edge_runtime.runners,
edge_runtime.litert, edge_runtime.executorch), which need no torch for ONNX and TFLite. REQUEST.json:

    {"inputs": "feeds.npz", "batches": 63, "threads": 1,
     "models": [{"file": "/abs/student.int8.onnx", "precision": "int8", "out": "/abs/out-0.npz"}, ...]}

A model may carry "ort_options" (ONNX only): its session is rebuilt with them (see ort_session), to find which
onnxruntime kernel or graph rewrite moves a file's answers.

feeds.npz holds every batch the host's Bundle encoding produced, as `b<index>.<input name>` arrays (the bundle's
own truncation, windows and padding: the host recorded them); each model's out .npz holds `b<index>` logits
(float32). The worker prints one JSON line on stdout: the platform and runtime versions, and per model "ok" or the
error (one line) that stopped it. Nothing is unpickled (allow_pickle=False).
"""
from __future__ import annotations

import json
import platform
import sys
import traceback


def versions() -> dict:
    """Machine, Python and the versions of the runtimes that import here (None: not installed)."""
    import importlib

    out = {"machine": platform.machine(), "python": platform.python_version()}
    for name in ("numpy", "onnxruntime", "ai_edge_litert", "executorch"):
        try:
            module = importlib.import_module(name)
        except Exception:   # not installed in this interpreter (executorch on arm64): reported as None
            out[name] = None
            continue
        out[name] = getattr(module, "__version__", None) or _dist_version(name)
    out["torch"] = _dist_version("torch")   # ExecuTorch's pybindings link it; read from its metadata (importing costs ~25 s under qemu)
    return out


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return None


def feeds_of(inputs, index: int) -> dict:
    prefix = f"b{index:05d}."
    return {key[len(prefix):]: inputs[key] for key in inputs.files if key.startswith(prefix)}


def run_model(model: dict, inputs, batches: int, threads: int) -> None:
    from pathlib import Path

    import numpy as np

    from edge_runtime.runners import _loader

    runner = _loader(Path(model["file"]))(model["file"], threads, model.get("precision"))
    if model.get("ort_options"):   # a diagnosis: the same ONNX file in a session with other options
        runner.session = ort_session(model["file"], threads, model["ort_options"])
    out = {f"b{i:05d}": np.asarray(runner(feeds_of(inputs, i)), dtype=np.float32) for i in range(batches)}
    np.savez(model["out"], **out)


def ort_session(path: str, threads: int, options: dict):
    """An onnxruntime CPU session with {"graph_optimization_level": all|extended|basic|disable_all, "config": {key: value}}
    (session config entries, e.g. {"mlas.disable_kleidiai": "1"})."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    level = options.get("graph_optimization_level", "all")
    so.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[level]
    for key, value in (options.get("config") or {}).items():
        so.add_session_config_entry(key, str(value))
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def main(argv: list[str]) -> int:
    import numpy as np

    if len(argv) != 1:
        print("usage: python -m edge_runtime._arm64_worker REQUEST.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        request = json.load(f)
    result = {"platform": versions(), "models": {}}
    with np.load(request["inputs"], allow_pickle=False) as inputs:
        for model in request["models"]:
            key = str(model.get("key", model["file"]))   # the index the host gave it (a file may run with several options)
            try:
                run_model(model, inputs, int(request["batches"]), int(request.get("threads", 1)))
                result["models"][key] = {"ok": True}
            except Exception as e:   # one model's failure is reported, the others still run
                line = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                result["models"][key] = {"ok": False, "error": f"{type(e).__name__}: {line}",
                                                   "where": traceback.format_exc().strip().splitlines()[-3:]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
