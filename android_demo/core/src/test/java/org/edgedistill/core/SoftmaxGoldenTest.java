package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Softmax and label mapping against numpy, on logits of the exported models and on edge logits. */
class SoftmaxGoldenTest {
    @Test
    @SuppressWarnings("unchecked")
    void probabilitiesAndLabelsMatchNumpy() throws Exception {
        List<Map<String, Object>> rows = TestData.jsonl(new File(TestData.vectors(), "golden_logits.jsonl"));
        double maxDiff = 0;
        int fromModels = 0;
        int labelMismatches = 0;
        for (Map<String, Object> row : rows) {
            List<String> labels = (List<String>) row.get("labels");
            double[] logits = TestData.doubles(row.get("logits"));
            float[] f = new float[logits.length];
            for (int k = 0; k < f.length; k++) {
                f[k] = (float) logits[k];
                assertEquals(logits[k], f[k], 0.0, "golden logits must be float32 values, as a runtime returns them");
            }
            Prediction p = Prediction.of(f, labels);     // the app's path: float[] from onnxruntime / LiteRT
            double[] want = TestData.doubles(row.get("probabilities"));
            double[] got = p.probabilities();
            for (int k = 0; k < want.length; k++) {
                maxDiff = Math.max(maxDiff, Math.abs(want[k] - got[k]));
            }
            if (p.index() != ((Number) row.get("index")).intValue() || !p.label().equals(row.get("label"))) {
                labelMismatches++;
            }
            if (!"synthetic".equals(row.get("source"))) {
                fromModels++;
            }
        }
        System.out.println("PARITY softmax rows=" + rows.size() + " from_models=" + fromModels + " label_mismatches=" + labelMismatches
                + " max_abs_prob_diff=" + maxDiff);
        assertTrue(fromModels >= 500, "expected logits of the exported models, got " + fromModels);
        assertEquals(0, labelMismatches);
        assertTrue(maxDiff <= 1e-12, "probabilities differ from numpy by " + maxDiff);
    }

    @Test
    void labelsMustMatchTheLogits() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Prediction.of(new float[] {1f, 2f, 3f}, Arrays.asList("negative", "positive")));
        assertTrue(e.getMessage().contains("3 logits") && e.getMessage().contains("2 labels"), e.getMessage());
    }

    @Test
    void tiesGoToTheFirstLabelLikeNumpy() {
        Prediction p = Prediction.of(new float[] {0.5f, 0.5f}, Arrays.asList("negative", "positive"));
        assertEquals("negative", p.label());
        assertEquals(0.5, p.probability(), 0.0);
    }
}
