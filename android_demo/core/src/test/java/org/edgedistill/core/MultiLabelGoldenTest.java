package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Multi-label decisions (sigmoid and per-label thresholds) against numpy, on random, saturated and tied logits. */
class MultiLabelGoldenTest {
    @Test
    @SuppressWarnings("unchecked")
    void probabilitiesAndDecisionsMatchNumpy() throws Exception {
        List<Map<String, Object>> rows = TestData.jsonl(new File(TestData.vectors(), "multilabel_vectors.jsonl"));
        double maxDiff = 0;
        int decisions = 0;
        int predicted = 0;
        int empty = 0;
        int atThreshold = 0;
        int mismatches = 0;
        List<String> failures = new ArrayList<String>();
        for (Map<String, Object> row : rows) {
            List<String> labels = (List<String>) row.get("labels");
            double[] logits = TestData.doubles(row.get("logits"));
            double[] thresholds = TestData.doubles(row.get("thresholds"));
            float[] f = new float[logits.length];
            for (int k = 0; k < f.length; k++) {
                f[k] = (float) logits[k];
                assertTrue(Double.isNaN(logits[k]) || logits[k] == f[k], "logits must be float32 values, as a runtime returns them");
            }
            Prediction p = Prediction.multiLabel(f, labels, thresholds);     // the app's path: float[] from the runtime
            double[] want = TestData.doubles(row.get("probabilities"));
            double[] got = p.probabilities();
            for (int k = 0; k < want.length; k++) {
                if (Double.isNaN(want[k]) != Double.isNaN(got[k])) {
                    maxDiff = Double.POSITIVE_INFINITY;
                } else if (!Double.isNaN(want[k])) {
                    maxDiff = Math.max(maxDiff, Math.abs(want[k] - got[k]));
                }
                atThreshold += got[k] == thresholds[k] ? 1 : 0;
            }
            List<Integer> wantIdx = new ArrayList<Integer>();
            for (Object o : (List<Object>) row.get("predicted")) {
                wantIdx.add(((Number) o).intValue());
            }
            decisions += labels.size();
            predicted += p.predictedIndices().size();
            empty += p.predictedIndices().isEmpty() ? 1 : 0;
            List<String> wantLabels = new ArrayList<String>();
            for (int k : wantIdx) {
                wantLabels.add(labels.get(k));
            }
            if (!wantIdx.equals(p.predictedIndices()) || !wantLabels.equals(p.predictedLabels()) || !p.isMultiLabel()) {
                mismatches++;
                if (failures.size() < 10) {
                    failures.add("logits " + Arrays.toString(logits) + " thresholds " + Arrays.toString(thresholds) + "\n  java "
                            + p.predictedIndices() + " " + Arrays.toString(got) + "\n  numpy " + wantIdx + " " + Arrays.toString(want));
                }
            }
        }
        System.out.println("PARITY multilabel rows=" + rows.size() + " decisions=" + decisions + " predicted=" + predicted + " empty=" + empty
                + " at_threshold=" + atThreshold + " decision_mismatches=" + mismatches + " max_abs_prob_diff=" + maxDiff);
        assertTrue(rows.size() >= 2000 && atThreshold >= 100, rows.size() + " rows, " + atThreshold + " exactly at the threshold");
        assertEquals(0, mismatches, String.join("\n", failures));
        assertTrue(maxDiff <= 1e-6, "probabilities differ from numpy by " + maxDiff);
    }

    @Test
    void sigmoidIsStableAndExactWhereItCanBe() {
        assertEquals(0.5, Prediction.sigmoid(0.0), 0.0);
        assertEquals(0.5, Prediction.sigmoid(-0.0), 0.0);
        assertEquals(1.0, Prediction.sigmoid(80), 0.0);
        assertEquals(1.0, Prediction.sigmoid(Double.MAX_VALUE), 0.0);
        assertEquals(1.0, Prediction.sigmoid(Double.POSITIVE_INFINITY), 0.0);
        assertEquals(Math.exp(-80) / (1 + Math.exp(-80)), Prediction.sigmoid(-80), 0.0);
        assertTrue(Prediction.sigmoid(-80) > 0);
        assertEquals(0.0, Prediction.sigmoid(-1e4), 0.0);
        assertEquals(0.0, Prediction.sigmoid(Double.NEGATIVE_INFINITY), 0.0);
        assertTrue(Double.isNaN(Prediction.sigmoid(Double.NaN)));
        for (double x = -50; x <= 50; x += 0.125) {
            assertEquals(1.0, Prediction.sigmoid(x) + Prediction.sigmoid(-x), 1e-15, "symmetry at " + x);
            assertTrue(Prediction.sigmoid(x + 0.125) >= Prediction.sigmoid(x), "monotone at " + x);
        }
    }

    @Test
    void zeroLabelsIsAnAnswerAndTheTopLabelIsStillReported() {
        List<String> labels = Arrays.asList("toxic", "insult", "threat");
        Prediction p = Prediction.multiLabel(new float[] {-3f, -1f, -80f}, labels, new double[] {0.5, 0.5, 0.5});
        assertEquals(Collections.<String>emptyList(), p.predictedLabels());
        assertEquals("insult", p.label());   // the most probable, not predicted
        Prediction q = Prediction.multiLabel(new float[] {3f, 0f, 80f}, labels, new double[] {0.9, 0.5, 1.0});
        assertEquals(Arrays.asList("toxic", "insult", "threat"), q.predictedLabels());
        assertEquals(Arrays.asList(0, 1, 2), q.predictedIndices());
    }

    @Test
    void singleLabelStaysSoftmaxAndArgmax() {
        Prediction p = Prediction.of(new float[] {0.2f, 1.5f}, Arrays.asList("negative", "positive"));
        assertTrue(!p.isMultiLabel());
        assertEquals(Collections.singletonList("positive"), p.predictedLabels());
        assertEquals(Collections.singletonList(1), p.predictedIndices());
        assertEquals(1.0, p.probabilities()[0] + p.probabilities()[1], 1e-15);
    }

    @Test
    void countsMustMatch() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Prediction.multiLabel(new float[] {1f, 2f, 3f}, Arrays.asList("a", "b"), new double[] {0.5, 0.5}));
        assertTrue(e.getMessage().contains("3 logits") && e.getMessage().contains("2 labels"), e.getMessage());
        IllegalArgumentException t = assertThrows(IllegalArgumentException.class,
                () -> Prediction.multiLabel(new float[] {1f, 2f}, Arrays.asList("a", "b"), new double[] {0.5}));
        assertTrue(t.getMessage().contains("1 thresholds for 2 labels"), t.getMessage());
    }
}
