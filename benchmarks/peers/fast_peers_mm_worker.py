"""Worker for benchmarks/peers/fast_peers.py, run in .venv-mm (mediapipe-model-maker 0.2.1.4, TensorFlow 2.15,
mediapipe 0.10.14, numpy 1.26; benchmarks/peers/requirements-mm.txt): trains MediaPipe Model Maker's average-word-embedding
text classifier on WORK/data.json's train split (dev as its validation data; seq_len and epochs tuned lightly on dev:
with its defaults, 256 and 10 epochs, it stays at chance on these 7,041 sentences) and exports its .tflite (regex tokenizer +
vocabulary in the metadata, so MediaPipe Tasks' TextClassifier runs it on a raw string).

    python fast_peers_mm_worker.py WORK [--max-epochs 30] [--seq-lens 64 256]

Writes WORK/mediapipe.json (train seconds, dev accuracy by Model Maker's evaluate, file path and size); the test
predictions and the latency come from the MediaPipe Tasks runtime in .venv-fast (fast_peers_worker.py), with the others.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work", type=Path)
    p.add_argument("--max-epochs", type=int, default=30, help="epochs of each tuning run (its documented default is 10, batch 32)")
    p.add_argument("--seq-lens", type=int, nargs="+", default=[64, 256],
                   help="AverageWordEmbeddingModelOptions.seq_len values to try (its default 256; the padding is averaged in)")
    a = p.parse_args(argv)
    if not (a.work / "data.json").is_file():
        raise SystemExit(f"error: {a.work / 'data.json'} not found; run benchmarks/peers/fast_peers.py, which writes it")
    import importlib.metadata as m

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(0)
    from mediapipe_model_maker import text_classifier

    d = json.loads((a.work / "data.json").read_text())
    out = a.work / "mediapipe"
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    params = text_classifier.CSVParams(text_column="text", label_column="label")
    for split in ("train", "dev"):
        path = out / f"{split}.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows([t.replace("\n", " "), str(y)] for t, y in zip(d[split]["texts"], d[split]["labels"]))
        splits[split] = text_classifier.Dataset.from_csv(filename=str(path), csv_params=params, shuffle=split == "train")
    def train(seq_len: int, epochs: int, export_dir: Path):
        tf.keras.utils.set_random_seed(0)
        hparams = text_classifier.AverageWordEmbeddingHParams(epochs=epochs, batch_size=32, learning_rate=0, export_dir=str(export_dir))
        options = text_classifier.TextClassifierOptions(
            supported_model=text_classifier.SupportedModels.AVERAGE_WORD_EMBEDDING_CLASSIFIER, hparams=hparams,
            model_options=text_classifier.AverageWordEmbeddingModelOptions(seq_len=seq_len))
        t0 = time.perf_counter()
        model = text_classifier.TextClassifier.create(splits["train"], splits["dev"], options)
        return model, time.perf_counter() - t0

    # light tuning on dev: one run per seq_len for max_epochs, then the (seq_len, epochs) with the best dev accuracy in its
    # history (Keras' val_accuracy after each epoch; rmsprop at a constant rate, seeded, so k epochs = the first k of a run)
    grid, t_grid = [], time.perf_counter()
    for seq_len in a.seq_lens:
        model, seconds = train(seq_len, a.max_epochs, out / f"grid-{seq_len}")
        hist = [float(x) for x in model._history.history.get("val_accuracy", [])]
        grid.append({"seq_len": seq_len, "epochs": a.max_epochs, "train_s": seconds, "val_accuracy": hist})
    grid_s = time.perf_counter() - t_grid
    best_seq, best_ep, best_val = max(((g["seq_len"], i + 1, v) for g in grid for i, v in enumerate(g["val_accuracy"])), key=lambda x: (x[2], -x[1]))
    model, train_s = train(best_seq, best_ep, out / "export")
    metrics = model.evaluate(splits["dev"])
    t0 = time.perf_counter()
    model.export_model()
    export_s = time.perf_counter() - t0
    tflite = out / "export" / "model.tflite"
    res = {"tool": "mediapipe-model-maker", "version": m.version("mediapipe-model-maker"), "tensorflow": m.version("tensorflow"),
           "mediapipe": m.version("mediapipe"), "epochs": best_ep, "seq_len": best_seq, "batch_size": 32,
           "grid": grid, "grid_s": grid_s, "grid_best_dev_accuracy": best_val, "train_s": train_s, "export_s": export_s,
           "dev_accuracy": float(metrics[1]), "label_names": list(splits["train"].label_names),
           "tflite": str(tflite), "tflite_bytes": tflite.stat().st_size}
    (a.work / "mediapipe.json").write_text(json.dumps(res, indent=1))
    print(a.work / "mediapipe.json", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
