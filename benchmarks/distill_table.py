"""Does distillation beat training on labels? Label-only vs MSE vs KL(T) vs each + augmentation,
for BiLSTM and GRU students, several seeds, on the built-in movie data with the built-in teacher.

Controls: a label-only student trained for as many optimizer steps as the augmented distilled ones
("labels, steps-matched"), and the teacher scored on the same test split it never trained on.
Also out-of-domain accuracy on the amazon and tweet snippets.

    python benchmarks/distill_table.py            # the full table (see --help for its size)
    python benchmarks/distill_table.py --quick    # a smoke run: 1 seed, 1 epoch, a few variants
    # the issue's probe recipe: frozen 384-d teacher embeddings, BiLSTM, KL T=2 + augmentation
    python benchmarks/distill_table.py --cells lstm --embed-dim 384 --freeze-embeddings --variants "kl T=2 + aug" --p-replace 0 --out DIR

Writes benchmarks/results/distill_table.{json,md} and prints the Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Variant:
    name: str
    loss: str              # ce | mse | kl
    temperature: float = 1.0
    augment: bool = False
    steps_matched: bool = False   # label-only, as many steps as an augmented run


VARIANTS = [
    Variant("labels", "ce"),
    Variant("labels, steps-matched", "ce", steps_matched=True),
    Variant("mse", "mse"),
    Variant("kl T=1", "kl", 1.0), Variant("kl T=2", "kl", 2.0), Variant("kl T=4", "kl", 4.0),
    Variant("mse + aug", "mse", augment=True),
    Variant("kl T=1 + aug", "kl", 1.0, augment=True), Variant("kl T=2 + aug", "kl", 2.0, augment=True),
    Variant("kl T=4 + aug", "kl", 4.0, augment=True),
]
QUICK = ["labels", "labels, steps-matched", "mse", "kl T=2 + aug"]


def _job(args: dict) -> dict:
    """One student: runs in a worker process with one thread."""
    import torch

    torch.set_num_threads(1)
    import numpy as np

    from distill import Encoder, RNNStudentConfig, TrainConfig, load_dataset
    from distill.recipes import build_rnn_student
    from distill.trainer import TrainSet, accuracy, train

    shared = args["shared"]
    v: Variant = args["variant"]
    enc = Encoder(shared["teacher_dir"], 64)
    ds = load_dataset("movie-snippets")
    ids, labels, logits = enc.ids(ds.train.texts), list(ds.train.labels), shared["train_logits"]
    if v.augment:
        ids += enc.ids(shared["extra"])
        labels += [-1] * len(shared["extra"])
        logits = np.concatenate([logits, shared["extra_logits"]])
    cfg = RNNStudentConfig(vocab_size=enc.settings.vocab_size, cell=args["cell"], embed_dim=shared["embeddings"].shape[1],
                           hidden=args["hidden"], pad_id=enc.settings.pad_id, freeze_embeddings=args["freeze_embeddings"])
    max_steps = args["matched_steps"] if v.steps_matched else None
    epochs = args["aug_epochs"] if v.augment else args["epochs"] * (args["aug_factor"] if v.steps_matched else 1)
    tc = TrainConfig(loss=v.loss, temperature=v.temperature, epochs=epochs, max_steps=max_steps, seed=args["seed"],
                     patience=args["patience"], bf16=args["bf16"])
    torch.manual_seed(args["seed"])
    model = build_rnn_student(cfg, torch.from_numpy(shared["embeddings"]), shared["keep"], shared["unk_id"])
    t0 = time.perf_counter()
    result = train(model, TrainSet(ids, torch.tensor(labels), torch.from_numpy(logits) if tc.uses_teacher else None),
                   enc.ids(ds.dev.texts), ds.dev.labels, enc.pad, tc)
    out = {"cell": args["cell"], "variant": v.name, "seed": args["seed"], "steps": result.steps, "epochs_run": result.epochs_run,
           "best_epoch": result.best_epoch, "dev_accuracy": result.best_dev_accuracy, "seconds": time.perf_counter() - t0,
           "test_accuracy": accuracy(model, enc.ids(ds.test.texts), ds.test.labels, enc.pad),
           "params": model.num_parameters(), "params_non_embedding": model.num_parameters(False)}
    for name, (texts, gold) in shared["ood"].items():
        out[f"{name}_accuracy"] = accuracy(model, enc.ids(texts), gold, enc.pad)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, 4 variants, BiLSTM only")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3, help="epochs over the un-augmented transfer set")
    p.add_argument("--aug-epochs", type=int, default=2, help="epochs over the augmented transfer set (5x larger at --augment 4)")
    p.add_argument("--augment", type=int, default=4, help="augmented variants per training sentence")
    p.add_argument("--embed-dim", type=int, default=128, help="student embedding width: PCA of the teacher's 384-d word embeddings")
    p.add_argument("--p-replace", type=float, help="augmentation: share of words swapped for an embedding neighbour (default: AugmentConfig's 0.1; 0 = [MASK] + n-grams only)")
    p.add_argument("--freeze-embeddings", action="store_true", help="keep the student's embedding table fixed (default: trainable)")
    p.add_argument("--variants", nargs="+", choices=[v.name for v in VARIANTS], help="train only these rows (default: all)")
    p.add_argument("--min-count", type=int, default=2, help="vocabulary: tokens seen at least this often in the transfer text")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--patience", type=int, default=0, help="0: no early stopping (best-on-dev weights are kept anyway)")
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                   help="train under bfloat16 autocast (fp32 weights and evaluation); auto: on CPUs with native bf16")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    variants = [v for v in VARIANTS if (not a.quick or v.name in QUICK) and (not a.variants or v.name in a.variants)]
    seeds = 1 if a.quick else a.seeds
    epochs = 1 if a.quick else a.epochs
    cells = ["lstm"] if a.quick else a.cells.split(",")

    import numpy as np

    from distill import TeacherConfig, cached_teacher_logits, finetune_teacher, load_dataset, load_texts, transfer_set
    from distill.recipes import reduce_embeddings, select_vocabulary, teacher_word_embeddings
    from distill.trainer import native_bf16

    bf16 = a.bf16 == "on" or (a.bf16 == "auto" and native_bf16())

    t_start = time.perf_counter()
    ds = load_dataset("movie-snippets")
    teacher = finetune_teacher(ds, TeacherConfig())
    train_logits = cached_teacher_logits(teacher, ds.train.texts)[0]
    extra, extra_logits = transfer_set(teacher, ds, a.augment, (), **({"p_replace": a.p_replace} if a.p_replace is not None else {}))
    ood = {}
    teacher_row = {"test_accuracy": teacher.metrics["test_accuracy"], "dev_accuracy": teacher.metrics["dev_accuracy"],
                   "params": sum(p.numel() for p in teacher.model.parameters())}
    for name in ("amazon-snippets", "tweets"):
        texts, gold, _ = load_texts(name)
        ood[name.split("-")[0]] = (texts, gold)
        t_logits = cached_teacher_logits(teacher, texts)[0]
        teacher_row[f"{name.split('-')[0]}_accuracy"] = float((t_logits.argmax(1) == np.asarray(gold)).mean())
    enc = teacher.encoder
    keep = select_vocabulary(enc, ds.train.texts + extra, a.min_count)
    table = teacher_word_embeddings(teacher.model)
    reduced = a.embed_dim < table.shape[1]
    if reduced:
        table = reduce_embeddings(table, a.embed_dim, keep)
    shared = {"teacher_dir": str(teacher.path), "train_logits": train_logits, "extra": extra, "extra_logits": extra_logits,
              "embeddings": table.numpy(), "keep": keep,
              "unk_id": enc.settings.unk_id, "ood": ood}
    aug_factor = (len(ds.train) + len(extra)) / len(ds.train)
    aug_epochs = 1 if a.quick else a.aug_epochs
    matched = aug_epochs * -(-(len(ds.train) + len(extra)) // 50)   # steps of an augmented run (batch 50)
    jobs = [{"shared": shared, "variant": v, "cell": c, "seed": s, "epochs": epochs, "aug_epochs": aug_epochs, "hidden": a.hidden, "patience": a.patience,
             "bf16": bf16, "freeze_embeddings": a.freeze_embeddings, "aug_factor": round(aug_factor + 0.4999), "matched_steps": matched}
            for s in range(seeds) for c in cells for v in variants]
    # the long (augmented / matched) jobs first, so the two workers finish together
    jobs.sort(key=lambda j: not (j["variant"].augment or j["variant"].steps_matched))
    print(f"{len(jobs)} students, {a.workers} workers; transfer set {len(ds.train)} + {len(extra)} augmented; "
          f"vocabulary {len(keep)} of {enc.settings.vocab_size} tokens", flush=True)
    rows = []
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=a.workers, mp_context=mp.get_context("spawn")) as pool:
        for row in pool.map(_job, jobs):
            rows.append(row)
            print(f"  {row['cell']:4} {row['variant']:22} seed {row['seed']}: test {row['test_accuracy']:.4f} "
                  f"({row['steps']} steps, {row['seconds']:.0f} s)", flush=True)
    summary = summarise(rows, variants, cells)
    payload = {"teacher": teacher_row, "rows": rows, "summary": summary,
               "setup": {"seeds": seeds, "epochs": epochs, "aug_epochs": aug_epochs, "augment_per_sentence": a.augment, "transfer_train": len(ds.train),
                         "transfer_augmented": len(extra), "vocabulary": len(keep), "hidden": a.hidden, "batch_size": 50,
                         "matched_steps": matched, "patience": a.patience, "workers": a.workers, "quick": a.quick, "bf16": bf16,
                         "freeze_embeddings": a.freeze_embeddings, "variants": [v.name for v in variants], "p_replace": a.p_replace,
                         "embedding": f"teacher word embeddings, {f'PCA to {table.shape[1]}' if reduced else f'{table.shape[1]}-d'}, "
                                      f"{'frozen' if a.freeze_embeddings else 'trainable'}; vocabulary: tokens seen >= {a.min_count}x in the transfer text"},
               "wall_seconds": round(time.perf_counter() - t_start, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    stem = "distill_table_quick" if a.quick else "distill_table"
    (a.out / f"{stem}.json").write_text(json.dumps(payload, indent=2))
    md = markdown(payload)
    (a.out / f"{stem}.md").write_text(md)
    print(md)
    return 0


def summarise(rows: list[dict], variants: list[Variant], cells: list[str]) -> list[dict]:
    out = []
    for cell in cells:
        for v in variants:
            rs = [r for r in rows if r["cell"] == cell and r["variant"] == v.name]
            if not rs:
                continue
            entry = {"cell": cell, "variant": v.name, "n": len(rs), "params_non_embedding": rs[0]["params_non_embedding"],
                     "steps": rs[0]["steps"], "seconds_mean": statistics.mean(r["seconds"] for r in rs)}
            for key in ("test_accuracy", "dev_accuracy", "amazon_accuracy", "tweets_accuracy"):
                vals = [r[key] for r in rs]
                entry[key] = statistics.mean(vals)
                entry[key + "_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
            out.append(entry)
    return out


def markdown(payload: dict) -> str:
    t = payload["teacher"]
    s = payload["setup"]
    lines = [f"Teacher (MiniLM-L6 fine-tuned): test {t['test_accuracy']:.2%}, amazon {t['amazon_accuracy']:.2%}, "
             f"tweets {t['tweets_accuracy']:.2%}, {t['params']:,} params.",
             f"Students: {s['seeds']} seed(s), {s['epochs']} epoch(s) over {s['transfer_train']} sentences, "
             f"{s.get('aug_epochs', s['epochs'])} over those + {s['transfer_augmented']} augmented (steps-matched label-only: as many steps), "
             f"vocabulary {s['vocabulary']}, hidden {s['hidden']}, {s['embedding']}.", "",
             "| student | training | test acc (mean ± std) | vs teacher | amazon | tweets | steps | s / run | non-emb. params |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in payload["summary"]:
        lines.append(f"| {'BiLSTM' if e['cell'] == 'lstm' else 'BiGRU'} | {e['variant']} | {e['test_accuracy']:.2%} ± {e['test_accuracy_std']:.2%} | "
                     f"{e['test_accuracy'] - t['test_accuracy']:+.2%} | {e['amazon_accuracy']:.2%} | {e['tweets_accuracy']:.2%} | "
                     f"{e['steps']} | {e['seconds_mean']:.0f} | {e['params_non_embedding']:,} |")
    autocast = ", bf16 autocast" if s.get("bf16") else ""
    lines.append(f"\nWall time {payload['wall_seconds'] / 60:.1f} min ({s['workers']} worker processes, 1 thread each{autocast}).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
