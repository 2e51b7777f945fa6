"""Character tables of the reference's non-BERT pipelines (Hugging Face `tokenizers`), for the Java core.

The BERT tables live in UnicodeTables.java (tools/unicode_tables.py). The other pipelines need more,
and each comes from the Rust crate the reference uses, at that crate's Unicode version, not the JVM's
or the phone's:

- NFC / NFD / NFKC / NFKD and StripAccents: `unicode-normalization-alignments` 0.1.12 (Unicode 9).
  Compatibility decompositions, primary compositions and the combining-mark set are extracted by
  asking the reference's normalizers about every code point (compositions are the canonical pairs
  of Python's `unicodedata`, kept only where the reference composes them: mappings never change
  once assigned, so any newer Unicode agrees).
- ByteLevel's GPT-2 split (`'s|'t|...| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`): the
  classes \\p{L}, \\p{N} and \\s as the reference's regex engine (Oniguruma) knows them, extracted by
  asking the ByteLevel pre-tokenizer.
- The SentencePiece Precompiled normalizer works on extended grapheme clusters (`unicode-segmentation`,
  Unicode 17 for tokenizers 0.23). Those properties cannot be asked of the reference one code point at
  a time, so they are read from the crate's own generated `src/tables.rs` (pass it with
  `--segmentation-tables`); the tests check the result against the reference's Precompiled normalizer.

    python android_demo/tools/pipeline_tables.py                      # rewrite PipelineTables.java
    python android_demo/tools/pipeline_tables.py --check              # exit 1 if it is stale
    python android_demo/tools/pipeline_tables.py --segmentation-tables PATH/unicode-segmentation/src/tables.rs
                                                                      # (also) rewrite GraphemeTables.java
"""
from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORE = HERE.parent / "core/src/main/java/org/edgedistill/core"
JAVA_PATH = CORE / "PipelineTables.java"
GRAPHEME_PATH = CORE / "GraphemeTables.java"
CHUNK = 4096
MAX_CONSTANT = 60000   # a Java string constant holds at most 65535 bytes

sys.path.insert(0, str(HERE))
import unicode_tables as ut  # noqa: E402

sys.path.remove(str(HERE))


def _same_piece(pre, joiner: str, cps: list[int]) -> set[int]:
    """Code points c for which joiner + c + joiner stays in one piece of the ByteLevel split (chunked)."""
    out: set[int] = set()
    for i in range(0, len(cps), CHUNK):
        chunk = cps[i:i + CHUNK]
        text = joiner + joiner.join(map(chr, chunk)) + joiner     # code point k sits at 2k+1
        starts = bytearray(len(text) + 1)
        for _, (start, _end) in pre.pre_tokenize_str(text):
            starts[start] = 1
        out.update(c for k, c in enumerate(chunk) if not starts[2 * k + 1] and not starts[2 * k + 2])
    return out


def byte_level_classes(cps: list[int]) -> dict[str, list[int]]:
    """\\p{L}, \\p{N} and \\s of the reference's GPT-2 split; every other code point is 'other'."""
    from tokenizers.pre_tokenizers import ByteLevel

    pre = ByteLevel(add_prefix_space=False, use_regex=True)
    other = _same_piece(pre, "!", cps)                   # most code points: one long piece, quick to ask
    rest = [c for c in cps if c not in other]
    letters = _same_piece(pre, "a", rest)
    numbers = _same_piece(pre, "1", [c for c in rest if c not in letters])
    spaces = [c for c in rest if c not in letters and c not in numbers]
    for c in (0x41, 0x61, 0x4E00, 0x30, 0x660):
        if c in other:
            raise RuntimeError(f"U+{c:04X} came out as 'other'; the probe is broken")
    # a space class member must be split off on its own between two 'other' characters
    for c in spaces:
        if c == 0x20:
            continue
        got = [t for t, _ in pre.pre_tokenize_str("!" + chr(c) + "!")]
        if len(got) != 3:
            raise RuntimeError(f"U+{c:04X} is neither letter, number nor other, yet is not split like whitespace: {got}")
    return {"letter": sorted(letters), "number": sorted(numbers), "space": spaces}


def normalization_tables(cps: list[int]) -> dict:
    from tokenizers.normalizers import NFC, NFD, NFKD, StripAccents

    nfd = ut.normalize_each(NFD(), cps)
    nfkd = ut.normalize_each(NFKD(), cps)
    nfc = ut.normalize_each(NFC(), cps)
    strip = ut.normalize_each(StripAccents(), cps)
    compat: dict[int, str] = {}
    composition: dict[tuple[int, int], int] = {}
    marks: list[int] = []
    for c, d, kd, cc, s in zip(cps, nfd, nfkd, nfc, strip):
        ch = chr(c)
        if kd != d:
            compat[c] = kd
        if s == "":
            marks.append(c)
        elif s != ch:
            raise RuntimeError(f"StripAccents maps U+{c:04X} to {s!r}; extend the generator")
        if d != ch and cc == ch and not 0xAC00 <= c <= 0xD7A3:
            mapping = unicodedata.decomposition(ch).split()
            if len(mapping) != 2 or mapping[0].startswith("<"):
                raise RuntimeError(f"U+{c:04X} is a primary composite of the reference but unicodedata maps it to {mapping}")
            composition[(int(mapping[0], 16), int(mapping[1], 16))] = c
    from tokenizers.normalizers import NFC as _NFC

    check = _NFC()
    for (a, b), c in composition.items():
        if check.normalize_str(chr(a) + chr(b)) != chr(c):
            raise RuntimeError(f"the reference does not compose U+{a:04X} U+{b:04X} to U+{c:04X}; extend the generator")
    return {"compat": compat, "composition": composition, "marks": marks}


def _chunks(text_items: list[str]) -> list[str]:
    """Items split into Java string constants below the class-file limit."""
    parts, current, size = [], [], 0
    for item in text_items:
        if size + len(item) + 1 > MAX_CONSTANT and current:
            parts.append(current)
            current, size = [], 0
        current.append(item)
        size += len(item) + 1
    if current:
        parts.append(current)
    return [ut._wrap(p) for p in parts]


def java_source(version: str, classes: dict, norm: dict) -> str:
    compat = _chunks([f"{c:X}>{'.'.join(f'{ord(x):X}' for x in s)}" for c, s in sorted(norm["compat"].items())])
    composition = _chunks([f"{a:X}.{b:X}>{c:X}" for (a, b), c in sorted(norm["composition"].items())])
    compat_literal = ",\n        ".join(compat)
    composition_literal = ",\n        ".join(composition)
    return f'''// GENERATED by android_demo/tools/pipeline_tables.py from tokenizers {version}. Do not edit by hand:
// run `python android_demo/tools/pipeline_tables.py` (tests/android checks this file is current).
package org.edgedistill.core;

/**
 * Character tables of the reference's (Hugging Face tokenizers {version}) Unicode normalizers and of
 * its byte-level split, as hexadecimal code point ranges "A-B" or single code points, comma-separated.
 *
 * <p>They are carried here instead of asking java.text.Normalizer or java.lang.Character, whose
 * answers follow the JVM's (and on Android the device's) Unicode version: the reference normalizes
 * with Unicode 9 tables and splits with its regex engine's.
 */
final class PipelineTables {{
    private PipelineTables() {{}}

    /** ByteLevel's \\\\p{{L}}. */
    static final String BYTE_LEVEL_LETTER = {ut._ranges_literal(classes["letter"])};

    /** ByteLevel's \\\\p{{N}}. */
    static final String BYTE_LEVEL_NUMBER = {ut._ranges_literal(classes["number"])};

    /** ByteLevel's \\\\s. */
    static final String BYTE_LEVEL_SPACE = {ut._ranges_literal(classes["space"])};

    /** StripAccents drops these (combining marks as the reference knows them). */
    static final String COMBINING_MARK = {ut._ranges_literal(norm["marks"])};

    /** Full compatibility decomposition where it differs from the canonical one: "FROM>TO[.TO...]". */
    static final String[] COMPAT_DECOMPOSITION = {{
        {compat_literal}
    }};

    /** Primary composites: "FIRST.SECOND>COMPOSITE" (Hangul syllables: algorithmic). */
    static final String[] COMPOSITION = {{
        {composition_literal}
    }};
}}
'''


def grapheme_source(tables_rs: Path) -> str:
    """GraphemeTables.java from unicode-segmentation's generated src/tables.rs."""
    text = tables_rs.read_text(encoding="utf-8")
    version = re.search(r"UNICODE_VERSION: \(u64, u64, u64\) = \((\d+), (\d+), (\d+)\)", text)
    if not version:
        raise RuntimeError(f"{tables_rs} has no UNICODE_VERSION; is it unicode-segmentation's src/tables.rs?")

    def body(name: str) -> str:
        m = re.search(rf"const {name}: &\[[^\]]*\] = &\[(.*?)\];", text, re.S)
        if not m:
            raise RuntimeError(f"{tables_rs} has no {name}")
        return m.group(1)

    def cp(s: str) -> int:
        return int(s, 16)

    cats: dict[str, list[int]] = {}
    for a, b, cat in re.findall(r"\('\\u\{([0-9a-fA-F]+)\}',\s*'\\u\{([0-9a-fA-F]+)\}',\s*GC_(\w+)\)", body("grapheme_cat_table")):
        cats.setdefault(cat, []).extend(range(cp(a), cp(b) + 1))
    extend = [c for a, b in re.findall(r"\('\\u\{([0-9a-fA-F]+)\}',\s*'\\u\{([0-9a-fA-F]+)\}'\)", body("InCB_Extend_table"))
              for c in range(cp(a), cp(b) + 1)]
    linker = re.search(r"pub fn is_incb_linker\(c: char\) -> bool \{\s*matches!\(c,(.*?)\)\s*\}", text, re.S)
    if not linker:
        raise RuntimeError(f"{tables_rs} has no is_incb_linker")
    linkers = [cp(x) for x in re.findall(r"\\u\{([0-9a-fA-F]+)\}", linker.group(1))]
    names = sorted(cats)
    fields = "\n\n".join(f'    /** Grapheme_Cluster_Break={n} (as the crate names it). */\n'
                         f'    static final String {n.upper()} = {ut._ranges_literal(cats[n])};' for n in names)
    listing = ", ".join(f'"{n.upper()}"' for n in names)
    refs = ", ".join(n.upper() for n in names)
    v = ".".join(version.groups())
    return f'''// GENERATED by android_demo/tools/pipeline_tables.py from unicode-segmentation's src/tables.rs (Unicode {v}),
// the grapheme segmentation of the reference's Precompiled normalizer. Do not edit by hand.
package org.edgedistill.core;

/** Extended grapheme cluster properties of unicode-segmentation (Unicode {v}), as code point ranges. */
final class GraphemeTables {{
    private GraphemeTables() {{}}

    static final String UNICODE_VERSION = "{v}";

{fields}

    /** Category names, in the order of {{@link #CATEGORIES}}. */
    static final String[] CATEGORY_NAMES = {{{listing}}};

    static final String[] CATEGORIES = {{{refs}}};

    /** Indic_Conjunct_Break=Extend. */
    static final String INCB_EXTEND = {ut._ranges_literal(extend)};

    /** Indic_Conjunct_Break=Linker. */
    static final String INCB_LINKER = {ut._ranges_literal(linkers)};
}}
'''


def main(argv: list[str] | None = None) -> int:
    import tokenizers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed PipelineTables.java differs")
    parser.add_argument("--out", type=Path, default=JAVA_PATH)
    parser.add_argument("--segmentation-tables", type=Path, help="unicode-segmentation's src/tables.rs: rewrite GraphemeTables.java")
    args = parser.parse_args(argv)
    cps = ut.code_points()
    source = java_source(tokenizers.__version__, byte_level_classes(cps), normalization_tables(cps))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != source:
            print(f"{args.out} is stale for the installed tokenizers; run python {Path(__file__).name} to regenerate it")
            return 1
        print(f"{args.out} is current")
        return 0
    args.out.write_text(source, encoding="utf-8")
    print(f"wrote {args.out}")
    if args.segmentation_tables:
        GRAPHEME_PATH.write_text(grapheme_source(args.segmentation_tables), encoding="utf-8")
        print(f"wrote {GRAPHEME_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
