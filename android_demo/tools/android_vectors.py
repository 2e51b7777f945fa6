"""Test vectors for the Java core, written from the Python reference at test time (never committed:
the built-in sentences are research-use data).

    python android_demo/tools/android_vectors.py BUNDLE OUT_DIR

writes into OUT_DIR:
- tokenizer_vectors.jsonl   one text per line with the reference ids / attention mask (padded to
                            max_len), unpadded length and whether truncation cut it, at the bundle's
                            max_len and at a short max_len (more truncation, mid-word cuts)
- codepoints_normalized.tsv every code point the reference normalizer does not leave unchanged,
                            with what it becomes ("-": removed)
- codepoints_pretokenizer.tsv every code point the reference pre-tokenizer treats as whitespace or
                            punctuation
- normalizer_vectors.jsonl  the reference normalizer's output for every text above and for runs of
                            combining marks (canonical reordering)
- golden_logits.jsonl       logits of the bundle's models on real texts (onnxruntime, batch 1) and
                            synthetic edge logits, with numpy softmax probabilities and argmax labels
- multilabel_vectors.jsonl  float32 logits with per-label thresholds (random at five scales, saturated,
                            underflowing, NaN/inf, exactly at the threshold), the sigmoid probabilities and
                            decisions of edgecore.multilabel (numpy, float64)
- task_manifests/           the bundle's manifest.json with multi-label, joint-pair and siamese task blocks,
                            and broken ones (wrong threshold count, 1.5, NaN, unknown pair_encoding, ...);
                            cases.json says what the Java core must read or refuse
- latency_vectors.jsonl     latency samples with edge_runtime.benchmark.latency_stats of each
- bench_inputs.json         the fixed-length benchmark feed edge_runtime.adb sends the device
- summary.json              counts per category, tool versions
"""
from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHORT_MAX_LEN = 16


# ------------------------------------------------------------------------------------------- texts

def _cp(*ranges: tuple[int, int]) -> list[str]:
    return [chr(c) for a, b in ranges for c in range(a, b + 1) if not 0xD800 <= c <= 0xDFFF]


# Pools the fuzzer draws from: each is a kind of text that trips tokenizer ports.
POOLS = {
    "ascii": _cp((0x20, 0x7E)),
    "latin1": _cp((0xA0, 0xFF)),
    "latin_ext": _cp((0x100, 0x24F), (0x1E00, 0x1EFF)),
    "combining": _cp((0x300, 0x36F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F)),
    "greek_cyrillic": _cp((0x370, 0x3FF), (0x400, 0x52F), (0x1F00, 0x1FFF)),
    "rtl": _cp((0x590, 0x5FF), (0x600, 0x6FF), (0x750, 0x77F), (0x8A0, 0x8FF)),
    "indic_thai": _cp((0x900, 0x97F), (0x980, 0x9FF), (0xB80, 0xBFF), (0xE00, 0xE7F), (0x1000, 0x109F)),
    "hangul": _cp((0xAC00, 0xAC40), (0xD7A0, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F)),
    "kana": _cp((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)),
    "cjk": _cp((0x4E00, 0x4E80), (0x9F00, 0x9FFF), (0x3400, 0x3440), (0xF900, 0xF940), (0x20000, 0x20040),
               (0x2A6D0, 0x2A6FF), (0x2B810, 0x2B82F), (0x2B910, 0x2B93F), (0x2F800, 0x2F840), (0x30000, 0x30010)),
    "fullwidth_math": _cp((0xFF01, 0xFF5E), (0x1D400, 0x1D4FF), (0x2100, 0x214F), (0x2460, 0x24FF)),
    "punct_symbols": _cp((0x2010, 0x205E), (0x2E00, 0x2E5D), (0x3000, 0x303F), (0xFE30, 0xFE6B), (0x2190, 0x21FF),
                         (0x20A0, 0x20C0), (0x10100, 0x1013F), (0x111C0, 0x111CF), (0x1144B, 0x1145F)),
    "emoji": _cp((0x1F300, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF), (0x2600, 0x27BF),
                 (0x1F1E6, 0x1F1FF), (0x1F3FB, 0x1F3FF)),
    "invisible": _cp((0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0xFEFF, 0xFEFF), (0xFE00, 0xFE0F),
                     (0xE0020, 0xE007F), (0x180E, 0x180E), (0xAD, 0xAD), (0x34F, 0x34F)),
    "controls": _cp((0x0, 0x1F), (0x7F, 0x9F), (0xFFF9, 0xFFFD)),
    "spaces": _cp((0x9, 0xD), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
                  (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)),
    "private_unassigned": _cp((0xE000, 0xE010), (0xF0000, 0xF0004), (0x378, 0x379), (0x380, 0x383), (0x2FE0, 0x2FEF),
                              (0x1FAF9, 0x1FAFF), (0xE0080, 0xE0090), (0x10FFF0, 0x10FFFF)),
    "new_unicode": _cp((0x8D3, 0x8E2), (0x7FD, 0x7FD), (0x2E43, 0x2E5D), (0x1C89, 0x1C8A), (0xA7C0, 0xA7DC),
                       (0x10570, 0x105BC), (0x10EAD, 0x10EAD), (0x10F55, 0x10F59), (0x16FE4, 0x16FE4)),
}
SPECIALS = ["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]"]


def handmade() -> list[str]:
    """Cases written on purpose: each one is a way a tokenizer port has been seen to go wrong."""
    long_sentence = "The film is a quiet, patient study of grief that never tips into sentimentality. "
    return [
        "", " ", "   \t\n  ", "\u3000", "\u00a0", "\x00", "\x00\x01\x02\x7f", "\ufffd", "\ufeff", "\u200b\u200c\u200d",
        "a", "A", "I", ".", "...", "!?!?", "a.b,c;d:e", "don't", "can't won't shouldn't", "e-mail", "U.S.A.",
        "$100", "100%", "1,234.56", "3.14159", "#hashtag @mention", "https://example.com/a?b=c&d=e#f", "name@example.com",
        "C++ and C# and F#", "<html>&amp;</html>", "a\tb\nc\rd", "a\u000bb\u000cc", "a\u0085b", "a\u2028b\u2029c",
        "a\u00a0b\u202fc\u205fd\u3000e", "a\u1680b\u2000c\u200ad",
        # accents and case
        "café", "CAFÉ", "cafe\u0301", "naïve résumé", "Ångström", "Ünïcödé", "Straße STRASSE", "İstanbul", "ıi İI",
        "Ǆemal ǅ ǆ", "ﬁnancial ﬂow ﬀ", "Ⅻ ⅻ", "ΟΔΥΣΣΕΥΣ Ὀδυσσεύς", "ΣΊΣΥΦΟΣ σίσυφος", "Москва МОСКВА", "Ĳsselmeer",
        "Việt Nam tiếng Việt", "ḍ̇ ḍ̇ q̣̇ q̣̇", "a\u0323\u0307 a\u0307\u0323", "e\u0301\u0302\u0303\u0304\u0305",
        "\u0301leading mark", "x\u20dd x\u20de", "Å Å Å", "ŉ ǰ ΐ", "Ⓐⓑ", "ＡＢＣ ａｂｃ １２３", "𝐀𝐁𝐂 𝓐𝓑𝓒 𝔄𝔅",
        "ḱṷṓn", "Dženan Ǆ", "Ꭰꭰ", "Ꞛꞛ Ꞟ", "Ⰰⰰ Ⱟⱟ", "ᲀᲁ", "𐐀𐐨 𐐁", "𞤀𞤢",
        # scripts
        "这是一个测试", "我爱北京天安门。", "日本語のテキスト、カタカナ、ひらがな", "한국어 텍스트입니다", "한국어",
        "ภาษาไทย", "हिन्दी भाषा", "தமிழ்", "العربية الفصحى", "مَرْحَبًا", "עִבְרִית", "Ελληνικά", "ქართული", "Հայերեն",
        "አማርኛ", "ᐃᓄᒃᑎᑐᑦ", "ꦧꦱꦗꦮ", "𠀀𠀁𠀂 𪛖 𫝀 𬺰 𰀀", "㐀㐁 豈更", "中文English混合mixed", "漢字kanji漢字",
        # emoji
        "I love it 😍😍😍", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇫🇷🇩🇪🇯🇵", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 scotland", "1️⃣ #️⃣ *️⃣",
        "❤️ ❤ ♥", "☺️☹️", "🥺🥲🫠🫡", "🤷‍♀️🤷🏻‍♂️", ":-) :( ;-P <3", "(╯°□°)╯︵ ┻━┻", "¯\\_(ツ)_/¯",
        # special tokens inside text
        "[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "a[MASK]b", "the [MASK] was great", "[MASK][MASK][MASK]",
        "[[MASK]]", "[mask]", "[Mask]", "[ MASK ]", "[MASK", "MASK]", "[CLS] hello [SEP] world [SEP]",
        "[CLS][SEP][PAD][UNK][MASK]", "x[PAD]y[UNK]z", "é[MASK]é", "中[MASK]文", "😀[MASK]😀", "[MASK]\u0301",
        "\u200b[MASK]\u200b", "[[CLS]]", "[CLS]]", "[[SEP]", "[MASK]" * 40,
        # words at the WordPiece limits
        "a" * 99, "a" * 100, "a" * 101, "b" * 150, "x" * 100 + " ok", "é" * 100, "é" * 101, "😀" * 100, "😀" * 101,
        "supercalifragilisticexpialidocious", "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "unbelievablenessfulnessly", "xqzjvkw", "qwertyuiopasdfghjklzxcvbnm" * 3,
        # length and truncation
        long_sentence * 3, long_sentence * 20, long_sentence * 200, "word " * 62, "word " * 63, "word " * 64,
        "unaffable " * 30, "a," * 40, "ab" * 500, " ".join(["tokenization"] * 40), "x" * 10000, "中" * 5000,
        "\u0301" * 300, "a\u0301" * 300, "[MASK] " * 70, " " * 5000 + "end",
    ]


def fuzz(rng: random.Random, n: int) -> list[str]:
    """Random strings mixing the pools, real words, specials and separators."""
    words = ["the", "film", "great", "not", "bad", "unbelievable", "Tokenizer", "HELLO", "naïve", "résumé"]
    names = sorted(POOLS)
    out = []
    for _ in range(n):
        pools = rng.sample(names, rng.randint(1, 4))
        pieces = []
        for _ in range(rng.randint(0, 24)):
            r = rng.random()
            if r < 0.55:
                pool = POOLS[rng.choice(pools)]
                pieces.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
            elif r < 0.8:
                pieces.append(rng.choice(words))
            elif r < 0.87:
                pieces.append(rng.choice(SPECIALS))
            else:
                pieces.append(rng.choice([" ", "  ", "\t", "\n", "", "-", "'", "\u200d", "\u0301"]))
            if rng.random() < 0.5:
                pieces.append(" ")
        out.append("".join(pieces))
    return out


def variants(rng: random.Random, sentences: list[str], n: int) -> list[tuple[str, str]]:
    """Real sentences changed the ways user input differs from training text."""
    accents = {"a": "áàâäã", "e": "éèêë", "i": "íìîï", "o": "óòôöõ", "u": "úùûü", "n": "ñ", "c": "ç"}
    out = []
    for s in rng.sample(sentences, min(n, len(sentences))):
        kind = rng.choice(["upper", "title", "accents", "special", "emoji", "nfd", "zw", "cjk"])
        if kind == "upper":
            t = s.upper()
        elif kind == "title":
            t = s.title()
        elif kind == "accents":
            t = "".join(rng.choice(accents[ch]) if ch in accents and rng.random() < 0.3 else ch for ch in s)
        elif kind == "special":
            words = s.split(" ")
            for _ in range(rng.randint(1, 3)):
                words.insert(rng.randint(0, len(words)), rng.choice(SPECIALS) if rng.random() < 0.7 else rng.choice(SPECIALS).lower())
            t = rng.choice([" ", ""]).join(words)
        elif kind == "emoji":
            t = " ".join(w + (rng.choice(POOLS["emoji"]) if rng.random() < 0.2 else "") for w in s.split(" "))
        elif kind == "nfd":
            import unicodedata

            t = unicodedata.normalize("NFD", "".join(rng.choice(accents[ch]) if ch in accents and rng.random() < 0.3 else ch for ch in s))
        elif kind == "zw":
            t = "".join(ch + (rng.choice(POOLS["invisible"] + POOLS["controls"]) if rng.random() < 0.1 else "") for ch in s)
        else:
            t = " ".join(w + ("".join(rng.choice(POOLS["cjk"]) for _ in range(2)) if rng.random() < 0.2 else "") for w in s.split(" "))
        out.append((f"variant-{kind}", t))
    return out


def corpus(seed: int = 0) -> list[tuple[str, str]]:
    """(category, text) pairs: the movie test split, every other built-in set, then the edge cases."""
    from distill import load_dataset, load_texts

    rng = random.Random(seed)
    items: list[tuple[str, str]] = [("movie-test", t) for t in load_dataset("movie-snippets").test.texts]
    for name in ("amazon-snippets", "tweets", "nyt-snippets"):
        items += [(name, t) for t in load_texts(name)[0]]
    items += [("handmade", t) for t in handmade()]
    items += variants(rng, [t for c, t in items if c != "handmade"], 1500)
    items += [("fuzz", t) for t in fuzz(rng, 2000)]
    return items


# ----------------------------------------------------------------------------------------- writers

def tokenizer_vectors(bundle_dir: Path, items: list[tuple[str, str]], out: Path) -> Counter:
    """The reference encodings, as edge_runtime.bundle.Bundle.encode makes them, at two max lengths."""
    from tokenizers import Tokenizer

    from edge_runtime.bundle import Bundle, pad_ids

    bundle = Bundle.open(bundle_dir)
    pad_id = int(bundle.manifest["tokenizer"].get("pad_id", 0))
    counts: Counter = Counter()
    with out.open("w", encoding="utf-8") as f:
        for max_len in (bundle.max_len, SHORT_MAX_LEN):
            tok = Tokenizer.from_file(str(bundle.root / "tokenizer.json"))   # what Bundle.tokenizer() builds
            tok.no_padding()
            tok.enable_truncation(max_len)
            encodings = tok.encode_batch([t for _, t in items])
            # Bundle.encode pads a batch with pad_ids; one text per row here, padded to max_len
            feeds = pad_ids([e.ids for e in encodings], pad_id, max_len)
            for k, ((cat, text), enc) in enumerate(zip(items, encodings)):
                f.write(json.dumps({"cat": cat, "max_len": max_len, "text": text, "input_ids": feeds["input_ids"][k].tolist(),
                                    "attention_mask": feeds["attention_mask"][k].tolist(), "length": len(enc.ids),
                                    "truncated": bool(enc.overflowing)}, ensure_ascii=True) + "\n")
                counts[f"{cat}@{max_len}"] += 1
                counts[f"truncated@{max_len}"] += bool(enc.overflowing)
    return counts


def codepoint_vectors(bundle_dir: Path, out_dir: Path) -> dict:
    """Per code point: the full reference normalizer's output where it is not the identity, and pre-token classes."""
    from tokenizers import Tokenizer

    sys.path.insert(0, str(HERE))
    try:
        import unicode_tables
    finally:
        sys.path.remove(str(HERE))
    normalizer = Tokenizer.from_file(str(bundle_dir / "tokenizer.json")).normalizer
    cps = unicode_tables.code_points()
    changed = 0
    with (out_dir / "codepoints_normalized.tsv").open("w", encoding="ascii") as f:
        for c, s in zip(cps, unicode_tables.normalize_each(normalizer, cps)):
            if s != chr(c):
                f.write(f"{c:X}\t{'.'.join(f'{ord(x):X}' for x in s) or '-'}\n")
                changed += 1
    classes = unicode_tables.pre_token_classes(cps)
    with (out_dir / "codepoints_pretokenizer.tsv").open("w", encoding="ascii") as f:
        for c in sorted(classes):
            f.write(f"{c:X}\t{classes[c]}\n")
    return {"codepoints": len(cps), "normalizer_changes": changed, "pretokenizer_non_word": len(classes)}


def mark_sequences(rng: random.Random, n: int) -> list[str]:
    """Bases followed by runs of combining marks in random order: what canonical reordering acts on."""
    import unicodedata

    marks = [chr(c) for c in range(0x300, 0x30000) if not 0xD800 <= c <= 0xDFFF and unicodedata.combining(chr(c))]
    marks += ["\u0f39", "\U0001d165", "\u08d3", "\u1df6", "\U00011938", "\u0344", "\u0340"]
    bases = list("aeiouAEIOUnNcC") + ["\u01d6", "\u1e69", "\u0958", "\uac00", "\ud55c", "\u1100", "\u0915", "\u05d0", "\u3042", "x"]
    out = []
    for _ in range(n):
        pieces = []
        for _ in range(rng.randint(1, 4)):
            pieces.append(rng.choice(bases) + "".join(rng.choice(marks) for _ in range(rng.randint(0, 6))))
        out.append(rng.choice(["", " "]).join(pieces))
    return out


def normalizer_vectors(bundle_dir: Path, texts: list[str], out: Path) -> int:
    """The reference normalizer's output for whole texts (canonical reordering only shows across characters)."""
    from tokenizers import Tokenizer

    normalizer = Tokenizer.from_file(str(bundle_dir / "tokenizer.json")).normalizer
    with out.open("w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text, "normalized": normalizer.normalize_str(text)}, ensure_ascii=True) + "\n")
    return len(texts)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def golden_logits(bundle_dir: Path, texts: list[str], out: Path, seed: int = 0) -> dict:
    """Each model of the bundle run by onnxruntime at batch 1 (as the app runs it), plus synthetic logits."""
    from edge_runtime.bundle import Bundle
    from edge_runtime.runners import load

    bundle = Bundle.open(bundle_dir)
    tok = bundle.tokenizer()
    rows, labels_seen = 0, Counter()
    with out.open("w", encoding="utf-8") as f:
        for entry in bundle.manifest["models"]:
            runner = load(bundle.root / entry["file"], 1, entry["precision"])
            for text in texts:
                logits = runner(bundle.encode([text], tokenizer=tok))[0].astype(np.float32)
                x = logits.astype(np.float64)
                index = int(np.argmax(x))
                f.write(json.dumps({"source": entry["file"], "labels": bundle.labels, "logits": [float(v) for v in logits],
                                    "probabilities": softmax(x).tolist(), "index": index, "label": bundle.labels[index]}) + "\n")
                rows += 1
                labels_seen[bundle.labels[index]] += 1
        rng = np.random.default_rng(seed)
        synthetic = [np.array(v, dtype=np.float32) for v in ([0, 0], [1, 1, 1], [-1e4, 1e4], [88.5, -88.5], [1e-30, -1e-30],
                                                              [3.4e38, 3.4e38], [-3.4e38, 0], [0.1, 0.2, 0.3, 0.4, 0.5])]
        synthetic += [rng.normal(0, s, size=k).astype(np.float32) for s in (0.01, 1, 10, 100) for k in (2, 3, 5) for _ in range(20)]
        for logits in synthetic:
            x = logits.astype(np.float64)
            labels = [f"class{k}" for k in range(len(x))]
            index = int(np.argmax(x))
            f.write(json.dumps({"source": "synthetic", "labels": labels, "logits": [float(v) for v in logits],
                                "probabilities": softmax(x).tolist(), "index": index, "label": labels[index]}) + "\n")
            rows += 1
    return {"rows": rows, "model_labels": dict(labels_seen)}


#: (logits, thresholds) written on purpose: saturation, underflow, exact ties with the threshold, NaN/inf logits
MULTILABEL_EDGES = [
    ([80, -80], [1, 0]), ([-80, 80], [1, 0]), ([80, 80], [0.5, 0.5]), ([-80, -80], [0.5, 0.5]), ([-80, -80, -80], [0.9, 0.99, 1]),
    ([0, 0, 0], [0.5, 0.5000001, 0.4999999]), ([0, 0], [0.5, 0.5]), ([0, 80, -80, 0], [0.5, 1, 0, 1]),
    ([88.7, -88.7, 1e4, -1e4], [1, 0, 1, 0]), ([-1e4, -3.4e38], [0, 0]), ([3.4e38, -3.4e38, 3.4e38, -3.4e38], [0.5] * 4),
    ([1e-30, -1e-30], [0.6, 0.4]), ([40, 45, 36, 30, 20], [1, 1, 0.9, 0.9, 0.999999]), ([-36.7, -40, -745, -746], [0] * 4),
    ([2.5, -2.5, 5, -5], [0.92, 0.07, 0.9933, 0.0067]), ([float("nan"), 0], [0.5, 0.5]), ([float("nan"), float("nan")], [0, 1]),
    ([float("inf"), float("-inf")], [1, 0]), ([float("-inf"), float("inf")], [0.5, 0.5]),
]


def _tie_is_exact(x: float, p: float, t: float) -> bool:
    """p >= t is decided the same by every exp within an ulp: far apart, or a tie every libm computes exactly."""
    return abs(p - t) > 1e-9 or t == 0 or (t == 0.5 and x == 0) or (t == 1 and x >= 40) or np.isnan(p)


def multilabel_vectors(out: Path, seed: int = 0) -> dict:
    """float32 logits (as a runtime returns them) with per-label thresholds; numpy sigmoid probabilities and decisions.

    A probability within an ulp of its threshold would be decided by the last bit of exp, which numpy's SIMD exp and
    Java's Math.exp do not always agree on; such pairs are not written, except the ties every exp computes exactly
    (0 at 0.5, saturated logits at 0 and 1)."""
    from edgecore.multilabel import decide, sigmoid  # the project's reference: training, export, parity and reports use it

    rng = np.random.default_rng(seed + 7)
    cases = [(np.array(x, dtype=np.float32), np.array(t, dtype=np.float64), "edge") for x, t in MULTILABEL_EDGES]
    for scale in (0.01, 1, 4, 10, 100):
        for k in (2, 3, 5, 8, 20):
            for _ in range(100):
                x = rng.normal(0, scale, size=k).astype(np.float32)
                kind = rng.integers(4)
                t = (rng.uniform(0, 1, size=k) if kind == 0 else np.full(k, 0.5) if kind == 1 else
                     rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=k) if kind == 2 else np.round(rng.uniform(0, 1, size=k), 3))
                for j in range(k):          # extremes and exact ties mixed into the random rows
                    r = rng.random()
                    if r < 0.04:
                        x[j], t[j] = 0, 0.5
                    elif r < 0.08:
                        x[j] = rng.choice([80, -80, 40, -40, 88.7, -88.7, 1e4, -1e4])
                        t[j] = rng.choice([0.0, 1.0, t[j]])
                cases.append((x, t, f"random-{scale}"))
    rows = {"rows": 0, "decisions": 0, "predicted": 0, "empty": 0, "at_threshold": 0, "extreme_logits": 0, "nan_logits": 0}
    with out.open("w", encoding="utf-8") as f:
        for x32, t, source in cases:
            x = x32.astype(np.float64)
            p = sigmoid(x)
            for j in range(len(x)):
                assert source != "edge" or _tie_is_exact(x[j], p[j], t[j]), (x, t)
                while not _tie_is_exact(x[j], p[j], t[j]):
                    t[j] = rng.uniform(0, 1)
            predicted = [int(j) for j in np.flatnonzero(decide(x[None, :], t)[0])]
            labels = [f"label{j}" for j in range(len(x))]
            f.write(json.dumps({"source": source, "labels": labels, "logits": [float(v) for v in x32], "thresholds": [float(v) for v in t],
                                "probabilities": [float(v) for v in p], "predicted": predicted}) + "\n")
            rows["rows"] += 1
            rows["decisions"] += len(x)
            rows["predicted"] += len(predicted)
            rows["empty"] += not predicted
            rows["at_threshold"] += int(np.sum(p == t))
            rows["extreme_logits"] += int(np.sum(np.abs(x) >= 80))
            rows["nan_logits"] += int(np.sum(np.isnan(x)))
    return rows


def task_manifests(bundle_dir: Path, out_dir: Path) -> dict:
    """manifest.json of the real bundle with task blocks a multi-label / pair / siamese exporter writes, and broken ones.

    Each is written as write_bundle writes a manifest (json.dumps, indent 2: NaN as NaN); cases.json says what the
    Java core must read from it, or which exception and message parts it must refuse it with."""
    from tokenizers import Tokenizer

    from edgecore.multilabel import decide, sigmoid

    base = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    tok = Tokenizer.from_file(str(bundle_dir / "tokenizer.json"))
    labels4 = ["toxic", "obscene", "insult", "threat"]
    siamese_models = [{**m, "inputs": m["inputs"] + [{"name": "pair_input_ids", "dtype": m["inputs"][0]["dtype"], "shape": ["batch", "sequence"]},
                                                     {"name": "pair_attention_mask", "dtype": m["inputs"][0]["dtype"], "shape": ["batch", "sequence"]}]}
                      for m in base["models"]]
    sample_logits = [2.0, -0.5, 0.0, -80.0]
    text, pair = "A quiet, patient film.", "It never tips into sentimentality, and the ending is earned!"
    a, b, joint = tok.encode(text), tok.encode(pair), tok.encode(text, pair)
    ok = {
        "legacy": ({}, {}),
        "no-task-block": (None, {}),
        "single-explicit": ({"problem_type": "single_label_classification"}, {}),
        "multi-label": ({"problem_type": "multi_label_classification", "thresholds": [0.5, 0.25, 1, 0]}, {"labels": labels4}),
        "joint-pair": ({"inputs": ["text", "text_pair"]}, {}),
        "joint-pair-explicit": ({"inputs": ["text", "text_pair"], "pair_encoding": "joint"}, {}),
        "siamese": ({"inputs": ["text", "text_pair"], "pair_encoding": "siamese"}, {"models": siamese_models}),
        "siamese-multi-label": ({"inputs": ["text", "text_pair"], "pair_encoding": "siamese", "problem_type": "multi_label_classification",
                                 "thresholds": [0.1, 0.9, 0.5, 0.5]}, {"models": siamese_models, "labels": labels4}),
    }
    bad = {   # name: (task, other changes, Unsupported?, message parts)
        "thresholds-count": ({"problem_type": "multi_label_classification", "thresholds": [0.5, 0.5, 0.5]}, {"labels": labels4}, False,
                             ["task.thresholds has 3 value(s)", "4 labels", "one threshold in [0, 1] per label"]),
        "threshold-1.5": ({"problem_type": "multi_label_classification", "thresholds": [0.5, 1.5, 0.5, 0.5]}, {"labels": labels4}, False,
                          ["task.thresholds[1]", "'obscene'", "is 1.5", "finite number in [0, 1]"]),
        "threshold-nan": ({"problem_type": "multi_label_classification", "thresholds": [0.5, 0.5, float("nan"), 0.5]}, {"labels": labels4}, False,
                          ["task.thresholds[2]", "is NaN", "finite number in [0, 1]"]),
        "threshold-inf": ({"problem_type": "multi_label_classification", "thresholds": [float("inf"), 0.5, 0.5, 0.5]}, {"labels": labels4}, False,
                          ["task.thresholds[0]", "is Infinity"]),
        "threshold-negative": ({"problem_type": "multi_label_classification", "thresholds": [0.5, 0.5, 0.5, -0.1]}, {"labels": labels4}, False,
                               ["task.thresholds[3]", "is -0.1"]),
        "threshold-string": ({"problem_type": "multi_label_classification", "thresholds": ["0.5", 0.5, 0.5, 0.5]}, {"labels": labels4}, False,
                             ["task.thresholds[0]", "is \"0.5\""]),
        "thresholds-missing": ({"problem_type": "multi_label_classification"}, {"labels": labels4}, False,
                               ["task.thresholds is missing", "4 labels"]),
        "thresholds-not-a-list": ({"problem_type": "multi_label_classification", "thresholds": 0.5}, {"labels": labels4}, False,
                                  ["task.thresholds is 0.5", "list of 4 numbers"]),
        "thresholds-on-single-label": ({"thresholds": [0.5, 0.5]}, {}, False, ["task.thresholds is given", "single_label_classification"]),
        "problem-type-unknown": ({"problem_type": "regression"}, {}, True,
                                 ["task.problem_type 'regression' is not supported", "single_label_classification, multi_label_classification"]),
        "pair-encoding-unknown": ({"inputs": ["text", "text_pair"], "pair_encoding": "cross_attention"}, {}, True,
                                  ["task.pair_encoding 'cross_attention' is not supported", "joint, siamese"]),
        "siamese-single-text": ({"inputs": ["text"], "pair_encoding": "siamese"}, {"models": siamese_models}, False,
                                ["task.pair_encoding is siamese but task.inputs is [\"text\"]"]),
        "siamese-model-without-pair-inputs": ({"inputs": ["text", "text_pair"], "pair_encoding": "siamese"}, {}, False,
                                              ["task.pair_encoding is siamese but", "pair_input_ids and pair_attention_mask"]),
        "joint-with-siamese-model": ({"inputs": ["text", "text_pair"]}, {"models": siamese_models}, False,
                                    ["(a siamese model)", "task.pair_encoding is absent (joint)", "set it to siamese"]),
        "inputs-unknown": ({"inputs": ["text", "image"]}, {}, True, ["task.inputs has \"image\""]),
    }
    folder = out_dir / "task_manifests"
    folder.mkdir(exist_ok=True)
    cases = []

    def write(name: str, task: dict | None, changes: dict) -> dict:
        m = {**base, **changes}
        if task is None:
            m.pop("task", None)
        else:
            m["task"] = {"inputs": ["text"], **task}
        (folder / f"{name}.json").write_text(json.dumps(m, indent=2), encoding="utf-8")
        return m

    for name, (task, changes) in ok.items():
        m = write(name, task, changes)
        t = m.get("task", {})
        case = {"name": name, "expect": "read", "labels": m["labels"], "inputs": t.get("inputs", ["text"]),
                "problem_type": t.get("problem_type", "single_label_classification"), "thresholds": t.get("thresholds"),
                "pair_encoding": t.get("pair_encoding", "joint")}
        x = np.array(sample_logits[:len(m["labels"])], dtype=np.float64)
        if case["problem_type"] == "multi_label_classification":
            case["sample"] = {"logits": x.tolist(), "probabilities": sigmoid(x).tolist(),
                              "predicted": [m["labels"][j] for j in np.flatnonzero(decide(x[None, :], t["thresholds"])[0])]}
        else:
            case["sample"] = {"logits": x.tolist(), "probabilities": softmax(x).tolist(), "predicted": [m["labels"][int(np.argmax(x))]]}
        if "text_pair" in case["inputs"]:
            sides = [a, b] if case["pair_encoding"] == "siamese" else [joint]
            case["pair_sample"] = {"text": text, "pair": pair, "encodings": [{"ids": e.ids, "type_ids": e.type_ids} for e in sides]}
        else:
            case["text_sample"] = {"text": text, "ids": a.ids, "type_ids": a.type_ids}
        cases.append(case)
    for name, (task, changes, unsupported, parts) in bad.items():
        write(name, task, changes)
        cases.append({"name": name, "expect": "refused", "unsupported": unsupported, "message_contains": parts})
    (folder / "cases.json").write_text(json.dumps(cases, indent=2), encoding="utf-8")
    return {"read": len(ok), "refused": len(bad)}


def latency_vectors(out: Path, seed: int = 0) -> int:
    from edge_runtime.benchmark import latency_stats

    rng = np.random.default_rng(seed)
    cases = [[1.0], [2.0, 1.0], [5.0, 5.0, 5.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], [1.5] * 100]
    for n in (2, 3, 7, 8, 9, 10, 11, 99, 100, 101, 127, 128, 129, 200, 255, 256, 1000, 1001, 5000):
        cases.append(rng.lognormal(0.0, 0.5, size=n).tolist())
        cases.append(np.round(rng.lognormal(1.0, 0.3, size=n), 2).tolist())   # ties
    with out.open("w") as f:
        for samples in cases:
            f.write(json.dumps({"samples": samples, "stats": latency_stats(samples)}) + "\n")
    return len(cases)


def bench_inputs(bundle_dir: Path, out: Path) -> int:
    """The fixed-length feed edge_runtime.adb sends to the device, for the Java BenchInput to reproduce."""
    from edge_runtime.adb import DEFAULT_BENCH_TEXT
    from edge_runtime.benchmark import fixed_length_feeds
    from edge_runtime.bundle import Bundle

    bundle = Bundle.open(bundle_dir)
    tok = bundle.tokenizer()
    cases = [{"seq_len": n, "input_ids": fixed_length_feeds(lambda t: bundle.encode(t, tokenizer=tok), [DEFAULT_BENCH_TEXT], n)
              ["input_ids"][0].tolist()} for n in (2, 8, 16, 63, 64, 128)]
    out.write_text(json.dumps({"text": DEFAULT_BENCH_TEXT, "cases": cases}))
    return len(cases)


def write_vectors(bundle_dir: str | Path, out_dir: str | Path, seed: int = 0) -> dict:
    """Write every vector file for the Java tests; returns the summary (also written as summary.json)."""
    import tokenizers

    bundle_dir, out_dir = Path(bundle_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    items = corpus(seed)
    summary = {"texts": len(items), "categories": dict(Counter(c for c, _ in items)),
               "tokenizer": dict(tokenizer_vectors(bundle_dir, items, out_dir / "tokenizer_vectors.jsonl")),
               "codepoints": codepoint_vectors(bundle_dir, out_dir),
               "normalized_texts": normalizer_vectors(bundle_dir, [t for _, t in items] + mark_sequences(random.Random(seed + 1), 3000),
                                                      out_dir / "normalizer_vectors.jsonl"),
               "golden": golden_logits(bundle_dir, [t for c, t in items if c in ("movie-test", "handmade")][:600] +
                                       [t for c, t in items if c == "fuzz"][:100], out_dir / "golden_logits.jsonl", seed),
               "multilabel": multilabel_vectors(out_dir / "multilabel_vectors.jsonl", seed),
               "task_manifests": task_manifests(bundle_dir, out_dir),
               "latency_cases": latency_vectors(out_dir / "latency_vectors.jsonl", seed),
               "bench_inputs": bench_inputs(bundle_dir, out_dir / "bench_inputs.json"),
               "tokenizers_version": tokenizers.__version__, "numpy_version": np.__version__}
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python android_demo/tools/android_vectors.py BUNDLE_DIR OUT_DIR")
    print(json.dumps(write_vectors(sys.argv[1], sys.argv[2]), indent=2))
