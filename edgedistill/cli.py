"""`edgedistill`: parses arguments and calls the capability packages' verbs. No ML logic here.

Every command exits 0 on success; on bad input it prints one line `error: ...` (no traceback) and
exits 2; Ctrl-C exits 130 with a note saying what was kept.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from edgecore import ConfigError, EdgedistillError, UnsupportedError, atomic_write

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Distil a fine-tuned Transformer classifier into small students, export them for phones, prove they agree.")
data_app = typer.Typer(no_args_is_help=True, help="Built-in and user data sets.")
teacher_app = typer.Typer(no_args_is_help=True, help="Teacher fine-tuning.")
app.add_typer(data_app, name="data")
app.add_typer(teacher_app, name="teacher")
# piped or logged output (CI, `| tee`) is not cut to 80 columns: tables keep every column readable
console = Console(stderr=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _csv(value: str, choices: tuple[str, ...], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in choices]
    if bad or not items:
        raise UnsupportedError(f"{bad[0] if bad else value!r} is not a {what}; choose from {', '.join(choices)} (comma-separated)")
    return items


def _write_json(path: Optional[Path], payload: dict, force: bool = True) -> None:
    if path is None:
        return
    with atomic_write(path, "w") as f:
        json.dump(payload, f, indent=2)
    console.print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------

@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), help="Output folder (report.json, bundle/, students/)."),
         profile: str = typer.Option("full", help="full (real run, ~15 min cold) or quick (small subset, smoke check)."),
         force: bool = typer.Option(False, help="Overwrite an existing output folder."),
         threads: int = typer.Option(1, help="Threads for the benchmark (batch 1)."),
         seq_len: int = typer.Option(64, help="Benchmark sequence length.")) -> None:
    """Real data -> teacher -> distilled BiLSTM -> ONNX fp32/int8 -> benchmark -> parity -> bundle + report."""
    from edgedistill.pipeline import DemoConfig, run_demo

    run_demo(DemoConfig(out=out, profile=profile, force=force, threads=threads, seq_len=seq_len), console)


@data_app.command("list")
def data_list() -> None:
    """List the built-in data sets."""
    from distill.data import BUILTIN

    for name, (file, what) in BUILTIN.items():
        console.print(f"{name:16} {what} ({file})")


@data_app.command("show")
def data_show(name: str, n: int = typer.Option(5, help="Example sentences to print.")) -> None:
    """Sizes, label balance and a few examples of a data set (built-in name or CSV path)."""
    from distill import load_dataset

    ds = load_dataset(name)
    info = ds.describe()
    info["train_label_counts"] = {ds.label_names[i]: ds.train.labels.count(i) for i in range(len(ds.label_names))}
    console.print_json(json.dumps(info))
    for text, label in list(zip(ds.train.texts, ds.train.labels))[:n]:
        console.print(f"[{ds.label_names[label]}] {text}")


@data_app.command("fetch")
def data_fetch(force: bool = typer.Option(False, help="Download again even if cached.")) -> None:
    """Fetch the built-in data (the vaderSentiment sdist, through pip) into the cache."""
    from distill.data import fetch_builtin

    console.print(f"built-in data in {fetch_builtin(force)}")


@teacher_app.command("finetune")
def teacher_finetune(data: str = typer.Option("movie-snippets", help="Built-in data name or CSV path (text,label)."),
                     base: str = typer.Option("minilm-l6", help="Built-in base name or a Hugging Face model folder."),
                     out: Path = typer.Option(..., help="Folder to write the fine-tuned teacher to."),
                     epochs: float = typer.Option(2.0), lr: float = typer.Option(1e-4), batch_size: int = typer.Option(32),
                     max_len: int = typer.Option(64),
                     peft: str = typer.Option("full", help="Which parameters train: full | freeze:K (embeddings + first K blocks frozen) | bitfit (biases + head) | adapter:R (bottleneck adapters of width R)."),
                     force: bool = typer.Option(False),
                     json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics here.")) -> None:
    """Fine-tune a teacher (cached by content hash) and copy it to --out; runs under torchrun too."""
    import shutil

    from distill import TeacherConfig, finetune_teacher, load_dataset
    from distill.distributed import init_distributed
    from edgecore import atomic_dir, check_writable, prepare_output_dir

    if out.exists() and not force:
        prepare_output_dir(out, force)
    check_writable(out)
    config = TeacherConfig(base=base, epochs=epochs, lr=lr, batch_size=batch_size, max_len=max_len, peft=peft)
    ctx = init_distributed()
    teacher = finetune_teacher(load_dataset(data), config)
    if not ctx.is_main:
        return
    with atomic_dir(out, force=True) as tmp:
        shutil.copytree(teacher.path, tmp, dirs_exist_ok=True)
    trained = teacher.metrics.get("trainable_parameters")
    how = f" ({trained['method']}: {trained['trainable']:,} of {trained['total']:,} parameters trained)" if trained else ""
    console.print(f"teacher dev {teacher.metrics['dev_accuracy']:.2%}, test {teacher.metrics['test_accuracy']:.2%}{how} -> {out}")
    _write_json(json_out, teacher.metrics)


@app.command()
def distill(teacher: Path = typer.Option(..., help="Fine-tuned teacher folder (from `teacher finetune`)."),
            student: str = typer.Option("bilstm", help="bilstm | gru | transformer"),
            data: str = typer.Option("movie-snippets", help="Built-in data name or CSV path (text,label)."),
            out: Path = typer.Option(..., help="Folder for the student checkpoint."),
            loss: str = typer.Option("mse", help="bilstm/gru: mse (logits) | kl (soft targets at --temperature) | ce (labels only)."),
            temperature: Optional[float] = typer.Option(None, help="Soft-target temperature (default 1 for bilstm/gru, 2 for transformer)."),
            alpha: float = typer.Option(1.0, help="Weight of the distillation term."),
            augment: int = typer.Option(0, help="Augmented variants per training sentence ([MASK], neighbour swaps, n-grams), labelled by the teacher."),
            unlabelled: str = typer.Option("", help="Comma-separated extra text (built-in names or CSV) labelled by the teacher."),
            epochs: Optional[int] = typer.Option(None, help="Epochs (default 12 for bilstm/gru, 3 for transformer)."),
            hidden: Optional[int] = typer.Option(None, help="Width (default 256 for bilstm/gru; the teacher's for transformer, narrower means TinyBERT-style)."),
            layers: Optional[int] = typer.Option(None, help="Layers (default 1 for bilstm/gru, 3 for transformer)."),
            matches: Optional[str] = typer.Option(None, help="transformer: layer matches, a preset (distilbert, tinybert, tinybert-hidden, none: logits only) or a .json/.yaml file."),
            method: Optional[str] = typer.Option(None, help="transformer: distilbert | tinybert (default: distilbert at the teacher's width, tinybert when narrower)."),
            intermediate: Optional[int] = typer.Option(None, help="transformer: feed-forward width (default 4 x hidden); below the teacher's, teacher-init keeps its top neurons."),
            pooling: str = typer.Option("max", help="bilstm/gru: max | mean | last | attention"),
            embed_dim: int = typer.Option(0, help="bilstm/gru: embedding width (PCA of the teacher's); 0 = the teacher's width."),
            freeze_embeddings: bool = typer.Option(False), prune_vocab: bool = typer.Option(True, help="Keep only tokens seen in the transfer text."),
            min_count: int = typer.Option(1, help="bilstm/gru: keep tokens seen at least this often in the transfer text (rarer ones read as [UNK])."),
            seed: int = typer.Option(0), force: bool = typer.Option(False),
            bf16: bool = typer.Option(False, help="Train under bfloat16 autocast: ~1.3x faster on CPUs with AVX512-BF16 or AMX; weights, optimizer and evaluation stay fp32."),
            lr: Optional[float] = typer.Option(None, help="Peak learning rate (default 1e-3 for bilstm/gru, 1e-4 for transformer; tinybert: its prediction stage)."),
            stage1_epochs: Optional[int] = typer.Option(None, help="transformer, tinybert: epochs of the first stage, layer matches only (default 3)."),
            stage1_lr: Optional[float] = typer.Option(None, help="transformer, tinybert: learning rate of the first stage (default 5e-4)."),
            json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics here.")) -> None:
    """Distil a student (BiLSTM/GRU on the teacher's cached logits, or a Transformer); runs under torchrun too."""
    from distill.distributed import init_distributed
    from edgedistill.recipes_cli import DistillRequest, run_distill

    from edgecore import check_writable, prepare_output_dir

    _csv(student, ("bilstm", "gru", "transformer"), "student kind")
    if out.exists() and not force:
        prepare_output_dir(out, force)
    check_writable(out)
    ctx = init_distributed()
    metrics = run_distill(DistillRequest(teacher, student, data, out, loss, temperature, alpha, augment,
                                         tuple(u for u in unlabelled.split(",") if u), epochs, hidden, layers, pooling,
                                         embed_dim or None, freeze_embeddings, prune_vocab, seed, force, min_count, matches, method,
                                         intermediate=intermediate, bf16=bf16, lr=lr, stage1_epochs=stage1_epochs, stage1_lr=stage1_lr), console)
    if ctx.is_main:
        _write_json(json_out, metrics)


@app.command()
def export(checkpoint: Path = typer.Argument(..., help="Student folder (from `distill`) or a Hugging Face classifier folder."),
           format: str = typer.Option("onnx", "--format", help="Comma-separated: onnx, tflite, coreml."),
           precision: str = typer.Option("fp32,int8", help="Comma-separated: fp32, fp16, int8; onnx also int8-static, tflite also int8-weight, int8-full, coreml also palettize4, palettize6."),
           out: Path = typer.Option(..., help="Bundle folder to write."),
           data: str = typer.Option("movie-snippets", help="Sentences to validate on (and calibrate, for int8-static)."),
           calibration: Optional[str] = typer.Option(None, help="Data for int8-static calibration (default: --data)."),
           zip_bundle: bool = typer.Option(False, "--zip", help="Also write BUNDLE.zip."),
           buckets: str = typer.Option("16,32,64,128", help="TFLite: sequence-length buckets, one signature each."),
           recurrent: str = typer.Option("while", help="TFLite: LSTM/GRU lowering: while (fast) | stock | fused | loop."),
           keep_fp32: str = typer.Option("", help="ONNX int8: comma-separated node-name fragments to keep fp32; 'sensitive' = the feed-forward blocks 1-3 of a BERT (the teacher's most int8-sensitive weights)."),
           smooth: Optional[str] = typer.Option(None, help="ONNX int8: SmoothQuant first: auto (alpha searched per activation; the default for Transformers), an alpha in (0, 1), or off. Calibrates on --calibration (default --data) training sentences."),
           nbits: Optional[str] = typer.Option(None, help="ONNX int8: comma-separated MatMul name fragments to run as 8-bit MatMulNBits (finer int8, a little slower); 'sensitive' = the feed-forward blocks 1-3 of a BERT (the default for BERT-family Transformers), or off."),
           validate: Optional[int] = typer.Option(None, help="Measure parity on the first N test sentences of --data (default: the whole test split)."),
           force: bool = typer.Option(False),
           json_out: Optional[Path] = typer.Option(None, "--json")) -> None:
    """Convert a checkpoint into a validated phone bundle in one command."""
    from edgedistill.convert import ExportRequest, export_checkpoint

    formats = _csv(format, ("onnx", "tflite", "coreml"), "supported format")
    precisions = _csv(precision, ("fp32", "fp16", "int8", "int8-static", "int8-weight", "int8-full", "palettize4", "palettize6"), "precision")
    try:
        bucket_list = tuple(int(b) for b in buckets.split(","))
    except ValueError:
        raise UnsupportedError(f"--buckets {buckets!r} must be comma-separated token counts, e.g. 16,32,64,128") from None
    if smooth is not None and smooth not in ("auto", "off"):
        try:
            alpha = float(smooth)
        except ValueError:
            alpha = -1.0
        if not 0.0 < alpha < 1.0:
            raise ConfigError(f"--smooth {smooth!r} must be auto, off or an alpha in (0, 1), e.g. 0.8")
        smooth = alpha
    result = export_checkpoint(ExportRequest(checkpoint, out, tuple(formats), tuple(precisions), data, calibration, zip_bundle, force,
                                             buckets=bucket_list, recurrent=recurrent,
                                             keep_fp32=tuple(k.strip() for k in keep_fp32.split(",") if k.strip()), smooth=smooth,
                                             nbits=None if nbits is None else tuple(k.strip() for k in nbits.split(",") if k.strip()),
                                             validation_sentences=validate), console)
    _write_json(json_out, result)


@app.command()
def bench(models: list[Path] = typer.Argument(..., help="One or more model files or bundles; several are timed interleaved."),
          threads: int = typer.Option(1), runs: int = typer.Option(100), warmup: int = typer.Option(10),
          seq_len: int = typer.Option(64), batch: int = typer.Option(1),
          mode: str = typer.Option("fixed", help="fixed (batch x seq-len real tokens) | sentences (real sentences at their lengths) | end-to-end (tokenizer + model)."),
          data: Optional[str] = typer.Option(None, help="Data set whose test sentences feed the sentences / end-to-end modes."),
          profile: Optional[str] = typer.Option(None, help="Device profile: little (1 thread, one core) | big (all cores); an approximation of a phone."),
          cpus: Optional[str] = typer.Option(None, help="Pin to these cores, e.g. 0 or 0,1."),
          min_seconds: float = typer.Option(0.0, help="Keep timing until this long has passed."),
          max_seconds: float = typer.Option(0.0, help="Stop timing after this long (0: no cap)."),
          floors: bool = typer.Option(False, help="Report each latency as a multiple of its FLOP floor on this machine."),
          device: Optional[str] = typer.Option(None, "--device", help="Time it on an Android phone over adb: adb (the one attached) or adb:SERIAL."),
          json_out: Optional[Path] = typer.Option(None, "--json")) -> None:
    """Latency at a fixed shape: warm-up, timed runs, percentiles, ratios between files."""
    from edgedistill.convert import bench_models

    if device is not None:
        from edge_runtime.adb import bench_on_device, parse_device

        if len(models) != 1 or batch != 1:
            raise UnsupportedError("--device times one bundle at batch 1; give one bundle folder and no --batch")
        result = bench_on_device(models[0], serial=parse_device(device), runs=runs, warmup=warmup, threads=threads, seq_len=seq_len)
        lat = result.latency_ms
        console.print(f"{result.name}: p50 {lat['p50']:.3f} ms, p90 {lat['p90']:.3f} ms, p99 {lat['p99']:.3f} ms, "
                      f"{result.throughput_per_s:.0f}/s ({result.runs} runs, {threads} thread(s), seq {seq_len}, load {result.info.get('load_ms') or 0:.0f} ms)")
        _write_json(json_out, {"config": result.config, "results": {str(models[0]): result.to_dict(with_samples=True)}})
        return

    from edge_runtime import BenchConfig

    cpu_list = tuple(int(c) for c in cpus.split(",")) if cpus else None
    config = BenchConfig(warmup=warmup, runs=runs, threads=threads, batch=batch, seq_len=seq_len, cpus=cpu_list, profile=profile,
                         min_seconds=min_seconds, max_seconds=max_seconds)
    _write_json(json_out, bench_models(models, config, mode, data, floors, console))


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run folder with report.json (and bench.json), e.g. runs/demo."),
           floors: bool = typer.Option(True, help="Add FLOP floors (measures this machine's GEMM rates, a few seconds).")) -> None:
    """Write report.md and a self-contained report.html (Pareto front, latency histograms, sizes) for a run."""
    from edge_runtime.report import write_reports

    for kind, path in write_reports(run_dir, floors).items():
        console.print(f"{kind}: {path}")


@app.command()
def parity(bundle: Path = typer.Argument(..., help="Bundle folder or zip."),
           teacher: Path = typer.Option(..., help="Teacher folder, or a .npy file of teacher logits for the test split."),
           data: str = typer.Option("movie-snippets", help="Built-in data name or CSV path."),
           source: Optional[Path] = typer.Option(None, help="The student checkpoint the bundle came from (for logit diffs)."),
           json_out: Optional[Path] = typer.Option(None, "--json")) -> None:
    """Agreement with the teacher, accuracy and flips of every model in a bundle on a test split."""
    from edgedistill.convert import bundle_parity

    _write_json(json_out, bundle_parity(bundle, teacher, data, source, console))


def _quiet_libraries() -> None:
    """Keep library chatter (torchao's optional CUDA kernels, transformers' fresh-head load report, a torch
    deprecation, onnxruntime's pre-processing hint) off the user's terminal; EDGEDISTILL_VERBOSE=1 shows it."""
    import logging

    if os.environ.get("EDGEDISTILL_VERBOSE"):
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:   # imported already (in-process callers): it read the variable at import
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    logging.getLogger().setLevel(logging.ERROR)
    import warnings

    # fp16 conversion warns once per tiny weight it rounds to fp16's smallest step (dozens of lines per Transformer)
    warnings.filterwarnings("ignore", message="the float32 number .* will be truncated to", module="onnxconverter_common")
    for name in ("torchao", "torch.utils._pytree", "transformers", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _quiet_libraries()
    interrupted = ("interrupted: nothing half-written was left at the output path; run the same command again to redo it"
                   " (`distill` resumes from its last finished epoch)")
    try:
        code = app(standalone_mode=False)
        # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns the code instead of exiting
        if code == 130:
            err.print(interrupted, soft_wrap=True)
        if isinstance(code, int) and code:
            sys.exit(code)
    except EdgedistillError as e:
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print(interrupted, soft_wrap=True)
        sys.exit(130)
    except OSError as e:  # unwritable folder, full disk, file too large: name the path and stop cleanly
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        err.print(f"[red]error:[/] {e.strerror or e}{where}; free space or choose a writable --out", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as e:  # usage errors from typer's (vendored) click arrive here with standalone_mode=False
        name = type(e).__name__
        if name == "Exit":
            sys.exit(getattr(e, "exit_code", 0))
        if name == "Abort":
            sys.exit(130)
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            err.print(f"[red]error:[/] {e.format_message()} (see `edgedistill --help`)", highlight=False, soft_wrap=True)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
