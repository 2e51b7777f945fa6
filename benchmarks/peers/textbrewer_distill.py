"""TextBrewer worker (runs in .venv-peers): distil the fine-tuned teacher into our RNN student with
TextBrewer's BasicDistiller, mirroring distill.trainer.TrainConfig's defaults.

    .venv-peers/bin/python benchmarks/peers/textbrewer_distill.py DATA TEACHER_DIR OUT_STEM --seed 0 --epochs 6 [--cache-logits]

Same as ours: student (distill.recipes.build_rnn_student from DATA's arrays, seeded alike), batches
(distill.trainer.length_bucketed, batch 50, pools of 50 batches, the same seeded generator), AdamW
(lr 1e-3, weight decay 0.01, fused), linear warm-up over 5% of the steps then linear decay, grad-norm clip 5,
loss logit MSE (kd_loss_type "mse", temperature 1, hard_label_weight 0), dev accuracy after every epoch
through TextBrewer's callback with the best-on-dev weights kept. Different: TextBrewer runs the
teacher (transformers 4.57, weights from model.safetensors) forward on every batch; ours reads cached logits.
With --cache-logits, TextBrewer's own is_caching_logits=True: one teacher pass over the batches of the
first epoch, kept in memory, and those same batches reshuffled each epoch (not re-drawn as ours are).

Measured: seconds of `distiller.train` (the whole training incl. per-epoch dev scoring and the
checkpoint TextBrewer writes every epoch), steps, dev accuracy per epoch; and as a check, the largest
difference between this teacher's logits and the cached ones on the first 256 train sentences.
Writes OUT_STEM.safetensors (best-on-dev student weights) and OUT_STEM.json.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from common import build_student, import_distill, linear_warmup_decay, pad_batch, read_student_data, steps_per_epoch


class BucketedBatches(torch.utils.data.Sampler):
    """distill.trainer.length_bucketed as a batch sampler: each epoch draws from one seeded generator, as our trainer does."""

    def __init__(self, ids: list[list[int]], batch_size: int, bucket: int, seed: int) -> None:
        self.ids, self.batch_size, self.bucket = ids, batch_size, bucket
        self.generator = torch.Generator().manual_seed(seed)
        self.length_bucketed = import_distill("trainer")[0].length_bucketed

    def __len__(self) -> int:
        return steps_per_epoch(len(self.ids), self.batch_size, self.bucket)

    def __iter__(self):
        for batch in self.length_bucketed(self.ids, self.batch_size, self.bucket, self.generator):
            yield batch.tolist()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path, help="student data stem (.npz + .json) written by run.py")
    p.add_argument("teacher", type=Path, help="fine-tuned teacher folder (config.json + model.safetensors)")
    p.add_argument("out", type=Path, help="output stem: .safetensors + .json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--cache-logits", action="store_true", help="TextBrewer's is_caching_logits=True")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    logging.getLogger("Distillation").setLevel(logging.WARNING)

    import random

    import textbrewer
    from safetensors.torch import save_file
    from textbrewer import BasicDistiller, DistillationConfig, TrainingConfig
    from transformers import AutoModelForSequenceClassification

    trainer, = import_distill("trainer")
    cfg = trainer.TrainConfig(loss="mse", epochs=a.epochs, patience=0, seed=a.seed)   # our defaults, mirrored below
    data = read_student_data(a.data)
    ids, pad_id = data["train_ids"], data["pad_id"]
    dev_pad = lambda rows: pad_batch(rows, pad_id)

    teacher = AutoModelForSequenceClassification.from_pretrained(a.teacher, use_safetensors=True).eval()
    with torch.no_grad():
        probe = min(256, len(ids))
        check = trainer.predict(teacher, ids[:probe], dev_pad)
    teacher_diff = float(abs(check - data["train_logits"][:probe]).max())

    model = build_student(data, a.seed)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)   # is_caching_logits reshuffles its cached batches with Python's random
    batches = BucketedBatches(ids, cfg.batch_size, cfg.bucket, cfg.seed)
    loader = torch.utils.data.DataLoader(range(len(ids)), batch_sampler=batches, collate_fn=lambda idx: pad_batch([ids[i] for i in idx], pad_id),
                                         generator=torch.Generator().manual_seed(cfg.seed))
    total_steps = len(batches) * a.epochs
    params = [q for q in model.parameters() if q.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)   # as distill.trainer builds it

    history: list[dict] = []
    best = {"acc": -1.0, "epoch": 0, "state": None}

    def callback(model, step):   # TextBrewer calls this after every epoch (ckpt_frequency=1)
        acc = trainer.accuracy(model, data["dev_ids"], data["dev_labels"].tolist(), dev_pad)
        history.append({"epoch": len(history) + 1, "step": step, "dev_accuracy": acc})
        if acc > best["acc"]:
            best.update(acc=acc, epoch=len(history), state={k: v.detach().clone() for k, v in model.state_dict().items()})

    with tempfile.TemporaryDirectory() as tmp:
        train_config = TrainingConfig(device="cpu", output_dir=tmp, ckpt_frequency=1, log_dir=None)
        distill_config = DistillationConfig(kd_loss_type="mse", temperature=1, kd_loss_weight=1, hard_label_weight=0,
                                            is_caching_logits=a.cache_logits)
        distiller = BasicDistiller(train_config, distill_config, model_T=teacher, model_S=model,
                                   adaptor_T=lambda batch, out: {"logits": out.logits}, adaptor_S=lambda batch, out: {"logits": out})
        t0 = time.perf_counter()
        with distiller:
            distiller.train(optimizer, loader, num_epochs=a.epochs, max_grad_norm=cfg.grad_clip,
                            scheduler_class=torch.optim.lr_scheduler.LambdaLR,
                            scheduler_args={"lr_lambda": linear_warmup_decay(total_steps, cfg.warmup)}, callback=callback)
        seconds = time.perf_counter() - t0
    model.load_state_dict(best["state"])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(a.out.with_suffix(".safetensors")))
    result = {"trainer": "textbrewer-cached" if a.cache_logits else "textbrewer", "seed": a.seed, "epochs": a.epochs, "steps": total_steps, "seconds": seconds,
              "best_epoch": best["epoch"], "best_dev_accuracy": best["acc"], "history": history,
              "teacher_logit_max_diff_vs_cache": teacher_diff, "textbrewer": textbrewer.__version__,
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    a.out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
