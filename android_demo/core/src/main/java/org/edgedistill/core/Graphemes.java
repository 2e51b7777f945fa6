package org.edgedistill.core;

/**
 * Extended grapheme cluster boundaries as the reference's unicode-segmentation crate finds them
 * (its forward GraphemeCursor, rule for rule, with the properties of {@link GraphemeTables}).
 * java.text.BreakIterator is not used: its rules and Unicode version change with the JVM and with
 * the Android version.
 */
final class Graphemes {
    static final int ANY = 0;
    static final int CR = 1;
    static final int CONTROL = 2;
    static final int EXTEND = 3;
    static final int EXTENDED_PICTOGRAPHIC = 4;
    static final int INCB_CONSONANT = 5;
    static final int L = 6;
    static final int LF = 7;
    static final int LV = 8;
    static final int LVT = 9;
    static final int PREPEND = 10;
    static final int REGIONAL_INDICATOR = 11;
    static final int SPACINGMARK = 12;
    static final int T = 13;
    static final int V = 14;
    static final int ZWJ = 15;

    private static final CodePointSet[] SETS = new CodePointSet[16];
    private static final CodePointSet INCB_EXTEND = CodePointSet.parse(GraphemeTables.INCB_EXTEND);
    private static final CodePointSet INCB_LINKER = CodePointSet.parse(GraphemeTables.INCB_LINKER);
    private static final String[] NAMES = {"ANY", "CR", "CONTROL", "EXTEND", "EXTENDED_PICTOGRAPHIC", "INCB_CONSONANT", "L", "LF",
        "LV", "LVT", "PREPEND", "REGIONAL_INDICATOR", "SPACINGMARK", "T", "V", "ZWJ"};

    static {
        for (int k = 0; k < GraphemeTables.CATEGORY_NAMES.length; k++) {
            int cat = -1;
            for (int j = 0; j < NAMES.length; j++) {
                if (NAMES[j].equals(GraphemeTables.CATEGORY_NAMES[k])) {
                    cat = j;
                }
            }
            if (cat < 0) {
                throw new IllegalStateException("GraphemeTables has a category this segmenter does not know: "
                        + GraphemeTables.CATEGORY_NAMES[k] + "; update Graphemes.java with the new rules");
            }
            SETS[cat] = CodePointSet.parse(GraphemeTables.CATEGORIES[k]);
        }
    }

    private Graphemes() {}

    /** Categories of the Basic Multilingual Plane, looked up once. */
    private static final byte[] BMP = new byte[0x10000];

    static {
        for (int c = 0; c < BMP.length; c++) {
            BMP[c] = (byte) lookup(c);
        }
    }

    static int category(int c) {
        return c < BMP.length ? BMP[c] : lookup(c);
    }

    private static int lookup(int c) {
        if (c <= 0x7E) {
            if (c >= 0x20) {
                return ANY;
            }
            return c == '\n' ? LF : c == '\r' ? CR : CONTROL;
        }
        for (int cat = 1; cat < SETS.length; cat++) {
            if (SETS[cat] != null && SETS[cat].contains(c)) {
                return cat;
            }
        }
        return ANY;
    }

    /** The end (exclusive) of every grapheme of cps[0, n), in order. */
    static IntList boundaries(int[] cps, int n) {
        IntList out = new IntList(n);
        int[] cat = new int[n];
        for (int k = 0; k < n; k++) {
            cat[k] = category(cps[k]);
        }
        int incbLinkerCount = -1;   // -1: None
        int risCount = -1;
        for (int offset = 1; offset <= n; offset++) {
            int ch = cps[offset - 1];
            int before = cat[offset - 1];
            if (INCB_LINKER.contains(ch)) {
                incbLinkerCount = incbLinkerCount < 0 ? 1 : incbLinkerCount + 1;
            } else if (!INCB_EXTEND.contains(ch)) {
                incbLinkerCount = 0;
            }
            if (before == REGIONAL_INDICATOR) {
                risCount = risCount < 0 ? -1 : risCount + 1;
            } else {
                risCount = 0;
            }
            if (offset == n) {
                out.add(offset);
                break;
            }
            int after = cat[offset];
            boolean isBreak;
            switch (pair(before, after)) {
                case NOT_BREAK:
                case EXTENDED:
                    isBreak = false;
                    break;
                case BREAK:
                    isBreak = true;
                    break;
                case INCB:
                    // look back over linkers and extends for a consonant (GB9c)
                    isBreak = true;
                    for (int j = offset - 1; j >= 0; j--) {
                        int c = cps[j];
                        if (INCB_LINKER.contains(c)) {
                            incbLinkerCount = incbLinkerCount < 0 ? 1 : incbLinkerCount + 1;
                        } else if (!INCB_EXTEND.contains(c)) {
                            isBreak = !(Math.max(incbLinkerCount, 0) > 0 && cat[j] == INCB_CONSONANT);
                            break;
                        }
                    }
                    break;
                case REGIONAL:
                    if (risCount >= 0) {
                        isBreak = risCount % 2 == 0;
                    } else {
                        int count = 0;
                        int j = offset - 1;
                        while (j >= 0 && cat[j] == REGIONAL_INDICATOR) {
                            count++;
                            j--;
                        }
                        risCount = count;
                        isBreak = count % 2 == 0;
                    }
                    break;
                default:   // EMOJI (GB11): ZWJ after Extended_Pictographic Extend*
                    isBreak = true;
                    if (cat[offset - 1] == ZWJ) {
                        for (int j = offset - 2; j >= 0; j--) {
                            if (cat[j] == EXTEND) {
                                continue;
                            }
                            isBreak = cat[j] != EXTENDED_PICTOGRAPHIC;
                            break;
                        }
                    }
                    break;
            }
            if (isBreak) {
                out.add(offset);
            }
        }
        return out;
    }

    private static final int NOT_BREAK = 0;
    private static final int BREAK = 1;
    private static final int EXTENDED = 2;
    private static final int INCB = 3;
    private static final int EMOJI = 4;
    private static final int REGIONAL = 5;

    private static int pair(int before, int after) {
        if (before == CR && after == LF) {
            return NOT_BREAK;                                                              // GB3
        }
        if (before == CONTROL || before == CR || before == LF) {
            return BREAK;                                                                  // GB4
        }
        if (after == CONTROL || after == CR || after == LF) {
            return BREAK;                                                                  // GB5
        }
        if (before == L && (after == L || after == V || after == LV || after == LVT)) {
            return NOT_BREAK;                                                              // GB6
        }
        if ((before == LV || before == V) && (after == V || after == T)) {
            return NOT_BREAK;                                                              // GB7
        }
        if ((before == LVT || before == T) && after == T) {
            return NOT_BREAK;                                                              // GB8
        }
        if (after == EXTEND || after == ZWJ) {
            return NOT_BREAK;                                                              // GB9
        }
        if (after == SPACINGMARK) {
            return EXTENDED;                                                               // GB9a
        }
        if (before == PREPEND) {
            return EXTENDED;                                                               // GB9b
        }
        if (after == INCB_CONSONANT) {
            return INCB;                                                                   // GB9c
        }
        if (before == ZWJ && after == EXTENDED_PICTOGRAPHIC) {
            return EMOJI;                                                                  // GB11
        }
        if (before == REGIONAL_INDICATOR && after == REGIONAL_INDICATOR) {
            return REGIONAL;                                                               // GB12, GB13
        }
        return BREAK;                                                                      // GB999
    }
}
