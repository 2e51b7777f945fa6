package org.edgedistill.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A tokenizer.json normalizer, reproducing the reference (Hugging Face tokenizers) text and alignments.
 *
 * <p>Supported: BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Replace (a string, or a
 * regex of the plain subset described at {@link Replace}), Prepend, Strip, Precompiled and Sequence of
 * these. Anything else is refused with a {@link BundleException.Unsupported}.
 */
abstract class PipelineNormalizer {
    static final String SUPPORTED = "BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Replace, Prepend, Strip, "
            + "Precompiled, Sequence";

    abstract void normalize(NormText t);

    /** The normalizer a tokenizer.json "normalizer" object describes; null for none. */
    static PipelineNormalizer fromJson(Object spec) {
        if (spec == null) {
            return null;
        }
        Map<String, Object> m = JsonTokenizer.stepObject(spec, "normalizer");
        String type = String.valueOf(m.get("type"));
        if ("Sequence".equals(type)) {
            List<PipelineNormalizer> steps = new ArrayList<PipelineNormalizer>();
            for (Object o : JsonTokenizer.sequenceSteps(m, "normalizers", "normalizer")) {
                PipelineNormalizer n = fromJson(o);
                if (n != null) {
                    steps.add(n);
                }
            }
            return new Sequence(steps);
        }
        if ("BertNormalizer".equals(type)) {
            Object strip = m.get("strip_accents");
            boolean lower = JsonTokenizer.bool(m, "lowercase", true);
            return new Bert(JsonTokenizer.bool(m, "clean_text", true), JsonTokenizer.bool(m, "handle_chinese_chars", true),
                    strip instanceof Boolean ? (Boolean) strip : lower, lower);
        }
        if ("NFC".equals(type) || "NFD".equals(type) || "NFKC".equals(type) || "NFKD".equals(type)) {
            return new Unicode(type.startsWith("NFK"), type.endsWith("C"));
        }
        if ("Lowercase".equals(type)) {
            return new Lowercase();
        }
        if ("StripAccents".equals(type)) {
            return new Filter(PIPELINE_MARKS, "StripAccents");
        }
        if ("Strip".equals(type)) {
            return new Strip(JsonTokenizer.bool(m, "strip_left", true), JsonTokenizer.bool(m, "strip_right", true));
        }
        if ("Prepend".equals(type)) {
            return new Prepend(JsonTokenizer.requireString(m, "prepend", "normalizer 'Prepend'"));
        }
        if ("Replace".equals(type)) {
            return Replace.fromJson(m);
        }
        if ("Precompiled".equals(type)) {
            Object charsmap = m.get("precompiled_charsmap");
            if (!(charsmap instanceof String)) {
                throw new BundleException.Unsupported("tokenizer.json normalizer 'Precompiled' has no base64 precompiled_charsmap; "
                        + "re-export the bundle");
            }
            byte[] blob;
            try {
                blob = Base64.decode((String) charsmap);
            } catch (IllegalArgumentException e) {
                throw new BundleException("tokenizer.json normalizer 'Precompiled' has a precompiled_charsmap that is not base64 ("
                        + e.getMessage() + "); re-export the bundle");
            }
            return new Wrapped(new Precompiled(blob));
        }
        throw JsonTokenizer.unsupportedType("normalizer", type, SUPPORTED);
    }

    static final CodePointSet PIPELINE_MARKS = CodePointSet.parse(PipelineTables.COMBINING_MARK);

    /** The reference's NormalizedString.filter: kept characters keep their alignment, removed ones are counted. */
    static void filter(NormText t, CodePointSet drop, boolean dropSurrogates) {
        NormText.Builder out = new NormText.Builder(t.n);
        int removed = 0;
        int removedStart = 0;
        int last = -1;
        for (int k = 0; k < t.n; k++) {
            int c = t.cps[k];
            boolean keep = !drop.contains(c) && !(dropSurrogates && c >= 0xD800 && c <= 0xDFFF);
            if (keep) {
                if (last >= 0) {
                    out.add(last, -removed);
                } else {
                    removedStart = removed;
                }
                last = c;
                removed = 0;
            } else {
                removed++;
            }
        }
        if (last >= 0) {
            out.add(last, -removed);
        }
        t.transform(out, removedStart);
    }

    static void lowercase(NormText t) {
        NormText.Builder out = new NormText.Builder(t.n + 4);
        for (int k = 0; k < t.n; k++) {
            String lower = BertNormalizer.LOWERCASE.get(t.cps[k]);
            if (lower == null) {
                out.add(t.cps[k], 0);
                continue;
            }
            boolean first = true;
            for (int j = 0; j < lower.length(); ) {
                int c = lower.codePointAt(j);
                j += Character.charCount(c);
                out.add(c, first ? 0 : 1);
                first = false;
            }
        }
        t.transform(out, 0);
    }

    static final class Sequence extends PipelineNormalizer {
        final List<PipelineNormalizer> steps;

        Sequence(List<PipelineNormalizer> steps) {
            this.steps = steps;
        }

        @Override
        void normalize(NormText t) {
            for (PipelineNormalizer n : steps) {
                n.normalize(t);
            }
        }
    }

    /** BertNormalizer: the stages of {@link BertNormalizer}, with the reference's alignments. */
    static final class Bert extends PipelineNormalizer {
        final boolean cleanText;
        final boolean chinese;
        final boolean stripAccents;
        final boolean lowercase;

        Bert(boolean cleanText, boolean chinese, boolean stripAccents, boolean lowercase) {
            this.cleanText = cleanText;
            this.chinese = chinese;
            this.stripAccents = stripAccents;
            this.lowercase = lowercase;
        }

        @Override
        void normalize(NormText t) {
            if (cleanText) {
                filter(t, BertNormalizer.CLEAN_REMOVE, true);
                for (int k = 0; k < t.n; k++) {
                    if (BertNormalizer.CLEAN_SPACE.contains(t.cps[k])) {
                        t.cps[k] = ' ';
                    }
                }
            }
            if (chinese) {
                NormText.Builder out = new NormText.Builder(t.n + 8);
                boolean any = false;
                for (int k = 0; k < t.n; k++) {
                    int c = t.cps[k];
                    if (BertNormalizer.CHINESE.contains(c)) {
                        out.add(' ', 0);
                        out.add(c, 1);
                        out.add(' ', 1);
                        any = true;
                    } else {
                        out.add(c, 0);
                    }
                }
                if (any) {
                    t.transform(out, 0);
                }
            }
            if (stripAccents) {
                t.transform(UnicodeNorm.decompose(t, false), 0);
                filter(t, BertNormalizer.NONSPACING_MARK, false);
            }
            if (lowercase) {
                lowercase(t);
            }
        }
    }

    static final class Unicode extends PipelineNormalizer {
        final boolean compatible;
        final boolean compose;

        Unicode(boolean compatible, boolean compose) {
            this.compatible = compatible;
            this.compose = compose;
        }

        @Override
        void normalize(NormText t) {
            UnicodeNorm.apply(t, compatible, compose);
        }
    }

    static final class Lowercase extends PipelineNormalizer {
        @Override
        void normalize(NormText t) {
            lowercase(t);
        }
    }

    static final class Filter extends PipelineNormalizer {
        final CodePointSet drop;
        final String name;

        Filter(CodePointSet drop, String name) {
            this.drop = drop;
            this.name = name;
        }

        @Override
        void normalize(NormText t) {
            filter(t, drop, false);
        }
    }

    /** Strip: leading and/or trailing whitespace (Rust's char::is_whitespace) removed. */
    static final class Strip extends PipelineNormalizer {
        final boolean left;
        final boolean right;

        Strip(boolean left, boolean right) {
            this.left = left;
            this.right = right;
        }

        @Override
        void normalize(NormText t) {
            int lead = 0;
            if (left) {
                while (lead < t.n && BertPreTokenizer.WHITESPACE.contains(t.cps[lead])) {
                    lead++;
                }
            }
            int trail = 0;
            if (right) {
                while (trail < t.n && BertPreTokenizer.WHITESPACE.contains(t.cps[t.n - 1 - trail])) {
                    trail++;
                }
            }
            if (lead == 0 && trail == 0) {
                return;
            }
            NormText.Builder out = new NormText.Builder(t.n);
            for (int k = lead; k < t.n - trail; k++) {
                out.add(t.cps[k], 0);   // the reference's trailing count lands on no character: alignments stay each character's own
            }
            t.transform(out, lead);
        }
    }

    /** Prepend: the string before a non-empty text, every new character aligned with the first one. */
    static final class Prepend extends PipelineNormalizer {
        final int[] prefix;

        Prepend(String prefix) {
            this.prefix = prefix.codePoints().toArray();
        }

        @Override
        void normalize(NormText t) {
            prepend(t, prefix);
        }
    }

    static void prepend(NormText t, int[] prefix) {
        if (t.n == 0 || prefix.length == 0) {
            return;
        }
        int[] cps = new int[t.n + prefix.length];
        int[] align = new int[cps.length];
        System.arraycopy(prefix, 0, cps, 0, prefix.length);
        System.arraycopy(t.cps, 0, cps, prefix.length, t.n);
        System.arraycopy(t.align, 0, align, prefix.length, t.n);
        for (int k = 0; k < prefix.length; k++) {
            align[k] = t.align[0];
        }
        t.cps = cps;
        t.align = align;
        t.n = cps.length;
    }

    static final class Wrapped extends PipelineNormalizer {
        final Precompiled precompiled;

        Wrapped(Precompiled precompiled) {
            this.precompiled = precompiled;
        }

        @Override
        void normalize(NormText t) {
            precompiled.normalize(t);
        }
    }

    /**
     * Replace: every non-overlapping match (leftmost first) by the content, each new character aligned
     * with the last character of its match. Regex patterns run on java.util.regex only within a subset
     * whose meaning is the same in the reference's engine (Oniguruma): literals, escaped punctuation,
     * \t \n \r \f, \s and \S (the reference's whitespace table), classes of literals and ranges, '.',
     * groups, alternation and greedy quantifiers. Other classes (\p, \w, \d), anchors, lookaround and
     * lazy or possessive quantifiers are refused.
     */
    static final class Replace extends PipelineNormalizer {
        final String literal;
        final Pattern regex;
        final int[] content;

        private Replace(String literal, Pattern regex, String content) {
            this.literal = literal;
            this.regex = regex;
            this.content = content.codePoints().toArray();
        }

        @SuppressWarnings("unchecked")
        static Replace fromJson(Map<String, Object> m) {
            String content = JsonTokenizer.requireString(m, "content", "normalizer 'Replace'");
            Object p = m.get("pattern");
            if (!(p instanceof Map)) {
                throw new BundleException("tokenizer.json normalizer 'Replace' has no pattern; re-export the bundle");
            }
            Map<String, Object> pattern = (Map<String, Object>) p;
            if (pattern.get("String") instanceof String) {
                String s = (String) pattern.get("String");
                if (s.isEmpty()) {
                    throw new BundleException.Unsupported("tokenizer.json normalizer 'Replace' has an empty pattern, which the Java core "
                            + "does not support");
                }
                return new Replace(s, null, content);
            }
            if (pattern.get("Regex") instanceof String) {
                return new Replace(null, compileSubset((String) pattern.get("Regex")), content);
            }
            throw new BundleException("tokenizer.json normalizer 'Replace' pattern is neither String nor Regex; re-export the bundle");
        }

        /** Onig's \\s as java.util.regex class ranges. */
        static final String SPACE_RANGES;

        static {
            StringBuilder b = new StringBuilder();
            for (String item : PipelineTables.BYTE_LEVEL_SPACE.split(",")) {
                String[] ab = item.split("-");
                b.append("\\x{").append(ab[0]).append('}');
                if (ab.length > 1) {
                    b.append("-\\x{").append(ab[1]).append('}');
                }
            }
            SPACE_RANGES = b.toString();
        }

        static Pattern compileSubset(String re) {
            StringBuilder java = new StringBuilder();
            boolean inClass = false;
            for (int k = 0; k < re.length(); ) {
                int c = re.codePointAt(k);
                int n = Character.charCount(c);
                String why = null;
                if (c == '\\') {
                    if (k + 1 >= re.length()) {
                        why = "a trailing '\\'";
                    } else {
                        char e = re.charAt(k + 1);
                        if (e == 't' || e == 'n' || e == 'r' || e == 'f') {
                            java.append('\\').append(e);
                        } else if (e == 's' || e == 'S') {
                            // the reference's \s (Oniguruma, Unicode): the code points of PipelineTables.BYTE_LEVEL_SPACE
                            if (inClass && e == 'S') {
                                why = "'\\S' inside a character class";
                            } else {
                                java.append(inClass ? SPACE_RANGES : (e == 's' ? "[" : "[^") + SPACE_RANGES + "]");
                            }
                        } else if (e < 0x80 && !Character.isLetterOrDigit(e) && e != '_' && e != ' ') {
                            java.append('\\').append(e);
                        } else {
                            why = "'\\" + e + "'";
                        }
                        n = 2;
                    }
                } else if (inClass) {
                    if (c == ']') {
                        inClass = false;
                        java.append(']');
                    } else if (c == '[' || (c == '&' && re.startsWith("&&", k))) {
                        why = "'" + new String(Character.toChars(c)) + "' inside a character class";
                    } else {
                        java.append(quoteClassChar(c));
                    }
                } else if (c == '[') {
                    inClass = true;
                    java.append('[');
                    if (re.startsWith("[^", k)) {
                        java.append('^');
                        n = 2;
                    }
                    if (re.startsWith("]", k + n)) {
                        why = "']' first in a character class";
                    }
                } else if (c == '.') {
                    java.append("[^\\n]");
                } else if (c == '(') {
                    if (re.startsWith("(?:", k)) {
                        java.append("(?:");
                        n = 3;
                    } else if (re.startsWith("(?", k)) {
                        why = "'(?' (lookaround, flags or named groups)";
                    } else {
                        java.append('(');
                    }
                } else if (c == ')' || c == '|') {
                    java.append((char) c);
                } else if (c == '*' || c == '+' || c == '?' || c == '{') {
                    int end = k + 1;
                    if (c == '{') {
                        end = re.indexOf('}', k);
                        if (end < 0 || !re.substring(k + 1, end).matches("\\d+(,\\d*)?")) {
                            why = "'{' that is not a {n}, {n,} or {n,m} quantifier";
                            end = k + 1;
                        } else {
                            end++;
                        }
                    }
                    if (why == null && end < re.length() && (re.charAt(end) == '?' || re.charAt(end) == '+')) {
                        why = "a lazy or possessive quantifier";
                    }
                    if (why == null) {
                        java.append(re, k, end);
                        n = end - k;
                    }
                } else if (c == '^' || c == '$') {
                    why = "the anchor '" + (char) c + "'";
                } else {
                    java.append(Pattern.quote(new String(Character.toChars(c))));
                }
                if (why != null) {
                    throw new BundleException.Unsupported("tokenizer.json normalizer 'Replace' regex '" + re + "' uses " + why
                            + ", which the Java core does not support (supported: literals, escaped punctuation, \\t \\n \\r \\f \\s \\S, "
                            + "[classes], '.', groups, '|', greedy quantifiers)");
                }
                k += n;
            }
            if (inClass) {
                throw new BundleException("tokenizer.json normalizer 'Replace' regex '" + re + "' has an unclosed character class");
            }
            Pattern p = Pattern.compile(java.toString());
            if (p.matcher("").matches()) {
                throw new BundleException.Unsupported("tokenizer.json normalizer 'Replace' regex '" + re + "' can match the empty string, "
                        + "which the Java core does not support");
            }
            return p;
        }

        private static String quoteClassChar(int c) {
            if (c == '-' || c == '^') {
                return String.valueOf((char) c);
            }
            if (c < 0x80 && !Character.isLetterOrDigit(c)) {
                return "\\" + (char) c;
            }
            return new String(Character.toChars(c));
        }

        @Override
        void normalize(NormText t) {
            // matches as [start, end) code point ranges
            IntList starts = new IntList(8);
            IntList ends = new IntList(8);
            if (literal != null) {
                int[] lit = literal.codePoints().toArray();
                for (int k = 0; k + lit.length <= t.n; ) {
                    boolean eq = true;
                    for (int j = 0; j < lit.length && eq; j++) {
                        eq = t.cps[k + j] == lit[j];
                    }
                    if (eq) {
                        starts.add(k);
                        ends.add(k + lit.length);
                        k += lit.length;
                    } else {
                        k++;
                    }
                }
            } else {
                String s = t.toString();
                Matcher m = regex.matcher(s);
                while (m.find()) {
                    starts.add(s.codePointCount(0, m.start()));
                    ends.add(s.codePointCount(0, m.end()));
                }
            }
            if (starts.size() == 0) {
                return;
            }
            int[] cps = new int[t.n + starts.size() * content.length];
            int[] align = new int[cps.length];
            int n = 0;
            int last = 0;
            for (int j = 0; j < starts.size(); j++) {
                int s = starts.get(j);
                int e = ends.get(j);
                for (int k = last; k < s; k++) {
                    cps[n] = t.cps[k];
                    align[n++] = t.align[k];
                }
                int a = e < 1 ? 0 : t.align[e - 1];
                for (int c : content) {
                    cps[n] = c;
                    align[n++] = a;
                }
                last = e;
            }
            for (int k = last; k < t.n; k++) {
                cps[n] = t.cps[k];
                align[n++] = t.align[k];
            }
            t.cps = cps;
            t.align = align;
            t.n = n;
        }
    }
}
