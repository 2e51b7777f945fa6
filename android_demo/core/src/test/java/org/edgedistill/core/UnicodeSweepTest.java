package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Every Unicode scalar value through the normalizer and the pre-tokenizer, against the reference. */
class UnicodeSweepTest {
    static final String REGENERATE = "\nIf the installed tokenizers changed, regenerate the tables: python android_demo/tools/unicode_tables.py";

    @Test
    void normalizerMatchesTheReferenceOnEveryCodePoint() throws Exception {
        EdgeBundle bundle = EdgeBundle.open(new BundleSource.Directory(TestData.bundle()), false);
        BertNormalizer normalizer = new BertNormalizer(bundle.tokenizer().settings());
        Map<Integer, String> expected = new HashMap<Integer, String>();
        for (String[] row : TestData.tsv(new File(TestData.vectors(), "codepoints_normalized.tsv"))) {
            expected.put(Integer.parseInt(row[0], 16), TestData.unhex(row[1]));
        }
        List<String> failures = new ArrayList<String>();
        int checked = 0;
        for (int cp = 0; cp < 0x110000; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                continue;
            }
            String s = new String(Character.toChars(cp));
            String want = expected.get(cp);
            String got = normalizer.normalize(s);
            checked++;
            if (!got.equals(want == null ? s : want) && failures.size() < 2000) {
                failures.add(String.format("U+%04X java %s reference %s", cp, TestData.hex(got), TestData.hex(want == null ? s : want)));
            }
        }
        System.out.println("PARITY normalizer codepoints=" + checked + " mismatches=" + failures.size());
        assertEquals(1112064, checked);
        assertEquals(0, failures.size(), "normalizer differs on " + failures.size() + " code points, e.g. "
                + failures.subList(0, Math.min(20, failures.size())) + REGENERATE);
    }

    @Test
    void normalizerMatchesTheReferenceOnWholeTexts() throws Exception {
        EdgeBundle bundle = EdgeBundle.open(new BundleSource.Directory(TestData.bundle()), false);
        BertNormalizer normalizer = new BertNormalizer(bundle.tokenizer().settings());
        List<Map<String, Object>> rows = TestData.jsonl(new File(TestData.vectors(), "normalizer_vectors.jsonl"));
        List<String> failures = new ArrayList<String>();
        for (Map<String, Object> row : rows) {
            String text = (String) row.get("text");
            String got = normalizer.normalize(text);
            if (!got.equals(row.get("normalized")) && failures.size() < 20) {
                failures.add(TestData.hex(text) + " java " + TestData.hex(got) + " reference " + TestData.hex((String) row.get("normalized")));
            }
        }
        System.out.println("PARITY normalized_texts texts=" + rows.size() + " mismatches=" + failures.size());
        assertTrue(rows.size() >= 10000);
        assertEquals(0, failures.size(), "normalizer differs on whole texts: " + failures + REGENERATE);
    }

    @Test
    void preTokenizerClassesMatchTheReferenceOnEveryCodePoint() throws Exception {
        Map<Integer, String> expected = new HashMap<Integer, String>();
        for (String[] row : TestData.tsv(new File(TestData.vectors(), "codepoints_pretokenizer.tsv"))) {
            expected.put(Integer.parseInt(row[0], 16), row[1]);
        }
        List<String> failures = new ArrayList<String>();
        for (int cp = 0; cp < 0x110000; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                continue;
            }
            int kind = BertPreTokenizer.classify(cp);
            String got = kind == BertPreTokenizer.SPACE ? "ws" : kind == BertPreTokenizer.PUNCT ? "punct" : "word";
            String want = expected.containsKey(cp) ? expected.get(cp) : "word";
            if (!want.equals(got)) {
                failures.add(String.format("U+%04X java %s reference %s", cp, got, want));
            }
        }
        System.out.println("PARITY pretokenizer codepoints=1112064 mismatches=" + failures.size());
        assertEquals(0, failures.size(), "pre-tokenizer differs on " + failures.size() + " code points, e.g. "
                + failures.subList(0, Math.min(20, failures.size())) + REGENERATE);
    }
}
