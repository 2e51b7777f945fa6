"""Which Linears make the teacher's ExecuTorch int8 error (issue #27), one Linear at a time, on the DEV split.

ExecuTorch's int8 (export/executorch.py) is XNNPACKQuantizer's dynamic int8 on every nn.Linear: per-channel
symmetric int8 weights (scale = max|w| / 127 per output row) and, at run time, asymmetric int8 activations; the XNNPACK
delegate quantizes those per token (per row), not per tensor (executorch/backends/xnnpack/operators/node_visitor.py:
"We use per_token quantization for per_tensor quantization"). Lowering a 22M-parameter model takes minutes, so the
sweep simulates exactly that arithmetic in PyTorch (a forward hook per Linear) and first checks the simulation against
a real lowered .pte of the same model on the same sentences (--pte: a file with every Linear int8).

For every Linear of the teacher, on the first --rank dev sentences (the ranking needs the mean error, not the rare
flips, and the shared 2-core machine makes a full pass slow): (a) it alone int8, all else fp32; (b) every Linear int8
but it (the feed-forward Linears, the pooler and the classifier only: the ONNX study found removing one attention projection
moves nothing). Agreement with the PyTorch fp32 logits, flips, mean and max |logit diff|. Then on all dev sentences, candidate
sets left fp32, the rest int8: the top k Linears by the error they cause alone (greedy), and the feed-forward Linears
of the first blocks (where the ONNX study, benchmarks/results/int8_sensitivity.md, found the error).

    python benchmarks/executorch_int8_sensitivity.py [--rank 200] [--pte runs/executorch/teacher.executorch-int8-timing-only.pte]

Writes benchmarks/results/executorch_int8_sensitivity.{json,md}.
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
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def qdq_weight(w):
    """Per-output-channel symmetric int8 (-127..127), as PerChannelMinMaxObserver(eps=2**-12) with the XNNPACK config."""
    import torch

    scale = torch.clamp(w.abs().amax(dim=1, keepdim=True) / 127.0, min=2 ** -12)
    return torch.clamp(torch.round(w / scale), -127, 127) * scale


def qdq_rows(x):
    """Asymmetric int8 (-128..127) per row of the last axis: XNNPACK's dynamic (qd8) activation quantization."""
    import torch

    lo = torch.clamp(x.amin(dim=-1, keepdim=True), max=0.0)
    hi = torch.clamp(x.amax(dim=-1, keepdim=True), min=0.0)
    scale = torch.clamp((hi - lo) / 255.0, min=1e-12)
    zp = torch.clamp(torch.round(-128 - lo / scale), -128, 127)
    return (torch.clamp(torch.round(x / scale) + zp, -128, 127) - zp) * scale


class Simulator:
    """Forward hooks that make chosen nn.Linear modules compute as XNNPACK's dynamic int8 fully-connected does."""

    def __init__(self, model) -> None:
        import torch

        self.model = model
        self.linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        self.qweights = {n: qdq_weight(m.weight.detach()) for n, m in self.linears.items()}
        self.active: set[str] = set()
        for n, m in self.linears.items():
            m.register_forward_hook(self._hook(n))

    def _hook(self, name):
        import torch

        def hook(module, args, out):
            if name not in self.active:
                return None
            return torch.nn.functional.linear(qdq_rows(args[0]), self.qweights[name], module.bias)
        return hook


def batches(encoder, texts, size=32):
    """(indices, encoded batch) of similar-length sentences (padding is masked; per-row quantization ignores it)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for s in range(0, len(order), size):
        idx = order[s:s + size]
        yield idx, encoder.encode([texts[i] for i in idx])


def logits(model, feeds, n):
    import numpy as np
    import torch

    out = np.zeros((n, model.config.num_labels), dtype=np.float32)
    with torch.no_grad():
        for idx, feed in feeds:
            out[idx] = model(**feed).logits.float().numpy()
    return out


def score(got, ref) -> dict:
    import numpy as np

    d = np.abs(got - ref)
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    return {"agreement": round(agree, 5), "flips": int((got.argmax(1) != ref.argmax(1)).sum()),
            "mean_abs_logit_diff": round(float(d.mean()), 5), "max_abs_logit_diff": round(float(d.max()), 4)}


def candidate_sets(names: list[str]) -> dict[str, list[str]]:
    """The feed-forward Linears (intermediate + output dense) of blocks 0..k, and the FFN-output dense alone of blocks 0-1."""
    import fnmatch

    out = {}
    for k in range(3):
        if k == 2:
            out["FFN output dense of blocks 0,1"] = [n for n in names for i in range(2) if fnmatch.fnmatchcase(n, f"*.layer.{i}.output.dense")]
        blocks = ",".join(map(str, range(k + 1)))
        out[f"FFN of blocks {blocks}"] = [n for n in names for i in range(k + 1)
                                          if fnmatch.fnmatchcase(n, f"*.layer.{i}.intermediate.dense") or fnmatch.fnmatchcase(n, f"*.layer.{i}.output.dense")]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pte", type=Path, default=ROOT / "runs" / "executorch" / "teacher.executorch-int8-timing-only.pte",
                   help="a .pte of the same teacher with every Linear int8, to check the simulation against ('' skips)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rank", type=int, default=200, help="dev sentences the per-Linear sweep runs on (the candidate sets: all)")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    from distill import TeacherConfig, finetune_teacher, load_dataset

    t0 = time.perf_counter()
    ds = load_dataset("movie-snippets")
    teacher = finetune_teacher(ds, TeacherConfig())
    model, enc = teacher.model.eval(), teacher.encoder
    texts = list(ds.dev.texts)
    feeds = list(batches(enc, texts))
    ref = logits(model, feeds, len(texts))
    sim = Simulator(model)
    names = list(sim.linears)
    log(f"{len(texts)} dev sentences, {len(names)} Linears; fp32 pass done")
    sim.active = set(names)
    all_int8 = logits(model, feeds, len(texts))
    payload = {"dev_sentences": len(texts), "teacher": str(teacher.path), "linears": names, "all_int8": score(all_int8, ref)}
    log(f"all int8 (simulated): {payload['all_int8']}")
    if str(a.pte) and a.pte.is_file():
        from edge_runtime.executorch import ExecuTorchRunner

        runner = ExecuTorchRunner(a.pte, threads=a.threads)
        pte = np.zeros_like(ref)
        for idx, feed in feeds:
            pte[idx] = runner({k: v.numpy() for k, v in feed.items()})
        payload["simulation_check"] = {"pte": str(a.pte.relative_to(ROOT) if a.pte.is_relative_to(ROOT) else a.pte),
                                       "pte_vs_fp32": score(pte, ref), "simulation_vs_pte": score(all_int8, pte)}
        log(f"simulation check: {payload['simulation_check']}")
    rank_idx = [i for i in range(len(texts)) if i < a.rank]
    rank_feeds = list(batches(enc, [texts[i] for i in rank_idx]))
    rank_ref = ref[rank_idx]
    payload["rank_sentences"] = len(rank_idx)
    rows = []
    for n in names:
        sim.active = {n}
        alone = score(logits(model, rank_feeds, len(rank_idx)), rank_ref)
        all_but = None
        if ".attention." not in n:
            sim.active = set(names) - {n}
            all_but = score(logits(model, rank_feeds, len(rank_idx)), rank_ref)
        rows.append({"linear": n, "alone": alone, "all_but": all_but})
        log(f"{n}: alone {alone['flips']} flips mean {alone['mean_abs_logit_diff']:.4f}"
            + (f"; all but {all_but['flips']} flips mean {all_but['mean_abs_logit_diff']:.4f}" if all_but else ""))
    payload["rows"] = rows
    ranked = [r["linear"] for r in sorted(rows, key=lambda r: -r["alone"]["mean_abs_logit_diff"])]
    greedy = []
    for k in range(1, 4):
        sim.active = set(names) - set(ranked[:k])
        greedy.append({"left_out": ranked[:k], **score(logits(model, feeds, len(texts)), ref)})
        log(f"leave out top {k}: {greedy[-1]['flips']} flips, mean {greedy[-1]['mean_abs_logit_diff']:.4f}")
    payload["greedy"] = greedy
    grouped = []
    for label, members in candidate_sets(names).items():
        sim.active = set(names) - set(members)
        grouped.append({"left_out": label, "count": len(members), **score(logits(model, feeds, len(texts)), ref)})
        log(f"leave out {label}: {grouped[-1]['flips']} flips, mean {grouped[-1]['mean_abs_logit_diff']:.4f}")
    payload["groups"] = grouped
    payload["wall_seconds"] = round(time.perf_counter() - t0, 1)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "executorch_int8_sensitivity.json").write_text(json.dumps(payload, indent=2))
    md = markdown(payload)
    (a.out / "executorch_int8_sensitivity.md").write_text(md)
    print(md)
    return 0


def markdown(payload: dict) -> str:
    s = lambda r: f"{r['agreement']:.2%} ({r['flips']} flips), mean |dlogit| {r['mean_abs_logit_diff']:.4f}, max {r['max_abs_logit_diff']:.3f}"
    lines = [f"Teacher ExecuTorch int8 sensitivity (issue #27): {payload['dev_sentences']} dev sentences, against PyTorch fp32 logits. "
             "XNNPACK dynamic int8 simulated in PyTorch (per-channel symmetric int8 weights, per-token asymmetric int8 activations).", "",
             f"- every Linear int8 (simulated): {s(payload['all_int8'])}"]
    chk = payload.get("simulation_check")
    if chk:
        lines += [f"- the real lowered .pte (`{chk['pte']}`) vs fp32: {s(chk['pte_vs_fp32'])}",
                  f"- simulation vs that .pte: {s(chk['simulation_vs_pte'])}"]
    lines += ["", "Left out of the quantizer (fp32), the rest int8:", "", "| left out | agreement | flips | mean abs dlogit | max |", "|---|---|---|---|---|"]
    for g in payload["greedy"]:
        lines.append(f"| top {len(g['left_out'])} by error alone (+ {g['left_out'][-1]}) | {g['agreement']:.2%} | {g['flips']} | "
                     f"{g['mean_abs_logit_diff']:.4f} | {g['max_abs_logit_diff']:.3f} |")
    for g in payload["groups"]:
        lines.append(f"| {g['left_out']} ({g['count']}) | {g['agreement']:.2%} | {g['flips']} | {g['mean_abs_logit_diff']:.4f} | "
                     f"{g['max_abs_logit_diff']:.3f} |")
    lines += ["", f"Per Linear on the first {payload['rank_sentences']} dev sentences, sorted by the error it causes alone (mean |dlogit|). "
              "`all but` = every other Linear int8.", "",
              "| Linear | alone: flips | alone: mean abs dlogit | alone: max | all but: flips | all but: mean abs dlogit | all but: max |",
              "|---|---|---|---|---|---|---|"]
    for r in sorted(payload["rows"], key=lambda r: -r["alone"]["mean_abs_logit_diff"]):
        al, ab = r["alone"], r["all_but"]
        lines.append(f"| {r['linear']} | {al['flips']} | {al['mean_abs_logit_diff']:.4f} | {al['max_abs_logit_diff']:.3f} | "
                     + (f"{ab['flips']} | {ab['mean_abs_logit_diff']:.4f} | {ab['max_abs_logit_diff']:.3f} |" if ab else "| | |"))
    lines.append(f"\nWall time {payload['wall_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
