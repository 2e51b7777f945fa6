package org.edgedistill.core;

import java.util.ArrayList;
import java.util.List;

/** The reference BertPreTokenizer: split on whitespace (dropped), every punctuation mark a word of its own. */
public final class BertPreTokenizer {
    static final CodePointSet WHITESPACE = CodePointSet.parse(UnicodeTables.WHITESPACE);
    static final CodePointSet PUNCTUATION = CodePointSet.parse(UnicodeTables.PUNCTUATION);

    public static final int WORD = 0;
    public static final int SPACE = 1;
    public static final int PUNCT = 2;

    private BertPreTokenizer() {}

    public static int classify(int cp) {
        if (WHITESPACE.contains(cp)) {
            return SPACE;
        }
        return PUNCTUATION.contains(cp) ? PUNCT : WORD;
    }

    public static List<String> split(String normalized) {
        List<String> words = new ArrayList<String>();
        int start = -1;
        for (int k = 0; k < normalized.length(); ) {
            int cp = normalized.codePointAt(k);
            int n = Character.charCount(cp);
            int kind = classify(cp);
            if (kind == WORD) {
                if (start < 0) {
                    start = k;
                }
            } else {
                if (start >= 0) {
                    words.add(normalized.substring(start, k));
                    start = -1;
                }
                if (kind == PUNCT) {
                    words.add(normalized.substring(k, k + n));
                }
            }
            k += n;
        }
        if (start >= 0) {
            words.add(normalized.substring(start));
        }
        return words;
    }
}
