"""Character tables of the reference BERT tokenizer (Hugging Face `tokenizers`), extracted by asking it.

Why tables: the reference does not follow any one Unicode version. Its "control" (removed by
clean_text), "punctuation" (split by the pre-tokenizer) and "nonspacing mark" (removed by
strip_accents) sets come from an old Unicode table (unicode_categories, about Unicode 8), while its
whitespace and lowercase come from Rust's std (a recent Unicode) and its NFD from
unicode-normalization (U+11938, decomposed since Unicode 13, stays whole). java.lang.Character
and java.text.Normalizer follow the JVM's Unicode version, and on Android the device's ICU, so a
port built on them differs from the reference on 831,040 code points on JDK 17, mostly unassigned
ones it deletes and the reference keeps as [UNK], but 1,206 assigned ones too (punctuation, marks
and case pairs of newer Unicode versions, U+11938). The Java core therefore carries these tables,
generated here from the installed `tokenizers`, including NFD (decompositions and the canonical
combining classes it reorders by), and behaves the same on every JVM and every Android version.

    python android_demo/tools/unicode_tables.py            # rewrite UnicodeTables.java
    python android_demo/tools/unicode_tables.py --check    # exit 1 if the committed file is stale
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

JAVA_PATH = Path(__file__).resolve().parents[1] / "core/src/main/java/org/edgedistill/core/UnicodeTables.java"
MAX_CP = 0x110000
SEP = "|"          # survives every normalizer stage unchanged and is produced by none of them (checked per chunk)
CHUNK = 4096


def code_points() -> list[int]:
    """Every Unicode scalar value (surrogates cannot be in a Python str that Rust accepts)."""
    return [c for c in range(MAX_CP) if not 0xD800 <= c <= 0xDFFF]


def normalize_each(normalizer, cps: list[int], prefix: str = "") -> list[str]:
    """normalizer.normalize_str(prefix + chr(c)) for every c, batched: chunks joined by SEP, split back, checked."""
    out: list[str] = []
    for i in range(0, len(cps), CHUNK):
        chunk = cps[i:i + CHUNK]
        parts = normalizer.normalize_str(SEP.join(prefix + chr(c) for c in chunk)).split(SEP)
        if len(parts) != len(chunk):  # a code point produced SEP: fall back to one call each
            parts = [normalizer.normalize_str(prefix + chr(c)) for c in chunk]
        out.extend(parts)
    return out


def pre_token_classes(cps: list[int]) -> dict[int, str]:
    """'ws' or 'punct' for every code point the BERT pre-tokenizer treats as such (others: word chars)."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    pre, classes = BertPreTokenizer(), {}
    for i in range(0, len(cps), CHUNK):
        chunk = cps[i:i + CHUNK]
        text = "x" + "x".join(map(chr, chunk)) + "x"   # code point k sits at 2k+1, between word chars
        covered: dict[int, int] = {}
        for _, (start, end) in pre.pre_tokenize_str(text):
            for pos in range(start, end):
                covered[pos] = end - start
        for k, c in enumerate(chunk):
            width = covered.get(2 * k + 1)
            if width is None:
                classes[c] = "ws"
            elif width == 1:
                classes[c] = "punct"
    return classes


def hangul_nfd(c: int) -> str | None:
    """The algorithmic decomposition of a Hangul syllable (Unicode ch. 3.12), None for other code points."""
    s = c - 0xAC00
    if not 0 <= s < 11172:
        return None
    lead, vowel, trail = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
    return chr(lead) + chr(vowel) + (chr(trail) if trail != 0x11A7 else "")


@dataclass
class ReferenceTables:
    version: str
    clean_remove: list[int]        # dropped by clean_text
    clean_space: list[int]         # turned into ' ' by clean_text
    chinese: list[int]             # padded with spaces by handle_chinese_chars
    nonspacing: list[int]          # NFD-stable code points dropped by strip_accents
    lower: dict[int, str]          # lowercase mapping where it is not the identity
    whitespace: list[int]          # the pre-tokenizer splits on these and drops them
    punct: list[int]               # the pre-tokenizer isolates these
    decomposition: dict[int, str]  # NFD of each code point it changes, Hangul syllables excepted (algorithmic)
    combining_class: dict[int, int]  # canonical combining class > 0 as the reference's NFD orders by it


def reference_tables() -> ReferenceTables:
    import unicodedata

    import tokenizers
    from tokenizers.normalizers import NFD, BertNormalizer

    cps = code_points()
    clean = normalize_each(BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False), cps)
    chinese = normalize_each(BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False), cps)
    strip = normalize_each(BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False), cps)
    nfd = normalize_each(NFD(), cps)
    lower = normalize_each(BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True), cps)
    # U+0345 has the largest combining class (240): the reference's NFD moves it after x exactly when ccc(x) > 0
    after_iota = normalize_each(NFD(), cps, prefix="\u0345")
    t = ReferenceTables(tokenizers.__version__, [], [], [], [], {}, [], [], {}, {})
    for c, a, b, s, d, lo, ai in zip(cps, clean, chinese, strip, nfd, lower, after_iota):
        ch = chr(c)
        if a == "":
            t.clean_remove.append(c)
        elif a == " " and ch != " ":
            t.clean_space.append(c)
        elif a != ch:
            raise RuntimeError(f"clean_text maps U+{c:04X} to {a!r}: a case these tables cannot express; extend the generator")
        if b == f" {ch} ":
            t.chinese.append(c)
        elif b != ch:
            raise RuntimeError(f"handle_chinese_chars maps U+{c:04X} to {b!r}; extend the generator")
        if d == ch and s == "":
            t.nonspacing.append(c)
        if d != ch:
            hangul = hangul_nfd(c)
            if hangul is None:
                t.decomposition[c] = d
            elif hangul != d:
                raise RuntimeError(f"the reference decomposes Hangul U+{c:04X} to {d!r}, not algorithmically; extend the generator")
        elif c == 0x345 or ai == ch + "\u0345":
            t.combining_class[c] = unicodedata.combining(ch)   # immutable once assigned, so any Unicode version agrees
            if t.combining_class[c] == 0:
                raise RuntimeError(f"the reference reorders U+{c:04X}, which Python's unicodedata says is a starter; extend the generator")
        if lo != ch:
            t.lower[c] = lo
    classes = pre_token_classes(cps)
    t.whitespace = sorted(c for c, k in classes.items() if k == "ws")
    t.punct = sorted(c for c, k in classes.items() if k == "punct")
    return t


def ranges(cps: list[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return [(a, b) for a, b in out]


def _ranges_literal(cps: list[int]) -> str:
    items = [f"{a:X}" if a == b else f"{a:X}-{b:X}" for a, b in ranges(cps)]
    return _wrap(items)


def _wrap(items: list[str], width: int = 96) -> str:
    lines, line = [], ""
    for item in items:
        piece = item + ","
        if len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    if line:
        lines.append(line)
    lines[-1] = lines[-1].rstrip(",")
    return "\n            + ".join(f'"{x}"' for x in lines)


def _mapping_literal(mapping: dict[int, str]) -> str:
    return _wrap([f"{c:X}>{'.'.join(f'{ord(x):X}' for x in s)}" for c, s in sorted(mapping.items())])


def _classes_literal(classes: dict[int, int]) -> str:
    by_class: dict[int, list[int]] = {}
    for c, k in classes.items():
        by_class.setdefault(k, []).append(c)
    items = []
    for k in sorted(by_class):
        items += [f"{k}:{a:X}" if a == b else f"{k}:{a:X}-{b:X}" for a, b in ranges(by_class[k])]
    return _wrap(items)


def java_source(t: ReferenceTables) -> str:
    for name, text in (("LOWERCASE", _mapping_literal(t.lower)), ("DECOMPOSITION", _mapping_literal(t.decomposition))):
        if len(text) > 60000:   # a Java string constant holds at most 65535 bytes
            raise RuntimeError(f"{name} outgrew one Java string constant; split it in the generator")
    return f'''// GENERATED by android_demo/tools/unicode_tables.py from tokenizers {t.version}. Do not edit by hand:
// run `python android_demo/tools/unicode_tables.py` (tests/android checks this file is current).
package org.edgedistill.core;

/**
 * The character classes of the reference BERT tokenizer (Hugging Face tokenizers {t.version}), as
 * hexadecimal code point ranges "A-B" or single code points, comma-separated.
 *
 * <p>They are carried here instead of asking java.lang.Character because the reference mixes
 * Unicode versions (an old table for controls, punctuation and nonspacing marks, a recent one for
 * whitespace and case) and because Character's answers change with the JVM and with the Android
 * version. With these tables the tokenizer gives the same ids on every device.
 */
final class UnicodeTables {{
    private UnicodeTables() {{}}

    /** clean_text drops these (controls, format characters, private use, U+0000, U+FFFD). */
    static final String CLEAN_REMOVE = {_ranges_literal(t.clean_remove)};

    /** clean_text turns these into a plain space. */
    static final String CLEAN_SPACE = {_ranges_literal(t.clean_space)};

    /** handle_chinese_chars puts a space on each side of these (CJK ideographs). */
    static final String CHINESE = {_ranges_literal(t.chinese)};

    /** strip_accents drops these after NFD (nonspacing marks, as the reference's table has them). */
    static final String NONSPACING_MARK = {_ranges_literal(t.nonspacing)};

    /** The pre-tokenizer splits on these and drops them. */
    static final String WHITESPACE = {_ranges_literal(t.whitespace)};

    /** The pre-tokenizer makes each of these a word of its own. */
    static final String PUNCTUATION = {_ranges_literal(t.punct)};

    /** lowercase, code point by code point, where it is not the identity: "FROM>TO[.TO...]". */
    static final String LOWERCASE = {_mapping_literal(t.lower)};

    /** NFD of every code point it changes, fully decomposed: "FROM>TO[.TO...]" (Hangul syllables: algorithmic). */
    static final String DECOMPOSITION = {_mapping_literal(t.decomposition)};

    /** Canonical combining classes above 0, "CLASS:A-B" (decimal class, hexadecimal code points). */
    static final String COMBINING_CLASS = {_classes_literal(t.combining_class)};
}}
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed UnicodeTables.java differs")
    parser.add_argument("--out", type=Path, default=JAVA_PATH)
    args = parser.parse_args(argv)
    source = java_source(reference_tables())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != source:
            print(f"{args.out} is stale for the installed tokenizers; run python {Path(__file__).name} to regenerate it")
            return 1
        print(f"{args.out} is current")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(source, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
