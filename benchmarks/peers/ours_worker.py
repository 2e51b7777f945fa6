"""This toolkit's side of the peer benchmarks, one fresh process per job (main venv), so each is timed
the way the peer's process is.

    python benchmarks/peers/ours_worker.py export TEACHER_DIR OUT_DIR [--per-channel] [--no-fuse]
    python benchmarks/peers/ours_worker.py distill DATA OUT_STEM --seed 0 --epochs 6

export: load the teacher folder (safetensors), `export.to_onnx` (validated on 4 x 16 dev sentences, as
benchmarks/onnx_table.py does) and `export.quantize_onnx` with QuantConfig("int8", transformer=True);
writes OUT_DIR/model.onnx and OUT_DIR/model_quantized.onnx (the names optimum-cli uses) and prints the
seconds of each step as JSON. --no-fuse quantizes the unfused graph (transformer=False): a diagnostic.
distill: `distill.trainer.train` with TrainConfig(loss="mse", patience=0) on the cached teacher logits
in DATA; measured: seconds of the train call (incl. per-epoch dev scoring), steps, dev accuracy per
epoch. Writes OUT_STEM.safetensors (best-on-dev weights) and OUT_STEM.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from common import ROOT, build_student, pad_batch, read_student_data

sys.path.insert(0, str(ROOT))


def export(teacher_dir: Path, out: Path, per_channel: bool, fuse: bool = True) -> dict:
    from distill import load_dataset, load_teacher
    from export import OnnxConfig, QuantConfig, quantize_onnx, to_onnx

    t0 = time.perf_counter()
    teacher = load_teacher(teacher_dir)
    dev = load_dataset("movie-snippets").dev.texts
    t1 = time.perf_counter()
    validate = [teacher.encoder.encode(dev[i:i + 16]) for i in range(0, 64, 16)]
    fp32 = to_onnx(teacher.model, teacher.encoder.encode(dev[:2]), out / "model.onnx", OnnxConfig(), validate_with=validate, force=True)
    t2 = time.perf_counter()
    quantize_onnx(fp32, out / "model_quantized.onnx", QuantConfig("int8", transformer=fuse, per_channel=per_channel), force=True)
    t3 = time.perf_counter()
    return {"load_seconds": t1 - t0, "export_seconds": t2 - t1, "quantize_seconds": t3 - t2,
            "fp32_max_abs_logit_diff": fp32.validation.get("max_abs_logit_diff")}


def distill(data_path: Path, out: Path, seed: int, epochs: int) -> dict:
    from safetensors.torch import save_file

    import distill  # noqa: F401  (the real package: this is the main venv)
    from distill.trainer import TrainConfig, TrainSet, train

    data = read_student_data(data_path)
    model = build_student(data, seed)
    cfg = TrainConfig(loss="mse", epochs=epochs, patience=0, seed=seed)
    train_set = TrainSet(data["train_ids"], torch.from_numpy(data["train_labels"]), torch.from_numpy(data["train_logits"]))
    pad = lambda rows: pad_batch(rows, data["pad_id"])
    t0 = time.perf_counter()
    result = train(model, train_set, data["dev_ids"], data["dev_labels"].tolist(), pad, cfg)
    seconds = time.perf_counter() - t0
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out.with_suffix(".safetensors")))
    row = {"trainer": "edgedistill", "seed": seed, "epochs": epochs, "steps": result.steps, "seconds": seconds,
           "best_epoch": result.best_epoch, "best_dev_accuracy": result.best_dev_accuracy,
           "history": [{"epoch": h["epoch"], "step": h["step"], "dev_accuracy": h["dev_accuracy"]} for h in result.history],
           "torch": torch.__version__, "threads": torch.get_num_threads()}
    out.with_suffix(".json").write_text(json.dumps(row, indent=2))
    return {k: v for k, v in row.items() if k != "history"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="job", required=True)
    e = sub.add_parser("export")
    e.add_argument("teacher", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("--per-channel", action="store_true")
    e.add_argument("--no-fuse", action="store_true")
    d = sub.add_parser("distill")
    d.add_argument("data", type=Path)
    d.add_argument("out", type=Path)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--epochs", type=int, default=6)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.job == "export":
        a.out.mkdir(parents=True, exist_ok=True)
        result = export(a.teacher, a.out, a.per_channel, not a.no_fuse)
    else:
        result = distill(a.data, a.out, a.seed, a.epochs)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
