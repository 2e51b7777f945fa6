package org.edgedistill.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A tokenizer.json pre-tokenizer: splits the normalized pieces further, as the reference does.
 *
 * <p>Supported: BertPreTokenizer, ByteLevel (the GPT-2 split with the reference's character classes,
 * {@link PipelineTables}), Metaspace (prepend_scheme always / first / never, split or not),
 * WhitespaceSplit, Punctuation (any split behavior) and Sequence of these. Anything else is refused
 * with a {@link BundleException.Unsupported}.
 */
abstract class PipelinePreTokenizer {
    static final String SUPPORTED = "BertPreTokenizer, ByteLevel, Metaspace, WhitespaceSplit, Punctuation, Sequence";

    /** A piece of the text: normalized text still to tokenize, or the ids of an added token found in it. */
    static final class Piece {
        final NormText text;
        final int[] ids;

        Piece(NormText text, int[] ids) {
            this.text = text;
            this.ids = ids;
        }
    }

    /** Splits every piece without ids; pieces with ids pass through; empty pieces are dropped. */
    abstract void preTokenize(List<Piece> pieces);

    static PipelinePreTokenizer fromJson(Object spec) {
        if (spec == null) {
            return null;
        }
        Map<String, Object> m = JsonTokenizer.stepObject(spec, "pre_tokenizer");
        String type = String.valueOf(m.get("type"));
        if ("Sequence".equals(type)) {
            List<PipelinePreTokenizer> steps = new ArrayList<PipelinePreTokenizer>();
            for (Object o : JsonTokenizer.sequenceSteps(m, "pretokenizers", "pre_tokenizer")) {
                PipelinePreTokenizer p = fromJson(o);
                if (p != null) {
                    steps.add(p);
                }
            }
            return new Sequence(steps);
        }
        if ("BertPreTokenizer".equals(type)) {
            return new Bert();
        }
        if ("WhitespaceSplit".equals(type)) {
            return new CharSplit(BertPreTokenizer.WHITESPACE, "removed");
        }
        if ("Punctuation".equals(type)) {
            Object behavior = m.get("behavior");
            String b = "isolated";
            if (behavior != null) {
                b = null;
                String key = String.valueOf(behavior).replace("_", "").toLowerCase(java.util.Locale.ROOT);
                for (String known : BEHAVIORS) {
                    if (known.replace("_", "").equals(key)) {
                        b = known;
                    }
                }
            }
            if (b == null) {
                throw new BundleException.Unsupported("tokenizer.json pre_tokenizer 'Punctuation' behavior '" + behavior
                        + "' is not supported by the Java core; supported: " + BEHAVIORS);
            }
            return new CharSplit(BertPreTokenizer.PUNCTUATION, b);
        }
        if ("ByteLevel".equals(type)) {
            return new ByteLevel(JsonTokenizer.bool(m, "add_prefix_space", true), JsonTokenizer.bool(m, "use_regex", true));
        }
        if ("Metaspace".equals(type)) {
            String replacement = JsonTokenizer.requireString(m, "replacement", "pre_tokenizer 'Metaspace'");
            if (replacement.codePointCount(0, replacement.length()) != 1) {
                throw new BundleException("tokenizer.json pre_tokenizer 'Metaspace' replacement '" + replacement
                        + "' is not one character; re-export the bundle");
            }
            Object scheme = m.get("prepend_scheme");
            String s = scheme instanceof String ? (String) scheme : "always";
            if (Boolean.FALSE.equals(m.get("add_prefix_space"))) {
                if (scheme instanceof String && !"never".equals(scheme)) {
                    throw new BundleException("tokenizer.json pre_tokenizer 'Metaspace' says add_prefix_space=false but prepend_scheme="
                            + scheme + "; re-export the bundle");
                }
                s = "never";
            }
            if (!"always".equals(s) && !"first".equals(s) && !"never".equals(s)) {
                throw new BundleException.Unsupported("tokenizer.json pre_tokenizer 'Metaspace' prepend_scheme '" + s
                        + "' is not supported by the Java core; supported: always, first, never");
            }
            return new Metaspace(replacement.codePointAt(0), s, JsonTokenizer.bool(m, "split", true));
        }
        throw JsonTokenizer.unsupportedType("pre_tokenizer", type, SUPPORTED);
    }

    static final class Sequence extends PipelinePreTokenizer {
        final List<PipelinePreTokenizer> steps;

        Sequence(List<PipelinePreTokenizer> steps) {
            this.steps = steps;
        }

        @Override
        void preTokenize(List<Piece> pieces) {
            for (PipelinePreTokenizer p : steps) {
                p.preTokenize(pieces);
            }
        }
    }

    /** Adds the non-empty slice [from, to) of t as a piece. */
    static void addSlice(List<Piece> out, NormText t, int from, int to) {
        if (to > from) {
            out.add(new Piece(t.slice(from, to), null));
        }
    }

    /** A pre-tokenizer that splits each text piece on its own; pieces with ids pass through in place. */
    abstract static class PerText extends PipelinePreTokenizer {
        /** Appends the pieces one text piece splits into (only non-empty ones, through {@link #addSlice}). */
        abstract void splitText(List<Piece> out, NormText t);

        @Override
        final void preTokenize(List<Piece> pieces) {
            List<Piece> out = new ArrayList<Piece>(pieces.size() * 4);
            for (Piece p : pieces) {
                if (p.ids != null) {
                    out.add(p);
                } else {
                    splitText(out, p.text);
                }
            }
            pieces.clear();
            pieces.addAll(out);
        }
    }

    /** Whitespace (Rust's char::is_whitespace) removed, each punctuation mark a piece of its own. */
    static final class Bert extends PerText {
        @Override
        void splitText(List<Piece> out, NormText t) {
            int start = 0;
            for (int k = 0; k < t.n; k++) {
                int kind = BertPreTokenizer.classify(t.cps[k]);
                if (kind == BertPreTokenizer.WORD) {
                    continue;
                }
                addSlice(out, t, start, k);
                if (kind == BertPreTokenizer.PUNCT) {
                    addSlice(out, t, k, k + 1);
                }
                start = k + 1;
            }
            addSlice(out, t, start, t.n);
        }
    }

    static final List<String> BEHAVIORS = java.util.Arrays.asList("removed", "isolated", "merged_with_previous", "merged_with_next",
            "contiguous");

    /**
     * The reference's NormalizedString.split with a character pattern (each matching character is one
     * match): "removed" drops the matches, "isolated" keeps each as a piece, "merged_with_previous" /
     * "merged_with_next" glue a match to the text before / after it, "contiguous" keeps runs of matches.
     */
    static void split(List<Piece> out, NormText t, CodePointSet set, int single, String behavior) {
        // segments: {start, end, isMatch}
        List<int[]> segments = new ArrayList<int[]>();
        int last = 0;
        for (int k = 0; k < t.n; k++) {
            boolean match = set != null ? set.contains(t.cps[k]) : t.cps[k] == single;
            if (match) {
                if (last < k) {
                    segments.add(new int[] {last, k, 0});
                }
                segments.add(new int[] {k, k + 1, 1});
                last = k + 1;
            }
        }
        if (last < t.n) {
            segments.add(new int[] {last, t.n, 0});
        }
        List<int[]> kept = new ArrayList<int[]>();
        if ("removed".equals(behavior) || "isolated".equals(behavior)) {
            for (int[] s : segments) {
                if (s[2] == 0 || "isolated".equals(behavior)) {
                    kept.add(s);
                }
            }
        } else if ("contiguous".equals(behavior) || "merged_with_previous".equals(behavior)) {
            boolean contiguous = "contiguous".equals(behavior);
            boolean previous = false;
            for (int[] s : segments) {
                boolean match = s[2] == 1;
                boolean merge = contiguous ? match == previous : match && !previous;
                if (merge && !kept.isEmpty()) {
                    kept.get(kept.size() - 1)[1] = s[1];
                } else {
                    kept.add(s.clone());
                }
                previous = match;
            }
        } else {    // merged_with_next
            boolean previous = false;
            for (int j = segments.size() - 1; j >= 0; j--) {
                int[] s = segments.get(j);
                boolean match = s[2] == 1;
                if (match && !previous && !kept.isEmpty()) {
                    kept.get(kept.size() - 1)[0] = s[0];
                } else {
                    kept.add(s.clone());
                }
                previous = match;
            }
            java.util.Collections.reverse(kept);
        }
        for (int[] s : kept) {
            addSlice(out, t, s[0], s[1]);
        }
    }

    /** WhitespaceSplit (whitespace removed) and Punctuation (with its behavior): a split on a character class. */
    static final class CharSplit extends PerText {
        final CodePointSet set;
        final String behavior;

        CharSplit(CodePointSet set, String behavior) {
            this.set = set;
            this.behavior = behavior;
        }

        @Override
        void splitText(List<Piece> out, NormText t) {
            split(out, t, set, -1, behavior);
        }
    }

    /**
     * Metaspace: spaces become the replacement, which is prepended (always; or first, only to a piece
     * that starts at original offset 0; or never) unless the piece starts with it; then, with split,
     * each replacement starts a new piece.
     */
    static final class Metaspace extends PerText {
        final int replacement;
        final String scheme;
        final boolean split;

        Metaspace(int replacement, String scheme, boolean split) {
            this.replacement = replacement;
            this.scheme = scheme;
            this.split = split;
        }

        @Override
        void splitText(List<Piece> out, NormText t) {
            for (int k = 0; k < t.n; k++) {
                if (t.cps[k] == ' ') {
                    t.cps[k] = replacement;   // one for one: each keeps its alignment
                }
            }
            boolean startsWith = t.n > 0 && t.cps[0] == replacement;
            if (!startsWith && ("always".equals(scheme) || ("first".equals(scheme) && t.shift == 0))) {
                PipelineNormalizer.prepend(t, new int[] {replacement});
            }
            if (!split) {
                addSlice(out, t, 0, t.n);
                return;
            }
            split(out, t, null, replacement, "merged_with_next");
        }
    }

    static final CodePointSet LETTER = CodePointSet.parse(PipelineTables.BYTE_LEVEL_LETTER);
    static final CodePointSet NUMBER = CodePointSet.parse(PipelineTables.BYTE_LEVEL_NUMBER);
    static final CodePointSet SPACE = CodePointSet.parse(PipelineTables.BYTE_LEVEL_SPACE);
    static final int CLS_LETTER = 0;
    static final int CLS_NUMBER = 1;
    static final int CLS_SPACE = 2;
    static final int CLS_OTHER = 3;

    static int byteLevelClass(int c) {
        if (c < 0x80) {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                return CLS_LETTER;
            }
            if (c >= '0' && c <= '9') {
                return CLS_NUMBER;
            }
        }
        return LETTER.contains(c) ? CLS_LETTER : NUMBER.contains(c) ? CLS_NUMBER : SPACE.contains(c) ? CLS_SPACE : CLS_OTHER;
    }

    /** The GPT-2 byte-to-unicode map: printable bytes stand for themselves, the others for U+0100 onwards. */
    static final int[] BYTE_CHAR = new int[256];

    static {
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_CHAR[b] = printable ? b : 256 + n++;
        }
    }

    /**
     * ByteLevel: a space is prepended (add_prefix_space) to a piece that does not start with one, the
     * piece is cut by the GPT-2 pattern
     * {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+} (use_regex), and every
     * UTF-8 byte becomes its stand-in character.
     */
    static final class ByteLevel extends PerText {
        final boolean addPrefixSpace;
        final boolean useRegex;

        ByteLevel(boolean addPrefixSpace, boolean useRegex) {
            this.addPrefixSpace = addPrefixSpace;
            this.useRegex = useRegex;
        }

        @Override
        void splitText(List<Piece> out, NormText t) {
            int first = out.size();
            if (addPrefixSpace && !(t.n > 0 && t.cps[0] == ' ')) {
                PipelineNormalizer.prepend(t, new int[] {' '});
            }
            if (!useRegex) {
                addSlice(out, t, 0, t.n);
            } else {
                int[] cls = new int[t.n];
                for (int k = 0; k < t.n; k++) {
                    cls[k] = byteLevelClass(t.cps[k]);
                }
                for (int k = 0; k < t.n; ) {
                    int end = match(t.cps, cls, t.n, k);
                    addSlice(out, t, k, end);
                    k = end;
                }
            }
            // the new pieces are copies (NormText.slice), so converting each now equals converting all at the end
            for (int j = first; j < out.size(); j++) {
                toBytes(out.get(j).text);
            }
        }

        /** The end of the GPT-2 pattern's match at i (every position matches one of its alternatives). */
        static int match(int[] c, int[] cls, int n, int i) {
            if (c[i] == '\'' && i + 1 < n) {
                int d = c[i + 1];
                if (d == 's' || d == 't' || d == 'm' || d == 'd') {
                    return i + 2;
                }
                if (i + 2 < n) {
                    int e = c[i + 2];
                    if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) {
                        return i + 3;
                    }
                }
            }
            for (int want : new int[] {CLS_LETTER, CLS_NUMBER, CLS_OTHER}) {
                int from = -1;
                if (c[i] == ' ' && i + 1 < n && cls[i + 1] == want) {
                    from = i + 1;
                } else if (cls[i] == want) {
                    from = i;
                }
                if (from >= 0) {
                    int end = from;
                    while (end < n && cls[end] == want) {
                        end++;
                    }
                    return end;
                }
            }
            int end = i;
            while (end < n && cls[end] == CLS_SPACE) {
                end++;
            }
            if (end == n || end - 1 == i) {
                return end;     // \s+(?!\S) up to the end, or a lone space before a non-space: \s+
            }
            return end - 1;     // \s+(?!\S) leaves the last space to the next word
        }

        /** Every code point as its UTF-8 bytes' stand-in characters (first byte replaces, the others are inserted). */
        static void toBytes(NormText t) {
            NormText.Builder out = new NormText.Builder(t.n * 2);
            for (int k = 0; k < t.n; k++) {
                int c = t.cps[k];
                if (c < 0x80) {
                    out.add(BYTE_CHAR[c], 0);
                } else if (c < 0x800) {
                    out.add(BYTE_CHAR[0xC0 | (c >> 6)], 0);
                    out.add(BYTE_CHAR[0x80 | (c & 0x3F)], 1);
                } else if (c < 0x10000) {
                    out.add(BYTE_CHAR[0xE0 | (c >> 12)], 0);
                    out.add(BYTE_CHAR[0x80 | ((c >> 6) & 0x3F)], 1);
                    out.add(BYTE_CHAR[0x80 | (c & 0x3F)], 1);
                } else {
                    out.add(BYTE_CHAR[0xF0 | (c >> 18)], 0);
                    out.add(BYTE_CHAR[0x80 | ((c >> 12) & 0x3F)], 1);
                    out.add(BYTE_CHAR[0x80 | ((c >> 6) & 0x3F)], 1);
                    out.add(BYTE_CHAR[0x80 | (c & 0x3F)], 1);
                }
            }
            t.transform(out, 0);
        }
    }
}
