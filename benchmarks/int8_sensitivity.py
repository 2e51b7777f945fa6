"""Where the teacher's int8 error comes from, one MatMul at a time (issue #24).

On the 1,000 dev sentences (batch 1, no padding), against the fp32 ONNX logits: for every weight MatMul of the fused
teacher graph (and the word-embedding Gather, and the activation x activation MatMuls of attention that optimum's
recipe also quantizes), (a) that op alone dynamic int8 (per-channel weights, per-tensor uint8 activations), all else
fp32, and (b) every weight MatMul + the embedding int8 except that op. Agreement, flips, mean and max |logit diff|.

    python benchmarks/int8_sensitivity.py [--dev 1000]

Writes benchmarks/results/int8_sensitivity.{json,md} and prints the table.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from int8_common import RESULTS, log, prepare, run_logits, score


def targets(path) -> tuple[list[str], list[str], list[str]]:
    """(weight MatMuls, activation x activation MatMuls, word-embedding Gather) node names of a graph."""
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name for i in g.initializer}
    weight = [n.name for n in g.node if n.op_type == "MatMul" and n.input[1] in inits]
    act = [n.name for n in g.node if n.op_type == "MatMul" and n.input[1] not in inits]
    gather = [n.name for n in g.node if n.op_type == "Gather" and n.input[0] in inits and "word_embeddings" in n.input[0]]
    return weight, act, gather


def quantize(src, out, nodes, per_channel=True, const_b_only=True) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=per_channel, op_types_to_quantize=["MatMul", "Gather"],
                     nodes_to_quantize=list(nodes),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": const_b_only})


def short(name: str) -> str:
    for prefix in ("/model/bert/encoder/", "/bert/encoder/"):
        name = name.replace(prefix, "")
    for prefix in ("/model/bert/embeddings/", "/bert/embeddings/"):
        name = name.replace(prefix, "emb/")
    return name.replace("/MatMul", "").replace("/attention", "/attn")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dev", type=int, default=1000)
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    st = prepare(a.dev)
    weight, act, gather = targets(st.fused)
    base = [*weight, *gather]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "q.onnx"
        quantize(st.fused, f, base)
        rows.append({"op": "all weight MatMuls + embedding", "kind": "all", **score(run_logits(f, st.dev), st.dev_ref)})
        quantize(st.fused, f, [*base, *act], const_b_only=False)
        rows.append({"op": "all MatMuls (attention's too) + embedding", "kind": "all", **score(run_logits(f, st.dev), st.dev_ref)})
        log(f"all int8: {rows[0]['flips']} flips; with attention MatMuls: {rows[1]['flips']}")
        for node in [*base, *act]:
            kind = "attention act x act" if node in act else ("embedding" if node in gather else "weight")
            quantize(st.fused, f, [node], const_b_only=node not in act)
            alone = score(run_logits(f, st.dev), st.dev_ref)
            row = {"op": node, "kind": kind, "alone": alone}
            if node in base:
                quantize(st.fused, f, [n for n in base if n != node])
                row["all_but"] = score(run_logits(f, st.dev), st.dev_ref)
            rows.append(row)
            log(f"{short(node)}: alone {alone['flips']} flips, mean {alone['mean_abs_logit_diff']:.4f}"
                + (f"; all but it: {row['all_but']['flips']} flips, mean {row['all_but']['mean_abs_logit_diff']:.4f}" if "all_but" in row else ""))
    payload = {"dev_sentences": len(st.dev), "recipe": "onnxruntime quantize_dynamic, per-channel int8 weights, per-tensor uint8 activations, "
               "fused graph (LayerNorm/GELU; attention unfused)", "rows": rows, "wall_seconds": round(time.perf_counter() - t0, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "int8_sensitivity.json").write_text(json.dumps(payload, indent=2))
    md = markdown(payload)
    (a.out / "int8_sensitivity.md").write_text(md)
    print(md)
    return 0


def markdown(payload: dict) -> str:
    lines = [f"Teacher int8 sensitivity, {payload['dev_sentences']} dev sentences, batch 1, against fp32 ONNX logits. {payload['recipe']}.", ""]
    for r in payload["rows"]:
        if r["kind"] == "all":
            lines.append(f"- {r['op']} int8: agreement {r['agreement']:.2%} ({r['flips']} flips), mean |dlogit| {r['mean_abs_logit_diff']:.4f}, "
                         f"max {r['max_abs_logit_diff']:.3f}")
    lines += ["", "Sorted by the error the op causes alone (mean |dlogit|). `all but` = every weight MatMul + embedding int8 except this op.", "",
              "| op | kind | alone: flips | alone: mean abs dlogit | alone: max | all but: flips | all but: mean abs dlogit | all but: max |",
              "|---|---|---|---|---|---|---|---|"]
    ops = sorted((r for r in payload["rows"] if r["kind"] != "all"), key=lambda r: -r["alone"]["mean_abs_logit_diff"])
    for r in ops:
        al, ab = r["alone"], r.get("all_but")
        lines.append(f"| {short(r['op'])} | {r['kind']} | {al['flips']} | {al['mean_abs_logit_diff']:.4f} | {al['max_abs_logit_diff']:.3f} | "
                     + (f"{ab['flips']} | {ab['mean_abs_logit_diff']:.4f} | {ab['max_abs_logit_diff']:.3f} |" if ab else "| | |"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
