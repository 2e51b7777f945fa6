package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The pairs of every family's vectors (tools/family_vectors.py siamese.jsonl) as model inputs: siamese,
 * each side encoded alone must equal the reference's single-text encoding of that side (ids, type ids,
 * truncation) and fill input_ids / pair_input_ids and their masks. (The joint token_type_ids a model is
 * fed are checked on the same pairs in {@link PipelineParityTest}.)
 */
class SiameseParityTest {
    @Test
    @SuppressWarnings("unchecked")
    void eachSideEncodesAloneLikeTheReference() throws Exception {
        List<String> report = new ArrayList<String>();
        int familiesSeen = 0;
        for (File family : PipelineParityTest.familyDirs()) {
            List<Map<String, Object>> rows = TestData.jsonl(new File(family, "siamese.jsonl"));
            Map<Integer, TextTokenizer> byLen = new HashMap<Integer, TextTokenizer>();
            List<String> failures = new ArrayList<String>();
            int mismatches = 0;
            int truncatedSides = 0;
            int differentLengths = 0;
            for (Map<String, Object> row : rows) {
                int maxLen = ((Number) row.get("max_len")).intValue();
                TextTokenizer tok = byLen.get(maxLen);
                if (tok == null) {
                    tok = PipelineParityTest.tokenizer(family, maxLen);
                    byLen.put(maxLen, tok);
                }
                String text = (String) row.get("text");
                String pair = (String) row.get("pair");
                List<Map<String, Object>> sides = (List<Map<String, Object>>) row.get("sides");
                boolean ok;
                String java;
                try {
                    Encoding[] got = ModelInputs.encodeSiamese(tok, text, pair);
                    ModelInputs in = ModelInputs.siamese(got[0], got[1], tok.padId());
                    long[] a = TestData.longs(sides.get(0).get("ids"));
                    long[] b = TestData.longs(sides.get(1).get("ids"));
                    int w = Math.max(a.length, b.length);
                    ok = same(sides.get(0), got[0]) && same(sides.get(1), got[1])
                            && in.width() == w
                            && Arrays.equals(pad(a, w, tok.padId()), in.get(ModelInputs.INPUT_IDS))
                            && Arrays.equals(pad(b, w, tok.padId()), in.get(ModelInputs.PAIR_INPUT_IDS))
                            && Arrays.equals(mask(a.length, w), in.get(ModelInputs.ATTENTION_MASK))
                            && Arrays.equals(mask(b.length, w), in.get(ModelInputs.PAIR_ATTENTION_MASK))
                            && in.truncated() == ((Boolean) sides.get(0).get("truncated") || (Boolean) sides.get(1).get("truncated"));
                    java = Arrays.toString(got[0].ids()) + " | " + Arrays.toString(got[1].ids());
                    truncatedSides += (got[0].truncated() ? 1 : 0) + (got[1].truncated() ? 1 : 0);
                    differentLengths += a.length != b.length ? 1 : 0;
                } catch (RuntimeException ex) {
                    ok = false;
                    java = ex.toString();
                }
                if (!ok) {
                    mismatches++;
                    if (failures.size() < 10) {
                        failures.add(family.getName() + " text=" + Json.write(text) + " pair=" + Json.write(pair) + "\n  java " + java
                                + "\n  ref  " + sides.get(0).get("ids") + " | " + sides.get(1).get("ids"));
                    }
                }
            }
            String line = "PARITY siamese family=" + family.getName() + " pairs=" + rows.size() + " sides=" + 2 * rows.size()
                    + " truncated_sides=" + truncatedSides + " padded_pairs=" + differentLengths + " mismatches=" + mismatches;
            System.out.println(line);
            assertTrue(rows.size() >= 4000, family.getName() + ": expected at least 4,000 pairs, got " + rows.size());
            if (mismatches > 0) {
                report.add(line + "\n" + String.join("\n", failures));
            }
            familiesSeen++;
        }
        assertTrue(familiesSeen >= 7, "expected the families' siamese vectors, found " + familiesSeen);
        assertEquals(0, report.size(), String.join("\n\n", report));
    }

    private static boolean same(Map<String, Object> ref, Encoding e) {
        return Arrays.equals(TestData.longs(ref.get("ids")), longs(e.ids()))
                && Arrays.equals(TestData.longs(ref.get("type_ids")), longs(e.typeIds()))
                && e.truncated() == (Boolean) ref.get("truncated");
    }

    private static long[] longs(int[] a) {
        long[] out = new long[a.length];
        for (int k = 0; k < a.length; k++) {
            out[k] = a[k];
        }
        return out;
    }

    private static long[] pad(long[] ids, int width, long padId) {
        long[] out = Arrays.copyOf(ids, width);
        Arrays.fill(out, ids.length, width, padId);
        return out;
    }

    private static long[] mask(int n, int width) {
        long[] out = new long[width];
        Arrays.fill(out, 0, n, 1L);
        return out;
    }
}
