"""Worker for benchmarks/peers/fast_peers.py, run in .venv-fast (model2vec 0.10 + fastText; transformers 5.3, which
model2vec's `distill` extra pins below 5.4) with one thread. Reads WORK/data.json (train/dev/test texts and int labels,
written by the orchestrator), writes WORK/<step>.json; the last stdout line is that JSON's path.

    python fast_peers_worker.py model2vec WORK BASE_DIR     # distill BASE_DIR (PCA 128, SIF) + StaticModelForClassification
    python fast_peers_worker.py fasttext WORK [--quick]     # grid on dev (epoch, wordNgrams, dim, lr), final + quantized .ftz
    python fast_peers_worker.py time WORK --runs N         # interleaved end-to-end latency of every trained peer

Nothing is fetched: the base is a local folder, model2vec's hub look-up of the model card is skipped offline.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
from fast_timing import time_text_classifiers  # noqa: E402


def version(pkg: str) -> str:
    import importlib.metadata as m

    return m.version(pkg)


def read_data(work: Path) -> dict:
    return json.loads((work / "data.json").read_text())


def dir_bytes(path: Path, names: tuple[str, ...] | None = None) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and (names is None or p.name in names))


def write_result(work: Path, step: str, res: dict) -> None:
    out = work / f"{step}.json"
    out.write_text(json.dumps(res, indent=1))
    print(out, flush=True)


# ------------------------------------------------------------------------------------------------ model2vec

M2V_FILES = ("model.safetensors", "head.safetensors", "tokenizer.json", "config.json")


def onnx_text_predictor(onnx_path: Path, tokenizer_json: Path, add_special_tokens: bool, max_len: int | None):
    """Raw text -> label index: a tokenizer.json (`tokenizers`) + onnxruntime at 1 thread, first output's argmax. Feeds the
    inputs the graph declares among input_ids / attention_mask / token_type_ids (zeros)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    if max_len:
        tok.enable_truncation(max_len)
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    out = sess.get_outputs()[0].name
    pad = tok.token_to_id("[PAD]") or 0

    def predict_one(text: str) -> int:
        ids = tok.encode(text, add_special_tokens=add_special_tokens).ids
        if not ids:
            ids, mask = [pad], np.zeros((1, 1), np.int64)
        else:
            mask = np.ones((1, len(ids)), np.int64)
        feed = {"input_ids": np.array([ids], np.int64), "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
        return int(sess.run([out], {k: v for k, v in feed.items() if k in names})[0].argmax())

    return predict_one


def m2v_onnx_predictor(onnx_dir: Path):
    """model2vec's own ONNX export: its tokenizer.json (no special tokens, its max_length) + onnxruntime."""
    cfg = json.loads((onnx_dir / "config.json").read_text()) if (onnx_dir / "config.json").is_file() else {}
    return onnx_text_predictor(onnx_dir / "model.onnx", onnx_dir / "tokenizer.json", False, int(cfg.get("max_length") or 512))


def run_model2vec(work: Path, base: Path, pca_dims: int, quick: bool) -> None:
    import torch

    torch.set_num_threads(1)
    from model2vec.distill import distill_from_model
    from model2vec.onnx import export_model_to_onnx
    from model2vec.train import StaticModelForClassification
    from transformers import AutoModel, AutoTokenizer

    d = read_data(work)
    out = work / "model2vec"
    t0 = time.perf_counter()
    model = AutoModel.from_pretrained(str(base))
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    static = distill_from_model(model=model, tokenizer=tokenizer, pca_dims=pca_dims)   # SIF 1e-4, fp16 table: its defaults
    distill_s = time.perf_counter() - t0
    static.save_pretrained(str(out / "static"))
    t0 = time.perf_counter()
    clf = StaticModelForClassification.from_static_model(model=static)                # 1 hidden layer of 512: its default
    clf.fit(d["train"]["texts"], d["train"]["labels"], X_val=d["dev"]["texts"], y_val=d["dev"]["labels"],
            max_epochs=2 if quick else -1, device="cpu")                                # early stopping on dev, patience 5
    fit_s = time.perf_counter() - t0
    pipeline = clf.to_pipeline()
    pipeline.save_pretrained(str(out / "pipeline"))
    t0 = time.perf_counter()
    export_model_to_onnx(pipeline, out / "onnx", source_model_name=base.name)
    onnx_s = time.perf_counter() - t0
    test = d["test"]["texts"]
    pred = [int(p) for p in pipeline.predict(test)]
    dev_pred = [int(p) for p in pipeline.predict(d["dev"]["texts"])]
    one = m2v_onnx_predictor(out / "onnx")
    onnx_pred = [one(t) for t in test]
    write_result(work, "model2vec", {
        "tool": "model2vec", "version": version("model2vec"), "transformers": version("transformers"), "torch": version("torch"),
        "base": str(base), "pca_dims": pca_dims, "sif_coefficient": static.config.get("sif_coefficient"),
        "vocab_rows": int(static.embedding.shape[0]), "embedding_dtype": str(static.embedding.dtype),
        "head": {"n_layers": clf.n_layers, "hidden_dim": clf.hidden_dim},
        "distill_s": distill_s, "fit_s": fit_s, "train_s": distill_s + fit_s, "onnx_export_s": onnx_s,
        "dev_accuracy": float(np.mean(np.array(dev_pred) == np.array(d["dev"]["labels"]))),
        "test_pred": pred, "onnx_test_pred": onnx_pred,
        "pipeline_dir": str(out / "pipeline"), "pipeline_bytes": dir_bytes(out / "pipeline", M2V_FILES),
        "onnx_dir": str(out / "onnx"), "onnx_bytes": (out / "onnx" / "model.onnx").stat().st_size,
        "onnx_with_tokenizer_bytes": dir_bytes(out / "onnx", ("model.onnx", "tokenizer.json"))})


# ------------------------------------------------------------------------------------------------ fastText

_PUNCT = re.compile(r"([.!?,'/()\";:])")


def ft_clean(text: str) -> str:
    """fastText's own tutorial preprocessing (lower-case, punctuation split off), newlines out (predict refuses them)."""
    return " ".join(_PUNCT.sub(r" \1 ", text.replace("\n", " ")).lower().split())


def ft_file(path: Path, texts: list[str], labels: list[int]) -> Path:
    path.write_text("".join(f"__label__{y} {ft_clean(t)}\n" for t, y in zip(texts, labels)))
    return path


def ft_predictor(model):
    def predict_one(text: str) -> int:
        return int(model.predict(ft_clean(text))[0][0][len("__label__"):])

    return predict_one


def ft_train(train: Path, **params):
    """fasttext.train_supervised, retried on "Encountered NaN": this build raises it on some calls at random, with identical
    arguments (thread=1, seed 0) that train to the very same model on the next call. Returns (model, seconds, attempts)."""
    import fasttext

    for attempt in range(1, 9):
        t0 = time.perf_counter()
        try:
            model = fasttext.train_supervised(input=str(train), thread=1, seed=0, verbose=0, **params)
        except RuntimeError as e:
            if "NaN" not in str(e) or attempt == 8:
                raise
            continue
        return model, time.perf_counter() - t0, attempt
    raise AssertionError("unreachable")


def ft_accuracy(model, texts: list[str], labels: list[int]) -> float:
    one = ft_predictor(model)
    return float(np.mean([one(t) == y for t, y in zip(texts, labels)]))


def run_fasttext(work: Path, quick: bool) -> None:
    d = read_data(work)
    out = work / "fasttext"
    out.mkdir(parents=True, exist_ok=True)
    train = ft_file(out / "train.txt", d["train"]["texts"], d["train"]["labels"])
    grid = [dict(epoch=e, wordNgrams=n, dim=dm, lr=lr) for e in ((5, 25) if quick else (5, 10, 25, 50))
            for n in (1, 2) for dm in ((50,) if quick else (50, 100)) for lr in ((0.5,) if quick else (0.1, 0.5, 1.0))]
    tried, t_grid = [], time.perf_counter()
    for params in grid:
        try:
            m, seconds, attempts = ft_train(train, **params)
        except RuntimeError as e:                 # a setting that diverges every time (large lr x many epochs): recorded, skipped
            tried.append({**params, "dev_accuracy": None, "error": f"{e} (8 attempts)"})
            continue
        tried.append({**params, "dev_accuracy": ft_accuracy(m, d["dev"]["texts"], d["dev"]["labels"]), "train_s": seconds, "attempts": attempts})
    grid_s = time.perf_counter() - t_grid
    best = max((r for r in tried if r["dev_accuracy"] is not None), key=lambda r: (r["dev_accuracy"], -r["train_s"]))
    params = {k: best[k] for k in ("epoch", "wordNgrams", "dim", "lr")}
    model, train_s, attempts = ft_train(train, **params)
    model.save_model(str(out / "model.bin"))
    test = d["test"]["texts"]
    pred = [ft_predictor(model)(t) for t in test]
    # fastText's own small-file route: product quantization with retraining (its docs: model.quantize(..., retrain=True))
    t0 = time.perf_counter()
    model.quantize(input=str(train), qnorm=True, retrain=True, cutoff=100_000, thread=1, verbose=0)
    quant_s = time.perf_counter() - t0
    model.save_model(str(out / "model.ftz"))
    q_pred = [ft_predictor(model)(t) for t in test]
    write_result(work, "fasttext", {
        "tool": "fasttext-numpy2", "version": version("fasttext-numpy2"), "params": params, "grid": tried, "grid_s": grid_s,
        "train_s": train_s, "train_attempts": attempts, "quantize_s": quant_s, "dev_accuracy": best["dev_accuracy"],
        "dev_accuracy_quantized": ft_accuracy(model, d["dev"]["texts"], d["dev"]["labels"]),
        "test_pred": pred, "ftz_test_pred": q_pred,
        "bin": str(out / "model.bin"), "bin_bytes": (out / "model.bin").stat().st_size,
        "ftz": str(out / "model.ftz"), "ftz_bytes": (out / "model.ftz").stat().st_size})


# ------------------------------------------------------------------------------------------------ timing

def mp_predictor(tflite: Path):
    """Raw text -> label through MediaPipe Tasks' TextClassifier (the runtime an app uses for a Model Maker .tflite)."""
    from mediapipe.tasks.python import BaseOptions, text

    clf = text.TextClassifier.create_from_options(text.TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(tflite))))

    def predict_one(t: str) -> int:
        cats = clf.classify(t).classifications[0].categories
        return int(max(cats, key=lambda c: c.score).category_name)

    predict_one.close = clf.close   # close before interpreter exit (its dispatcher fails when torn down late)
    return predict_one


def run_time(work: Path, runs: int, warmup: int, ours: list[str] | None = None) -> None:
    import fasttext
    from model2vec.inference import StaticModelPipeline

    d = read_data(work)
    m2v = json.loads((work / "model2vec.json").read_text()) if (work / "model2vec.json").is_file() else None
    ft = json.loads((work / "fasttext.json").read_text()) if (work / "fasttext.json").is_file() else None
    mp = json.loads((work / "mediapipe.json").read_text()) if (work / "mediapipe.json").is_file() else None
    predictors, extra = {}, {}
    if m2v:
        pipe = StaticModelPipeline.from_pretrained(m2v["pipeline_dir"])
        predictors["model2vec pipeline"] = lambda t, p=pipe: p.predict([t])[0]
        predictors["model2vec onnx"] = m2v_onnx_predictor(Path(m2v["onnx_dir"]))
    if ft:
        predictors["fasttext"] = ft_predictor(fasttext.load_model(ft["bin"]))
        predictors["fasttext ftz"] = ft_predictor(fasttext.load_model(ft["ftz"]))
    if mp:
        one = mp_predictor(Path(mp["tflite"]))
        predictors["mediapipe awe"] = one
        extra["mediapipe_test_pred"] = [one(t) for t in d["test"]["texts"]]
        extra["mediapipe_version"] = version("mediapipe")
    if ours:                                  # one of our ONNX files, its tokenizer.json, max length: timed with the peers
        one = onnx_text_predictor(Path(ours[0]), Path(ours[1]), True, int(ours[2]))
        predictors["ours"] = one
        extra["ours_test_pred"] = [one(t) for t in d["test"]["texts"]]
    res = time_text_classifiers(predictors, d["test"]["texts"], runs=runs, warmup=warmup)
    for fn in predictors.values():
        getattr(fn, "close", lambda: None)()
    write_result(work, "timing-fast", {"runs": runs, "warmup": warmup, "results": res, **extra})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=("model2vec", "fasttext", "time"))
    p.add_argument("work", type=Path)
    p.add_argument("base", type=Path, nargs="?")
    p.add_argument("--pca-dims", type=int, default=128)
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ours", nargs=3, metavar=("ONNX", "TOKENIZER_JSON", "MAX_LEN"), help="time: also one of our ONNX files")
    a = p.parse_args(argv)
    if not (a.work / "data.json").is_file():
        raise SystemExit(f"error: {a.work / 'data.json'} not found; run benchmarks/peers/fast_peers.py, which writes it")
    if a.step == "model2vec":
        if a.base is None or not (a.base / "config.json").is_file():
            raise SystemExit(f"error: model2vec needs the teacher base folder (with config.json) as BASE_DIR, got {a.base}")
        run_model2vec(a.work, a.base, a.pca_dims, a.quick)
    elif a.step == "fasttext":
        run_fasttext(a.work, a.quick)
    else:
        run_time(a.work, a.runs, a.warmup, a.ours)
    return 0


if __name__ == "__main__":
    sys.exit(main())
