package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Long documents against the Python reference (tools/long_text_vectors.py, distill.text.Encoder and
 * edgecore.longtext): for tokenizer families of tests/families.py and long texts (movie sentences of
 * 100-2,000+ tokens, runs of one word around the window edges, empty, punctuation, zero-width, ~200,000
 * characters), every truncation strategy's encoding and every window's ids, attention mask and token
 * type ids; the aggregation of random logits with ties; the manifest records read or refused; and a real
 * bundle opened with tail truncation and windows.
 */
class LongTextParityTest {
    @TempDir
    Path tmp;

    private static final List<String> LABELS = Arrays.asList("negative", "positive");

    static File folder() {
        File dir = new File(TestData.vectors(), "long_text");
        assertTrue(dir.isDirectory(), "the vectors have no long_text/ folder: tools/long_text_vectors.py did not run");
        return dir;
    }

    static List<File> families() {
        List<File> out = new ArrayList<File>();
        for (File f : folder().listFiles()) {
            if (f.isDirectory()) {
                out.add(f);
            }
        }
        Collections.sort(out);
        return out;
    }

    static TextTokenizer tokenizer(File family, long maxLen, Object truncation) throws Exception {
        Map<String, Object> manifest = new LinkedHashMap<String, Object>(PipelineParityTest.json(new File(family, "manifest_tokenizer.json")));
        manifest.put("max_len", maxLen);
        if (truncation != null) {
            manifest.put("truncation", truncation);
        }
        File vocab = new File(family, "vocab.txt");
        return EdgeBundle.tokenizerFor(manifest, PipelineParityTest.json(new File(family, "tokenizer.json")),
                vocab.isFile() ? WordPieceTokenizer.readVocab(new java.io.FileInputStream(vocab)) : null, family.getPath());
    }

    private static boolean same(Encoding e, ModelInputs in, Map<String, Object> ref) {
        return (e == null || Arrays.equals(TestData.longs(ref.get("ids")), longs(e.ids()))
                        && Arrays.equals(TestData.longs(ref.get("type_ids")), longs(e.typeIds())))
                && Arrays.equals(TestData.longs(ref.get("ids")), in.get(ModelInputs.INPUT_IDS))
                && Arrays.equals(TestData.longs(ref.get("mask")), in.get(ModelInputs.ATTENTION_MASK))
                && Arrays.equals(TestData.longs(ref.get("type_ids")), in.get(ModelInputs.TOKEN_TYPE_IDS));
    }

    @Test
    @SuppressWarnings("unchecked")
    void truncationAndWindowsEqualTheReferenceForEveryFamily() throws Exception {
        List<Object> texts = (List<Object>) Json.parse(new String(Files.readAllBytes(new File(folder(), "texts.json").toPath()), "UTF-8"));
        List<String> report = new ArrayList<String>();
        int total = 0;
        for (File family : families()) {
            Map<String, TextTokenizer> byKey = new HashMap<String, TextTokenizer>();
            Map<String, Task> tasks = new HashMap<String, Task>();
            int truncations = 0;
            int windowVectors = 0;
            int windows = 0;
            int cut = 0;
            int mismatches = 0;
            String kind = null;
            List<String> failures = new ArrayList<String>();
            long t0 = System.nanoTime();
            for (Map<String, Object> row : TestData.jsonl(new File(family, "vectors.jsonl"))) {
                long maxLen = ((Number) row.get("max_len")).longValue();
                String text = (String) texts.get(((Number) row.get("text")).intValue());
                Object truncation = row.get("truncation");
                String key = maxLen + Json.write(truncation);
                TextTokenizer tok = byKey.get(key);
                if (tok == null) {
                    tok = tokenizer(family, maxLen, truncation);
                    byKey.put(key, tok);
                    kind = tok.getClass().getSimpleName();
                }
                boolean ok;
                String got;
                if ("truncation".equals(row.get("kind"))) {
                    truncations++;
                    Encoding e = tok.encode(text);
                    ModelInputs in = ModelInputs.of(e, tok.padId());
                    int content = ((Number) row.get("content")).intValue();
                    ok = same(e, in, row) && e.truncated() == content > tok.contentLen() && tok.contentIds(text).length == content;
                    cut += e.truncated() ? 1 : 0;
                    got = Arrays.toString(e.ids());
                } else {
                    windowVectors++;
                    String record = Json.write(row.get("long_text"));
                    Task task = tasks.get(record);
                    if (task == null) {
                        Map<String, Object> block = new LinkedHashMap<String, Object>();
                        block.put("long_text", row.get("long_text"));
                        task = Task.from(block, LABELS, Collections.<BundleManifest.Model>emptyList());
                        tasks.put(record, task);
                    }
                    List<Object> ref = (List<Object>) row.get("windows");
                    // the app's call (each window's input rows); the first vectors of a setting also through LongText.windows
                    List<ModelInputs> inputs = task.windowInputs(tok, text);
                    List<Encoding> mine = windowVectors % 5 == 1 ? task.longText().windows(tok, text) : null;
                    ok = task.readsWindows() && inputs.size() == ref.size() && (mine == null || mine.size() == ref.size());
                    for (int k = 0; ok && k < ref.size(); k++) {
                        ok = same(mine == null ? null : mine.get(k), inputs.get(k), (Map<String, Object>) ref.get(k));
                    }
                    windows += inputs.size();
                    List<String> shown = new ArrayList<String>();
                    for (ModelInputs in : inputs) {
                        shown.add(Arrays.toString(in.get(ModelInputs.INPUT_IDS)));
                    }
                    got = shown.toString();
                }
                if (!ok) {
                    mismatches++;
                    if (failures.size() < 5) {
                        String t = text.length() > 200 ? text.substring(0, 200) + "..." : text;
                        failures.add(family.getName() + " " + row.get("kind") + " max_len=" + maxLen + " " + Json.write(truncation)
                                + Json.write(row.get("long_text")) + " text=" + Json.write(t)
                                + "\n  java " + clip(got) + "\n  ref  " + clip(Json.write(row.containsKey("ids") ? row.get("ids") : row.get("windows"))));
                    }
                }
            }
            String line = "PARITY long_text family=" + family.getName() + " tokenizer=" + kind + " truncation_vectors=" + truncations
                    + " cut=" + cut + " window_vectors=" + windowVectors + " windows=" + windows + " mismatches=" + mismatches
                    + String.format(java.util.Locale.ROOT, " seconds=%.2f", (System.nanoTime() - t0) / 1e9);
            System.out.println(line);
            total += mismatches;
            assertTrue(truncations >= 300 && windowVectors >= 300, line);
            if (mismatches > 0) {
                report.add(line + "\n" + String.join("\n", failures));
            }
        }
        assertTrue(families().size() >= 4, "expected 4 families, found " + families());
        assertEquals(0, total, String.join("\n\n", report));
    }

    @Test
    @SuppressWarnings("unchecked")
    void aggregationEqualsNumpy() throws Exception {
        int rows = 0;
        int mismatches = 0;
        int exactMeans = 0;
        List<String> failures = new ArrayList<String>();
        Map<String, Object> multi = new LinkedHashMap<String, Object>();
        for (Map<String, Object> row : TestData.jsonl(new File(folder(), "aggregate.jsonl"))) {
            List<Object> l = (List<Object>) row.get("logits");
            double[][] x = new double[l.size()][];
            for (int w = 0; w < x.length; w++) {
                x[w] = TestData.doubles(l.get(w));
            }
            rows++;
            for (String how : new String[] {"mean", "max"}) {
                for (boolean m : new boolean[] {false, true}) {
                    double[] ref = TestData.doubles(row.get(how + (m ? "_multi" : "")));
                    double[] got = LongText.aggregate(x, how, m);
                    // and through a windows task of that problem type (the labels are the logits' count)
                    List<String> labels = new ArrayList<String>();
                    List<Object> thresholds = new ArrayList<Object>();
                    for (int k = 0; k < ref.length; k++) {
                        labels.add("l" + k);
                        thresholds.add(0.5);
                    }
                    multi.clear();
                    Map<String, Object> lt = new LinkedHashMap<String, Object>();
                    lt.put("mode", "windows");
                    lt.put("aggregate", how);
                    multi.put("long_text", lt);
                    if (m) {
                        multi.put("problem_type", Task.MULTI_LABEL);
                        multi.put("thresholds", thresholds);
                    }
                    double[] viaTask = Task.from(multi, labels, Collections.<BundleManifest.Model>emptyList()).aggregate(x);
                    boolean ok = ref.length == got.length && Arrays.equals(got, viaTask);
                    boolean exact = ok && Arrays.equals(ref, got);
                    for (int k = 0; ok && k < ref.length; k++) {
                        ok = "max".equals(how) ? Double.compare(ref[k], got[k]) == 0
                                : Math.abs(ref[k] - got[k]) <= 1e-12 * Math.max(1.0, Math.abs(ref[k]));
                    }
                    exactMeans += "mean".equals(how) && exact ? 1 : 0;
                    if (!ok) {
                        mismatches++;
                        if (failures.size() < 5) {
                            failures.add(how + (m ? " multi" : "") + " logits=" + Json.write(l) + "\n  java " + Arrays.toString(got)
                                    + "\n  ref  " + Arrays.toString(ref));
                        }
                    }
                }
            }
        }
        String line = "PARITY long_text_aggregate rows=" + rows + " decisions=" + (rows * 4) + " exact_means=" + exactMeans + "/" + (rows * 2)
                + " mismatches=" + mismatches;
        System.out.println(line);
        assertTrue(rows >= 1000, line);
        assertEquals(0, mismatches, line + "\n" + String.join("\n", failures));
    }

    @Test
    void windowMathMatchesTheReferenceByHand() {
        assertArrayEquals(new int[] {0}, LongText.windowStarts(0, 14, 7));
        assertArrayEquals(new int[] {0}, LongText.windowStarts(14, 14, 7));
        assertArrayEquals(new int[] {0, 1}, LongText.windowStarts(15, 14, 7));
        assertArrayEquals(new int[] {0, 7, 14, 16}, LongText.windowStarts(30, 14, 7));
        assertArrayEquals(new int[] {0, 7, 14}, LongText.windowStarts(28, 14, 7));
        assertArrayEquals(new int[] {0, 2, 5, 7, 9}, LongText.pickWindows(10, 5));   // (2*i*9 + 4) // 8
        assertArrayEquals(new int[] {0}, LongText.pickWindows(10, 1));
        assertArrayEquals(new int[] {0, 9}, LongText.pickWindows(10, 2));
        assertArrayEquals(new int[] {0, 1, 2}, LongText.pickWindows(3, 16));
        int[] content = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        assertArrayEquals(new int[] {1, 2, 3, 4}, Truncation.of("head", null).cut(content, 4));
        assertArrayEquals(new int[] {7, 8, 9, 10}, Truncation.of("tail", null).cut(content, 4));
        assertArrayEquals(new int[] {1, 8, 9, 10}, Truncation.of("head_tail", null).cut(content, 4));     // a quarter of 4
        assertArrayEquals(new int[] {1, 2, 3, 10}, Truncation.of("head_tail", 3).cut(content, 4));
        assertArrayEquals(new int[] {1, 2, 3, 4}, Truncation.of("head_tail", 99).cut(content, 4));
        assertArrayEquals(new int[] {7, 8, 9, 10}, Truncation.of("head_tail", 0).cut(content, 4));
        assertArrayEquals(content, Truncation.of("tail", null).cut(content, 10));
        // max: the second window's top probability is higher; ties keep the first; multi-label: per label
        double[][] x = {{0, 1}, {0, 3}, {3, 0}};
        assertArrayEquals(new double[] {0, 3}, LongText.aggregate(x, "max", false));
        assertArrayEquals(new double[] {3, 3}, LongText.aggregate(x, "max", true));
        assertArrayEquals(new double[] {1, 4.0 / 3}, LongText.aggregate(x, "mean", false));
    }

    @Test
    @SuppressWarnings("unchecked")
    void manifestRecordsAreReadOrRefused() throws Exception {
        int read = 0;
        int refused = 0;
        for (Map<String, Object> c : TestData.jsonl(new File(folder(), "manifests.jsonl"))) {
            Map<String, Object> block = c.get("task") == null ? null : new LinkedHashMap<String, Object>((Map<String, Object>) c.get("task"));
            boolean isTask = c.get("truncation") == null;
            Map<String, Object> tokenizer = new LinkedHashMap<String, Object>();
            tokenizer.put("truncation", c.get("truncation"));
            String what = String.valueOf(c.get("what"));
            if ("refused".equals(c.get("expect"))) {
                BundleException e = assertThrows(BundleException.class, () -> {
                    if (!isTask) {
                        Truncation.from(tokenizer);
                        return;
                    }
                    Task t = Task.from(block, LABELS, Collections.<BundleManifest.Model>emptyList());
                    t.longText().strideTokens(62);   // a window of a max_len-64 BERT bundle
                }, Json.write(c));
                assertTrue(e.getMessage().contains(what) && !e.getMessage().contains("\n"), e.getMessage() + " should name " + what);
                System.out.println("refused " + e.getMessage());
                refused++;
                continue;
            }
            Map<String, Object> expect = (Map<String, Object>) c.get("what");
            if (isTask) {
                LongText lt = Task.from(block, LABELS, Collections.<BundleManifest.Model>emptyList()).longText();
                assertEquals(expect.get("mode"), lt.mode());
                assertEquals(expect.get("stride") == null ? null : ((Number) expect.get("stride")).intValue(), lt.stride());
                assertEquals(expect.get("aggregate"), lt.aggregate());
                assertEquals(((Number) expect.get("max_windows")).intValue(), lt.maxWindows());
            } else {
                Truncation t = Truncation.from(tokenizer);
                assertEquals(expect.get("strategy"), t.strategy());
                assertEquals(expect.get("head") == null ? null : ((Number) expect.get("head")).intValue(), t.head());
            }
            read++;
        }
        Map<String, Object> left = new LinkedHashMap<String, Object>();
        left.put("truncation_side", "left");
        assertEquals("tail", Truncation.from(left).strategy());
        assertEquals("head", Truncation.from(new LinkedHashMap<String, Object>()).strategy());
        System.out.println("PARITY long_text_manifests read=" + read + " refused=" + refused + " mismatches=0");
        assertTrue(read >= 6 && refused >= 10, read + " read, " + refused + " refused");
    }

    /** The real bundle with tail truncation and windows in its manifest: opened, verified and read through EdgeBundle. */
    @Test
    @SuppressWarnings("unchecked")
    void aRealBundleReadsTailAndWindows() throws Exception {
        File dst = tmp.resolve("bundle").toFile();
        dst.mkdirs();
        for (File f : TestData.bundle().listFiles()) {
            Files.copy(f.toPath(), new File(dst, f.getName()).toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
        File manifestFile = new File(dst, "manifest.json");
        Map<String, Object> manifest = Json.parseObject(new String(Files.readAllBytes(manifestFile.toPath()), "UTF-8"));
        Map<String, Object> trunc = new LinkedHashMap<String, Object>();
        trunc.put("strategy", "tail");
        trunc.put("head", 0L);
        ((Map<String, Object>) manifest.get("tokenizer")).put("truncation", trunc);
        Map<String, Object> task = manifest.get("task") instanceof Map ? (Map<String, Object>) manifest.get("task") : new LinkedHashMap<String, Object>();
        Map<String, Object> lt = new LinkedHashMap<String, Object>();
        lt.put("mode", "windows");
        lt.put("stride", 31L);
        lt.put("aggregate", "max");
        lt.put("max_windows", 4L);
        task.put("long_text", lt);
        manifest.put("task", task);
        Files.write(manifestFile.toPath(), Json.write(manifest).getBytes("UTF-8"));
        EdgeBundle b = EdgeBundle.open(new BundleSource.Directory(dst), true);
        TextTokenizer tok = b.textTokenizer();
        StringBuilder text = new StringBuilder();
        for (int k = 0; k < 60; k++) {
            text.append("a truly moving film , word ").append(k).append(" . ");
        }
        int[] content = tok.contentIds(text.toString());
        int size = tok.contentLen();
        assertTrue(content.length > 4 * size, "the text should need more than 4 windows: " + content.length);
        Encoding tail = tok.encode(text.toString());
        assertTrue(tail.truncated());
        assertArrayEquals(Arrays.copyOfRange(content, content.length - size, content.length), Arrays.copyOfRange(tail.ids(), 1, size + 1));
        List<ModelInputs> windows = b.windowInputs(text.toString());
        assertEquals(4, windows.size());
        long[] last = windows.get(3).get(ModelInputs.INPUT_IDS);
        assertEquals(content[content.length - 1], last[last.length - 2]);   // the last window ends at the document's end
        assertEquals(content[0], windows.get(0).get(ModelInputs.INPUT_IDS)[1]);
        Prediction p = b.predict(new float[][] {{0f, 1f}, {2f, -1f}, {0f, 0f}, {0f, 0.5f}});
        assertEquals("negative", p.label());   // window 2's top probability (softmax of 3) is the highest
        assertEquals(1, b.windowInputs("").size());
        assertEquals(2, b.windowInputs("").get(0).width());   // the special tokens alone
        lt.put("stride", 1000L);
        Files.write(manifestFile.toPath(), Json.write(manifest).getBytes("UTF-8"));
        BundleException e = assertThrows(BundleException.class, () -> EdgeBundle.open(new BundleSource.Directory(dst), true));
        assertTrue(e.getMessage().contains("longer than a window"), e.getMessage());
    }

    private static String clip(String s) {
        return s.length() > 600 ? s.substring(0, 600) + "..." : s;
    }

    private static long[] longs(int[] a) {
        long[] out = new long[a.length];
        for (int k = 0; k < a.length; k++) {
            out[k] = a[k];
        }
        return out;
    }
}
