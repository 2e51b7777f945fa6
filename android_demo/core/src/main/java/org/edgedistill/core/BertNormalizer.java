package org.edgedistill.core;

import java.util.Arrays;
import java.util.Comparator;

/**
 * The reference BertNormalizer, stage by stage and in its order: clean_text, handle_chinese_chars,
 * strip_accents (NFD, then drop nonspacing marks), lowercase (code point by code point).
 *
 * <p>Every character property, NFD included, comes from {@link UnicodeTables} (extracted from the
 * reference), never from java.lang.Character or java.text.Normalizer, whose answers depend on the
 * JVM and on the Android version.
 */
public final class BertNormalizer {
    static final CodePointSet CLEAN_REMOVE = CodePointSet.parse(UnicodeTables.CLEAN_REMOVE);
    static final CodePointSet CLEAN_SPACE = CodePointSet.parse(UnicodeTables.CLEAN_SPACE);
    static final CodePointSet CHINESE = CodePointSet.parse(UnicodeTables.CHINESE);
    static final CodePointSet NONSPACING_MARK = CodePointSet.parse(UnicodeTables.NONSPACING_MARK);
    static final CodePointMap LOWERCASE = new CodePointMap(UnicodeTables.LOWERCASE);
    static final CodePointMap DECOMPOSITION = new CodePointMap(UnicodeTables.DECOMPOSITION);
    private static final int[] CCC_START;
    private static final int[] CCC_END;
    private static final int[] CCC_VALUE;

    static {
        String[] items = UnicodeTables.COMBINING_CLASS.split(",");
        int[][] rows = new int[items.length][];
        for (int k = 0; k < items.length; k++) {
            String[] kv = items[k].split(":");
            String[] ab = kv[1].split("-");
            int a = Integer.parseInt(ab[0], 16);
            rows[k] = new int[] {a, ab.length > 1 ? Integer.parseInt(ab[1], 16) : a, Integer.parseInt(kv[0])};
        }
        Arrays.sort(rows, new Comparator<int[]>() {
            @Override
            public int compare(int[] x, int[] y) {
                return Integer.compare(x[0], y[0]);
            }
        });
        CCC_START = new int[rows.length];
        CCC_END = new int[rows.length];
        CCC_VALUE = new int[rows.length];
        for (int k = 0; k < rows.length; k++) {
            if (k > 0 && rows[k][0] <= rows[k - 1][1]) {
                throw new IllegalStateException("UnicodeTables.COMBINING_CLASS has overlapping ranges at " + Integer.toHexString(rows[k][0]));
            }
            CCC_START[k] = rows[k][0];
            CCC_END[k] = rows[k][1];
            CCC_VALUE[k] = rows[k][2];
        }
    }

    private final boolean cleanText;
    private final boolean handleChineseChars;
    private final boolean stripAccents;
    private final boolean lowercase;

    public BertNormalizer(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase) {
        this.cleanText = cleanText;
        this.handleChineseChars = handleChineseChars;
        this.stripAccents = stripAccents;
        this.lowercase = lowercase;
    }

    public BertNormalizer(TokenizerSettings s) {
        this(s.cleanText, s.handleChineseChars, s.stripAccents, s.lowercase);
    }

    public String normalize(String text) {
        StringBuilder b = new StringBuilder(text.length() + 8);
        for (int k = 0; k < text.length(); ) {
            int cp = text.codePointAt(k);
            k += Character.charCount(cp);
            if (cleanText) {
                // a lone surrogate (possible in a Java string, impossible in Rust's) is category Cs: dropped
                if (CLEAN_REMOVE.contains(cp) || (cp >= 0xD800 && cp <= 0xDFFF)) {
                    continue;
                }
                if (CLEAN_SPACE.contains(cp)) {
                    b.append(' ');
                    continue;
                }
            }
            if (handleChineseChars && CHINESE.contains(cp)) {
                b.append(' ').appendCodePoint(cp).append(' ');
            } else {
                b.appendCodePoint(cp);
            }
        }
        String s = b.toString();
        if (stripAccents) {
            String decomposed = nfd(s);
            b.setLength(0);
            for (int k = 0; k < decomposed.length(); ) {
                int cp = decomposed.codePointAt(k);
                k += Character.charCount(cp);
                if (!NONSPACING_MARK.contains(cp)) {
                    b.appendCodePoint(cp);
                }
            }
            s = b.toString();
        }
        if (lowercase) {
            b.setLength(0);
            for (int k = 0; k < s.length(); ) {
                int cp = s.codePointAt(k);
                k += Character.charCount(cp);
                String lower = LOWERCASE.get(cp);
                if (lower != null) {
                    b.append(lower);
                } else {
                    b.appendCodePoint(cp);
                }
            }
            s = b.toString();
        }
        return s;
    }

    /** Canonical combining class as the reference's NFD knows it (0 for starters and unknown code points). */
    static int combiningClass(int cp) {
        int lo = 0;
        int hi = CCC_START.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (cp < CCC_START[mid]) {
                hi = mid - 1;
            } else if (cp > CCC_END[mid]) {
                lo = mid + 1;
            } else {
                return CCC_VALUE[mid];
            }
        }
        return 0;
    }

    /** NFD: full canonical decomposition (tables; Hangul syllables algorithmically), then canonical ordering. */
    static String nfd(String s) {
        int[] cps = new int[s.length() + 16];
        int n = 0;
        for (int k = 0; k < s.length(); ) {
            int cp = s.codePointAt(k);
            k += Character.charCount(cp);
            int syllable = cp - 0xAC00;
            String d;
            if (syllable >= 0 && syllable < 11172) {
                cps = grow(cps, n + 3);
                cps[n++] = 0x1100 + syllable / 588;
                cps[n++] = 0x1161 + (syllable % 588) / 28;
                if (syllable % 28 != 0) {
                    cps[n++] = 0x11A7 + syllable % 28;
                }
            } else if ((d = DECOMPOSITION.get(cp)) != null) {
                for (int j = 0; j < d.length(); ) {
                    int x = d.codePointAt(j);
                    j += Character.charCount(x);
                    cps = grow(cps, n + 1);
                    cps[n++] = x;
                }
            } else {
                cps = grow(cps, n + 1);
                cps[n++] = cp;
            }
        }
        // canonical ordering: a stable insertion sort by combining class within each run of non-starters
        for (int k = 1; k < n; k++) {
            int ccc = combiningClass(cps[k]);
            if (ccc == 0) {
                continue;
            }
            int cp = cps[k];
            int j = k;
            while (j > 0) {
                int before = combiningClass(cps[j - 1]);
                if (before == 0 || before <= ccc) {
                    break;
                }
                cps[j] = cps[j - 1];
                j--;
            }
            cps[j] = cp;
        }
        return new String(cps, 0, n);
    }

    private static int[] grow(int[] a, int need) {
        return need <= a.length ? a : Arrays.copyOf(a, Math.max(need, a.length * 2));
    }

    /** A sorted code point -> string table in the "FROM>TO.TO,..." format of {@link UnicodeTables}. */
    static final class CodePointMap {
        final int[] from;
        final String[] to;

        CodePointMap(String spec) {
            String[] items = spec.split(",");
            from = new int[items.length];
            to = new String[items.length];
            int previous = -1;
            for (int k = 0; k < items.length; k++) {
                String[] kv = items[k].split(">");
                from[k] = Integer.parseInt(kv[0], 16);
                if (from[k] <= previous) {
                    throw new IllegalStateException("a UnicodeTables mapping is not sorted at " + kv[0]);
                }
                previous = from[k];
                StringBuilder b = new StringBuilder();
                for (String cp : kv[1].split("\\.")) {
                    b.appendCodePoint(Integer.parseInt(cp, 16));
                }
                to[k] = b.toString();
            }
        }

        String get(int cp) {
            int at = Arrays.binarySearch(from, cp);
            return at >= 0 ? to[at] : null;
        }
    }
}
