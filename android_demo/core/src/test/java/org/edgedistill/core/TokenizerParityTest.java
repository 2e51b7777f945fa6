package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Java tokenizer against the reference's ids, masks and truncation on every vector Python wrote. */
class TokenizerParityTest {
    static EdgeBundle bundle;

    @BeforeAll
    static void open() throws Exception {
        bundle = EdgeBundle.open(new BundleSource.Directory(TestData.bundle()), true);
    }

    static WordPieceTokenizer tokenizerWithMaxLen(int maxLen) throws Exception {
        if (maxLen == bundle.maxLen()) {
            return bundle.tokenizer();
        }
        Map<String, Object> settings = new LinkedHashMap<String, Object>(bundle.manifest().tokenizer());
        settings.put("max_len", (long) maxLen);
        String tj = new String(WordPieceTokenizer.readAll(bundle.source().open("tokenizer.json")), "UTF-8");
        Map<String, Integer> vocab = WordPieceTokenizer.readVocab(bundle.source().open("vocab.txt"));
        return new WordPieceTokenizer(vocab, TokenizerSettings.from(settings, Json.parseObject(tj)));
    }

    @Test
    void everyVectorMatchesTheReference() throws Exception {
        List<Map<String, Object>> rows = TestData.jsonl(new File(TestData.vectors(), "tokenizer_vectors.jsonl"));
        Map<Integer, WordPieceTokenizer> byLen = new HashMap<Integer, WordPieceTokenizer>();
        Map<String, Integer> perCategory = new TreeMap<String, Integer>();
        List<String> failures = new ArrayList<String>();
        int mismatches = 0;
        int truncated = 0;
        int padId = bundle.padId();
        for (Map<String, Object> row : rows) {
            int maxLen = ((Number) row.get("max_len")).intValue();
            WordPieceTokenizer tok = byLen.get(maxLen);
            if (tok == null) {
                tok = tokenizerWithMaxLen(maxLen);
                byLen.put(maxLen, tok);
            }
            String text = (String) row.get("text");
            Encoding e = tok.encode(text);
            long[] ids = e.inputIds(maxLen, padId);
            long[] mask = e.attentionMask(maxLen);
            boolean ok = Arrays.equals(ids, TestData.longs(row.get("input_ids")))
                    && Arrays.equals(mask, TestData.longs(row.get("attention_mask")))
                    && e.length() == ((Number) row.get("length")).intValue()
                    && e.truncated() == (Boolean) row.get("truncated");
            String cat = row.get("cat") + "@" + maxLen;
            perCategory.put(cat, (perCategory.containsKey(cat) ? perCategory.get(cat) : 0) + 1);
            truncated += e.truncated() ? 1 : 0;
            if (!ok) {
                mismatches++;
                if (failures.size() < 15) {
                    failures.add(cat + " text=" + Json.write(text) + "\n  java " + Arrays.toString(e.ids()) + " truncated=" + e.truncated()
                            + " tokens=" + tok.tokens(text) + "\n  ref  " + row.get("input_ids") + " length=" + row.get("length")
                            + " truncated=" + row.get("truncated"));
                }
            }
        }
        System.out.println("PARITY tokenizer vectors=" + rows.size() + " mismatches=" + mismatches + " truncated=" + truncated
                + " categories=" + perCategory);
        assertTrue(rows.size() >= 10000, "expected at least 10,000 vectors, got " + rows.size());
        assertTrue(perCategory.containsKey("movie-test@" + bundle.maxLen()), "the movie test sentences are missing from the vectors");
        assertEquals(0, mismatches, mismatches + " of " + rows.size() + " texts tokenize differently from the reference:\n"
                + String.join("\n", failures));
    }

    @Test
    void specialTokensStayWholeOnlyWhenWrittenExactly() throws Exception {
        WordPieceTokenizer tok = bundle.tokenizer();
        assertArrayEquals(new int[] {101, 1037, 103, 1038, 102}, tok.encode("a[MASK]b").ids());
        assertArrayEquals(new int[] {101, 1031, 7308, 1033, 102}, tok.encode("[mask]").ids());
        assertArrayEquals(new int[] {101, 1031, 103, 1033, 102}, tok.encode("[[MASK]]").ids());
        assertArrayEquals(new int[] {101, 102}, tok.encode("").ids());
        assertArrayEquals(new int[] {101, 102}, tok.encode("\u200d\u0007\ufeff").ids());
        assertArrayEquals(new int[] {101, 100, 102}, tok.encode("\u0378").ids(), "unassigned code points are kept, as [UNK]");
    }

    @Test
    void truncationKeepsTheHeadAndFramesIt() throws Exception {
        WordPieceTokenizer tok = tokenizerWithMaxLen(8);
        Encoding e = tok.encode("the quick brown fox jumps over the lazy dog again");
        assertArrayEquals(new int[] {101, 1996, 4248, 2829, 4419, 14523, 2058, 102}, e.ids());
        assertTrue(e.truncated());
        assertArrayEquals(new long[] {101, 1996, 4248, 2829, 4419, 14523, 2058, 102, 0, 0}, e.inputIds(10, 0));
        assertArrayEquals(new long[] {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, e.attentionMask(10));
    }
}
