"""Long-document vectors for the Java core: truncation strategies and windows, as the Python reference reads them,
written at test time (never committed: the built-in sentences are research-use data).

    python android_demo/tools/long_text_vectors.py OUT_DIR

For several tokenizer families of tests/families.py (bert and mpnet WordPiece, roberta byte-level BPE, xlm-roberta
Unigram), each trained here on the real movie sentences and saved the transformers way, and for long texts (movie
sentences concatenated to about 100-2,000 content tokens, runs of one word around the window edges, the empty text,
only punctuation, only zero-width spaces, and one ~200,000-character text), the reference `distill.text.Encoder`
(the Encoder training, export and parity use; `edge_runtime.Bundle.encode` / `Bundle.windows` equal it) gives:

- per truncation setting (max_len, strategy, head): the text's one encoding (`Encoder.ids`);
- per windows setting (max_len, stride, max_windows): every window (`Encoder.windows`), its ids, attention mask
  (a batch of one, as the app runs a window) and token type ids.

OUT_DIR/long_text/NAME/ gets tokenizer.json (as export writes it into a bundle), vocab.txt (WordPiece), manifest_tokenizer.json (the manifest's
"tokenizer" block without truncation: each vector carries its own) and vectors.jsonl; OUT_DIR/long_text/texts.json
the texts, OUT_DIR/long_text/aggregate.jsonl random (W, C) logits with ties and their `edgecore.longtext.aggregate`
(mean / max, single- and multi-label), and OUT_DIR/long_text/manifests.jsonl task / tokenizer records the Java core
must read (with what it reads) or refuse.
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FAMILIES = ("bert", "mpnet", "roberta", "xlm-roberta")
# (max_len, strategy, head or None: a quarter of the content); max_len 2 leaves no room: one content token, as Python
TRUNCATIONS = [(2, "tail", None), (3, "head_tail", None), (16, "head", None), (16, "tail", None), (16, "head_tail", None),
               (16, "head_tail", 0), (16, "head_tail", 14), (16, "head_tail", 500), (64, "head", None), (64, "tail", None),
               (64, "head_tail", 20), (130, "head_tail", None), (130, "tail", None)]
# (max_len, stride or None: half the content, max_windows)
WINDOWS = [(3, 1, 5), (16, None, 16), (16, 7, 16), (16, 14, 4), (16, 1, 16), (16, 3, 1), (64, None, 16), (64, 62, 2),
           (64, 10, 7), (130, 64, 16), (130, 100, 3), (130, 128, 100)]
# settings the ~200,000-character text is read with (tokenizing it is the slow part, in both languages)
HUGE_TRUNCATIONS = {(64, "head_tail", 20)}
HUGE_WINDOWS = {(16, 1, 16)}
HUGE_CHARS = 200_000


def long_texts(sentences: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """(category, text): movie sentences concatenated to about 100-2,000 tokens, runs of one word, bad input."""
    out: list[tuple[str, str]] = []
    for target in [100, 150, 250, 400, 600, 900, 1300, 2000] + [rng.randint(100, 2000) for _ in range(8)]:
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < target * 2:   # about 2 characters a token with these 400-token vocabularies
            parts.append(rng.choice(sentences))
        out.append(("movie", " ".join(parts)))
    for k in (1, 2, 13, 14, 15, 16, 29, 30, 31, 62, 63, 64, 65, 92, 126, 127, 128, 129, 200):
        out.append(("run", " ".join(["film"] * k)))
    out += [("empty", ""), ("punctuation", "!!! ... ?!?! ,,, ;; -- '' \"\" (( )) [] {} ... !?"), ("punctuation", "." * 300),
            ("zero-width", "\u200b\u200b\u200b"), ("whitespace", " \t\n  \r\n "), ("short", rng.choice(sentences))]
    huge: list[str] = []
    while sum(len(p) + 1 for p in huge) < HUGE_CHARS:
        huge.append(rng.choice(sentences))
    out.append(("huge", " ".join(huge)[:HUGE_CHARS]))
    return out


def _families_module():
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import families
    finally:
        sys.path.remove(str(ROOT / "tests"))
    return families


def write_family(name: str, out: Path, texts: list[tuple[str, str]], train: list[str]) -> dict:
    from dataclasses import asdict

    from distill.text import Encoder
    from edgecore.longtext import LongText, Truncation

    fam = _families_module()
    out.mkdir(parents=True, exist_ok=True)
    tok_dir = out / "checkpoint"
    fam.train_tokenizer(fam.FAMILIES[name], train, vocab_size=400).save_pretrained(str(tok_dir))
    base = Encoder(tok_dir, 64)
    from export.bundle import _runtime_tokenizer_json

    _runtime_tokenizer_json(tok_dir, out / "tokenizer.json", 64)   # what a bundle holds: the pipeline transformers runs
    vocab = base.wordpiece_vocab()
    if vocab is not None:
        (out / "vocab.txt").write_text("".join(f"{t}\n" for t in vocab), encoding="utf-8")
    manifest = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(base.settings).items() if k != "truncation"}
    (out / "manifest_tokenizer.json").write_text(json.dumps(manifest), encoding="utf-8")
    lengths = [len(ids) for ids in base.content_ids([t for _, t in texts])]
    counts = {"truncation_vectors": 0, "window_vectors": 0, "windows": 0, "cut": 0, "capped": 0, "one_window": 0}
    with (out / "vectors.jsonl").open("w", encoding="utf-8") as f:
        for max_len, strategy, head in TRUNCATIONS:
            enc = Encoder(tok_dir, max_len, truncation=Truncation(strategy, head))
            chosen = [k for k, (cat, _) in enumerate(texts) if cat != "huge" or (max_len, strategy, head) in HUGE_TRUNCATIONS]
            rows = enc.ids([texts[k][1] for k in chosen])
            for k, row in zip(chosen, rows):
                feeds = enc.pad([row], type_ids=[getattr(row, "type_ids", [0] * len(row))])
                f.write(json.dumps({"kind": "truncation", "text": k, "max_len": max_len, "truncation": enc.settings.truncation,
                                    "content": lengths[k], "ids": list(row), "mask": feeds["attention_mask"][0].tolist(),
                                    "type_ids": list(getattr(row, "type_ids", [0] * len(row)))}) + "\n")
                counts["truncation_vectors"] += 1
                counts["cut"] += lengths[k] > enc.content_len
        for max_len, stride, limit in WINDOWS:
            enc = Encoder(tok_dir, max_len)
            policy = LongText("windows", stride, "mean", limit)
            chosen = [k for k, (cat, _) in enumerate(texts) if cat != "huge" or (max_len, stride, limit) in HUGE_WINDOWS]
            rows, owners = enc.windows([texts[k][1] for k in chosen], policy)
            for j, k in enumerate(chosen):
                mine = [r for r, o in zip(rows, owners) if o == j]
                windows = []
                for row in mine:
                    types = list(getattr(row, "type_ids", [0] * len(row)))
                    feeds = enc.pad([row], type_ids=[types])
                    windows.append({"ids": list(row), "mask": feeds["attention_mask"][0].tolist(), "type_ids": types})
                f.write(json.dumps({"kind": "windows", "text": k, "max_len": max_len, "long_text": policy.to_dict(enc.content_len),
                                    "content": lengths[k], "windows": windows}) + "\n")
                counts["window_vectors"] += 1
                counts["windows"] += len(windows)
                counts["one_window"] += len(windows) == 1
                size = enc.content_len
                starts = 1 if lengths[k] <= size else len(range(0, lengths[k] - size, policy.stride_tokens(size))) + 1
                counts["capped"] += starts > limit
    counts["content_tokens"] = {"min_movie": min(n for n, (c, _) in zip(lengths, texts) if c == "movie"),
                                "max_movie": max(n for n, (c, _) in zip(lengths, texts) if c == "movie"),
                                "huge": max(n for n, (c, _) in zip(lengths, texts) if c == "huge")}
    counts["model"] = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["type"]
    return counts


def aggregate_vectors(rng: random.Random, out: Path) -> dict:
    """Random (W, C) logits, many with ties (repeated windows, windows shifted by a whole number, equal logits in a
    window), and what edgecore.longtext.aggregate gives for mean / max, single- and multi-label."""
    import numpy as np

    from edgecore.longtext import aggregate

    counts = {"rows": 0, "ties": 0}
    with out.open("w", encoding="utf-8") as f:
        for case in range(1500):
            w, c = rng.randint(1, 20), rng.randint(2, 12)
            if case % 3 == 0:   # whole numbers: repeats and shifts are exact ties of the top probability
                x = np.array([[float(rng.randint(-6, 6)) for _ in range(c)] for _ in range(w)])
            else:
                x = np.array([[rng.gauss(0, 4) for _ in range(c)] for _ in range(w)])
            tie = case % 2 == 0 and w > 1
            if tie:
                src = rng.randrange(w)
                dst = rng.randrange(w)
                x[dst] = x[src] + (float(rng.randint(-3, 3)) if case % 3 == 0 else 0.0)
                x[rng.randrange(w), :] = x[rng.randrange(w), 0]   # a window whose logits are all equal
                counts["ties"] += 1
            row = {"logits": x.tolist()}
            for how in ("mean", "max"):
                for multi in (False, True):
                    row[f"{how}{'_multi' if multi else ''}"] = aggregate(x, how, multi).tolist()
            f.write(json.dumps(row) + "\n")
            counts["rows"] += 1
    return counts


def manifest_cases(out: Path) -> dict:
    """task.long_text / tokenizer.truncation records: read (what the Java core reads from them) or refused."""
    cases = [
        ("read", {"long_text": {"mode": "windows", "stride": 7, "aggregate": "max", "max_windows": 3}}, None,
         {"mode": "windows", "stride": 7, "aggregate": "max", "max_windows": 3}),
        ("read", {"long_text": {"mode": "windows"}}, None, {"mode": "windows", "stride": None, "aggregate": "mean", "max_windows": 16}),
        ("read", {"long_text": {"mode": "truncate", "stride": 31, "aggregate": "mean", "max_windows": 16}}, None,
         {"mode": "truncate", "stride": 31, "aggregate": "mean", "max_windows": 16}),
        ("read", {}, None, {"mode": "truncate", "stride": None, "aggregate": "mean", "max_windows": 16}),
        ("read", None, {"strategy": "tail", "head": 0}, {"strategy": "tail", "head": None}),
        ("read", None, {"strategy": "head_tail", "head": 5}, {"strategy": "head_tail", "head": 5}),
        ("read", None, {"strategy": "head_tail"}, {"strategy": "head_tail", "head": None}),
        ("read", None, {"strategy": "head"}, {"strategy": "head", "head": None}),
        ("refused", {"long_text": {"mode": "sliding"}}, None, "task.long_text mode"),
        ("refused", {"long_text": {"mode": "windows", "stride": 0}}, None, "task.long_text stride"),
        ("refused", {"long_text": {"mode": "windows", "stride": 2.5}}, None, "task.long_text stride"),
        ("refused", {"long_text": {"mode": "windows", "stride": True}}, None, "task.long_text stride"),
        ("refused", {"long_text": {"mode": "windows", "aggregate": "median"}}, None, "task.long_text aggregate"),
        ("refused", {"long_text": {"mode": "windows", "max_windows": 0}}, None, "task.long_text max_windows"),
        ("refused", {"long_text": {"mode": "windows", "max_windows": "16"}}, None, "task.long_text max_windows"),
        ("refused", {"long_text": {"mode": "windows", "stride": 200}}, None, "longer than a window"),
        ("refused", {"long_text": "windows"}, None, "task.long_text must be an object"),
        ("refused", {"long_text": {"mode": "windows"}, "inputs": ["text", "text_pair"]}, None, "single texts"),
        ("refused", None, {"strategy": "middle"}, "tokenizer.truncation strategy"),
        ("refused", None, {"strategy": "head_tail", "head": -1}, "tokenizer.truncation head"),
        ("refused", None, {"strategy": "head_tail", "head": 1.5}, "tokenizer.truncation head"),
        ("refused", None, {"head": 3}, "tokenizer.truncation strategy"),
        ("refused", None, "tail", "tokenizer.truncation must be an object"),
    ]
    with out.open("w", encoding="utf-8") as f:
        for expect, task, truncation, what in cases:
            f.write(json.dumps({"expect": expect, "task": task, "truncation": truncation, "what": what}) + "\n")
    return {"read": sum(c[0] == "read" for c in cases), "refused": sum(c[0] == "refused" for c in cases)}


def write_long_text_vectors(out_dir: str | Path, seed: int = 0) -> dict:
    from distill.data import read_builtin

    t0 = time.perf_counter()
    out = Path(out_dir) / "long_text"
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    sentences = read_builtin("movie-snippets")[0]
    texts = long_texts(sentences, rng)
    (out / "texts.json").write_text(json.dumps([t for _, t in texts]), encoding="utf-8")
    train = rng.sample(sentences, min(1000, len(sentences)))
    summary: dict = {"texts": len(texts), "categories": {}, "families": {}}
    for cat, _ in texts:
        summary["categories"][cat] = summary["categories"].get(cat, 0) + 1
    summary["huge_chars"] = max(len(t) for _, t in texts)
    for name in FAMILIES:
        t = time.perf_counter()
        summary["families"][name] = write_family(name, out / name, texts, train)
        summary["families"][name]["seconds"] = round(time.perf_counter() - t, 2)
    summary["aggregate"] = aggregate_vectors(rng, out / "aggregate.jsonl")
    summary["manifests"] = manifest_cases(out / "manifests.jsonl")
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python android_demo/tools/long_text_vectors.py OUT_DIR")
    print(json.dumps(write_long_text_vectors(sys.argv[1]), indent=2))
