package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The task block of manifest.json (problem_type, thresholds, pair_encoding, inputs) as the Python side
 * writes it: the real bundle with each manifest of tools/android_vectors.py task_manifests/ opened and
 * verified, read or refused as cases.json says, and a sample decided and encoded through it.
 */
class TaskManifestTest {
    @TempDir
    Path tmp;

    private static File folder() {
        return new File(TestData.vectors(), "task_manifests");
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> cases() throws Exception {
        return (List<Map<String, Object>>) Json.parse(new String(Files.readAllBytes(new File(folder(), "cases.json").toPath()), "UTF-8"));
    }

    /** A copy of the real bundle with this manifest.json (the manifest is not among the hashed files). */
    private File bundleWith(String name) throws Exception {
        File dst = tmp.resolve(name).toFile();
        dst.mkdirs();
        for (File f : TestData.bundle().listFiles()) {
            Files.copy(f.toPath(), new File(dst, f.getName()).toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
        Files.copy(new File(folder(), name + ".json").toPath(), new File(dst, "manifest.json").toPath(), StandardCopyOption.REPLACE_EXISTING);
        return dst;
    }

    private static long[] padded(List<?> ids, int width, long pad) {
        long[] out = new long[width];
        for (int k = 0; k < width; k++) {
            out[k] = k < ids.size() ? ((Number) ids.get(k)).longValue() : pad;
        }
        return out;
    }

    @Test
    @SuppressWarnings("unchecked")
    void theManifestsThePythonSideWritesAreReadOrRefused() throws Exception {
        int read = 0;
        int refused = 0;
        for (Map<String, Object> c : cases()) {
            String name = (String) c.get("name");
            File dir = bundleWith(name);
            if ("refused".equals(c.get("expect"))) {
                Class<? extends BundleException> kind = Boolean.TRUE.equals(c.get("unsupported")) ? BundleException.Unsupported.class : BundleException.class;
                BundleException e = assertThrows(kind, () -> EdgeBundle.open(new BundleSource.Directory(dir), true), name);
                assertFalse(e.getMessage().contains("\n"), name + ": one line: " + e.getMessage());
                for (Object part : (List<Object>) c.get("message_contains")) {
                    assertTrue(e.getMessage().contains((String) part), name + ": '" + part + "' not in: " + e.getMessage());
                }
                System.out.println("refused " + name + ": " + e.getMessage());
                refused++;
                continue;
            }
            EdgeBundle b = EdgeBundle.open(new BundleSource.Directory(dir), true);
            Task t = b.task();
            assertEquals(c.get("labels"), b.labels(), name);
            assertEquals(c.get("inputs"), t.inputs(), name);
            assertEquals(c.get("problem_type"), t.problemType(), name);
            assertEquals(c.get("pair_encoding"), t.pairEncoding(), name);
            assertEquals(Task.MULTI_LABEL.equals(c.get("problem_type")), t.isMultiLabel(), name);
            assertEquals(Task.SIAMESE.equals(c.get("pair_encoding")), t.isSiamese(), name);
            assertEquals(((List<?>) c.get("inputs")).contains("text_pair"), t.takesPairs(), name);
            if (c.get("thresholds") == null) {
                assertNull(t.thresholds(), name);
            } else {
                assertArrayEquals(TestData.doubles(c.get("thresholds")), t.thresholds(), 0.0, name);
            }

            Map<String, Object> sample = (Map<String, Object>) c.get("sample");
            double[] logits = TestData.doubles(sample.get("logits"));
            float[] f = new float[logits.length];
            for (int k = 0; k < f.length; k++) {
                f[k] = (float) logits[k];
            }
            Prediction p = b.predict(f);
            assertEquals(sample.get("predicted"), p.predictedLabels(), name);
            assertArrayEquals(TestData.doubles(sample.get("probabilities")), p.probabilities(), 1e-12, name);

            int pad = b.padId();
            if (t.takesPairs()) {
                Map<String, Object> ps = (Map<String, Object>) c.get("pair_sample");
                List<Map<String, Object>> encs = (List<Map<String, Object>>) ps.get("encodings");
                ModelInputs in = b.inputs((String) ps.get("text"), (String) ps.get("pair"));
                ModelInputs single = b.inputs((String) ps.get("text"));   // as edge_runtime's Bundle.encode reads one text
                if (t.isSiamese()) {
                    List<?> a = (List<?>) encs.get(0).get("ids");
                    List<?> bb = (List<?>) encs.get(1).get("ids");
                    int w = Math.max(a.size(), bb.size());
                    assertEquals(w, in.width());
                    assertArrayEquals(padded(a, w, pad), in.get(ModelInputs.INPUT_IDS), name);
                    assertArrayEquals(padded(bb, w, pad), in.get(ModelInputs.PAIR_INPUT_IDS), name);
                    assertArrayEquals(padded(ones(a.size()), w, 0), in.get(ModelInputs.ATTENTION_MASK), name);
                    assertArrayEquals(padded(ones(bb.size()), w, 0), in.get(ModelInputs.PAIR_ATTENTION_MASK), name);
                    Encoding[] sides = b.encodeSiamese((String) ps.get("text"), (String) ps.get("pair"));
                    assertEquals(a.size(), sides[0].length());
                    assertEquals(bb.size(), sides[1].length());
                    assertEquals(pad, in.padValue(ModelInputs.PAIR_INPUT_IDS));
                    assertEquals(0, in.padValue(ModelInputs.PAIR_ATTENTION_MASK));
                    assertArrayEquals(padded(a, a.size(), pad), single.get(ModelInputs.PAIR_INPUT_IDS), name + ": one text is both sides");
                    assertArrayEquals(single.get(ModelInputs.INPUT_IDS), single.get(ModelInputs.PAIR_INPUT_IDS), name);
                } else {
                    List<?> ids = (List<?>) encs.get(0).get("ids");
                    List<?> types = (List<?>) encs.get(0).get("type_ids");
                    assertArrayEquals(padded(ids, ids.size(), pad), in.get(ModelInputs.INPUT_IDS), name);
                    assertArrayEquals(padded(types, types.size(), 0), in.get(ModelInputs.TOKEN_TYPE_IDS), name);
                    assertTrue(types.contains(1L), name + ": the second text's type ids are 1 in this template");
                    assertFalse(in.has(ModelInputs.PAIR_INPUT_IDS) || single.has(ModelInputs.PAIR_INPUT_IDS), name);
                    assertTrue(single.width() < in.width() && Arrays.stream(single.get(ModelInputs.TOKEN_TYPE_IDS)).allMatch(v -> v == 0), name);
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> in.get(ModelInputs.PAIR_INPUT_IDS));
                    assertTrue(e.getMessage().contains("pair_input_ids") && e.getMessage().contains("siamese"), e.getMessage());
                }
            } else {
                Map<String, Object> ts = (Map<String, Object>) c.get("text_sample");
                ModelInputs in = b.inputs((String) ts.get("text"));
                List<?> ids = (List<?>) ts.get("ids");
                assertArrayEquals(padded(ids, ids.size(), pad), in.get(ModelInputs.INPUT_IDS), name);
                assertArrayEquals(padded((List<?>) ts.get("type_ids"), ids.size(), 0), in.get(ModelInputs.TOKEN_TYPE_IDS), name);
                assertArrayEquals(padded(ones(ids.size()), ids.size(), 0), in.get(ModelInputs.ATTENTION_MASK), name);
                ModelInputs pairIn = b.inputs("a fine film", "a dull one");   // the pair template, as Bundle.encode does
                assertFalse(pairIn.has(ModelInputs.PAIR_INPUT_IDS), name);
            }
            read++;
        }
        System.out.println("PARITY task_manifests read=" + read + " refused=" + refused + " mismatches=0");
        assertTrue(read >= 6 && refused >= 10, read + " read, " + refused + " refused");
    }

    private static List<Long> ones(int n) {
        List<Long> out = new ArrayList<Long>();
        for (int k = 0; k < n; k++) {
            out.add(1L);
        }
        return out;
    }

    @Test
    void theTaskDefaultsToASingleTextSingleLabelClassifier() throws Exception {
        BundleManifest m = BundleManifest.read(new BundleSource.Directory(TestData.bundle()));
        Task t = m.task();
        assertEquals(Arrays.asList("text"), t.inputs());
        assertEquals(Task.SINGLE_LABEL, t.problemType());
        assertEquals(Task.JOINT, t.pairEncoding());
        assertFalse(t.takesPairs() || t.isMultiLabel() || t.isSiamese());
        assertNull(t.thresholds());
        Task plain = Task.singleLabel(Arrays.asList("negative", "positive"));
        assertEquals(t.inputs(), plain.inputs());
        assertEquals(t.problemType(), plain.problemType());
    }

    @Test
    void thresholdsAreCopiedOut() throws Exception {
        EdgeBundle b = EdgeBundle.open(new BundleSource.Directory(bundleWith("multi-label")), false);
        double[] t = b.task().thresholds();
        t[0] = 0.99;
        assertEquals(0.5, b.task().thresholds()[0], 0.0);
    }

    @Test
    void theBenchmarkFeedGivesASiameseModelTheSameIdsTwice() {
        ModelInputs in = ModelInputs.ofIds(new long[] {101, 7, 8, 102}, 0);
        assertEquals(4, in.width());
        assertArrayEquals(new long[] {101, 7, 8, 102}, in.get(ModelInputs.PAIR_INPUT_IDS));
        assertArrayEquals(new long[] {1, 1, 1, 1}, in.get(ModelInputs.ATTENTION_MASK));
        assertArrayEquals(new long[] {1, 1, 1, 1}, in.get(ModelInputs.PAIR_ATTENTION_MASK));
        assertArrayEquals(new long[4], in.get(ModelInputs.TOKEN_TYPE_IDS));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> in.get("position_ids"));
        assertTrue(e.getMessage().contains("'position_ids' this app cannot fill"), e.getMessage());
    }

    @Test
    void pythonNonFiniteFloatsAreReadSoTheFieldCanBeNamed() {
        List<?> l = (List<?>) Json.parse("[NaN, Infinity, -Infinity, -1]");
        assertTrue(Double.isNaN((Double) l.get(0)));
        assertEquals(Double.POSITIVE_INFINITY, l.get(1));
        assertEquals(Double.NEGATIVE_INFINITY, l.get(2));
        assertEquals(-1L, l.get(3));
        for (String bad : new String[] {"Nan", "Inf", "-Inf", "-", "NaNx"}) {
            assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
        }
    }
}
