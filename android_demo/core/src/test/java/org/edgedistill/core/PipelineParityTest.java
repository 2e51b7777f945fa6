package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Every model family's tokenizer (trained by tools/family_vectors.py with the reference) against the
 * reference's ids, type ids (also as the token_type_ids row fed to a joint pair model) and truncation on
 * 10,000+ texts and pairs each, its normalizer on whole
 * texts, the Unicode normalizers and ByteLevel classes on every code point, and the refusals.
 */
class PipelineParityTest {
    static final String REGENERATE = "\nIf the installed tokenizers changed, regenerate the tables: python android_demo/tools/pipeline_tables.py";

    static File families() {
        File dir = new File(TestData.vectors(), "families");
        assertTrue(dir.isDirectory(), "the vectors have no families/ folder: tools/family_vectors.py did not run");
        return dir;
    }

    static Map<String, Object> json(File f) throws Exception {
        return Json.parseObject(new String(Files.readAllBytes(f.toPath()), "UTF-8"));
    }

    static TextTokenizer tokenizer(File family, int maxLen) throws Exception {
        Map<String, Object> manifest = new LinkedHashMap<String, Object>(json(new File(family, "manifest_tokenizer.json")));
        manifest.put("max_len", (long) maxLen);
        File vocab = new File(family, "vocab.txt");
        return EdgeBundle.tokenizerFor(manifest, json(new File(family, "tokenizer.json")),
                vocab.isFile() ? WordPieceTokenizer.readVocab(new java.io.FileInputStream(vocab)) : null, family.getPath());
    }

    static List<File> familyDirs() {
        List<File> out = new ArrayList<File>();
        for (File f : families().listFiles()) {
            if (f.isDirectory()) {
                out.add(f);
            }
        }
        java.util.Collections.sort(out);
        return out;
    }

    @Test
    void everyFamilyEncodesLikeTheReference() throws Exception {
        List<String> report = new ArrayList<String>();
        int totalMismatches = 0;
        for (File family : familyDirs()) {
            Map<Integer, TextTokenizer> byLen = new HashMap<Integer, TextTokenizer>();
            List<Map<String, Object>> rows = TestData.jsonl(new File(family, "vectors.jsonl"));
            Map<String, Integer> perCategory = new TreeMap<String, Integer>();
            List<String> failures = new ArrayList<String>();
            int mismatches = 0;
            int pairs = 0;
            int truncated = 0;
            String kind = null;
            for (Map<String, Object> row : rows) {
                int maxLen = ((Number) row.get("max_len")).intValue();
                TextTokenizer tok = byLen.get(maxLen);
                if (tok == null) {
                    tok = tokenizer(family, maxLen);
                    byLen.put(maxLen, tok);
                    kind = tok.getClass().getSimpleName();
                }
                String text = (String) row.get("text");
                String pair = (String) row.get("pair");
                Encoding e;
                try {
                    e = pair == null ? tok.encode(text) : tok.encode(text, pair);
                } catch (RuntimeException ex) {
                    e = null;
                    if (failures.size() < 10) {
                        failures.add("exception " + ex + " on " + Json.write(text));
                    }
                }
                pairs += pair == null ? 0 : 1;
                String cat = String.valueOf(row.get("cat"));
                perCategory.put(cat, (perCategory.containsKey(cat) ? perCategory.get(cat) : 0) + 1);
                boolean ok = e != null && Arrays.equals(TestData.longs(row.get("ids")), toLongs(e.ids()))
                        && Arrays.equals(TestData.longs(row.get("type_ids")), toLongs(e.typeIds()))
                        && e.truncated() == (Boolean) row.get("truncated")
                        // what a joint pair model is fed as token_type_ids (the app's runners feed this row)
                        && (pair == null || Arrays.equals(TestData.longs(row.get("type_ids")),
                                ModelInputs.of(e, tok.padId()).get(ModelInputs.TOKEN_TYPE_IDS)));
                truncated += e != null && e.truncated() ? 1 : 0;
                if (!ok) {
                    mismatches++;
                    if (failures.size() < 10 && e != null) {
                        failures.add(family.getName() + "/" + cat + " text=" + Json.write(text) + (pair == null ? "" : " pair=" + Json.write(pair))
                                + "\n  java " + Arrays.toString(e.ids()) + " types " + Arrays.toString(e.typeIds()) + " truncated=" + e.truncated()
                                + "\n  ref  " + row.get("ids") + " types " + row.get("type_ids") + " truncated=" + row.get("truncated"));
                    }
                }
            }
            String line = "PARITY family=" + family.getName() + " tokenizer=" + kind + " vectors=" + rows.size() + " pairs=" + pairs
                    + " truncated=" + truncated + " mismatches=" + mismatches + " categories=" + perCategory;
            System.out.println(line);
            totalMismatches += mismatches;
            assertTrue(rows.size() >= 10000, family.getName() + ": expected at least 10,000 vectors, got " + rows.size());
            if (mismatches > 0) {
                report.add(line + "\n" + String.join("\n", failures));
            }
        }
        assertTrue(familyDirs().size() >= 7, "expected 7 families, found " + familyDirs());
        assertEquals(0, totalMismatches, String.join("\n\n", report));
    }

    private static long[] toLongs(int[] a) {
        long[] out = new long[a.length];
        for (int k = 0; k < a.length; k++) {
            out[k] = a[k];
        }
        return out;
    }

    @Test
    void everyFamilyNormalizesWholeTextsLikeTheReference() throws Exception {
        List<String> report = new ArrayList<String>();
        for (File family : familyDirs()) {
            File f = new File(family, "normalized.jsonl");
            Object spec = json(new File(family, "tokenizer.json")).get("normalizer");
            if (spec == null) {
                continue;
            }
            PipelineNormalizer normalizer = PipelineNormalizer.fromJson(spec);
            List<Map<String, Object>> rows = TestData.jsonl(f);
            List<String> failures = new ArrayList<String>();
            int mismatches = 0;
            for (Map<String, Object> row : rows) {
                NormText t = NormText.of((String) row.get("text"), 0);
                normalizer.normalize(t);
                if (!t.toString().equals(row.get("normalized"))) {
                    mismatches++;
                    if (failures.size() < 10) {
                        failures.add(TestData.hex((String) row.get("text")) + "\n  java " + TestData.hex(t.toString()) + "\n  ref  "
                                + TestData.hex((String) row.get("normalized")));
                    }
                }
            }
            String line = "PARITY family_normalizer=" + family.getName() + " texts=" + rows.size() + " mismatches=" + mismatches;
            System.out.println(line);
            if (mismatches > 0) {
                report.add(line + "\n" + String.join("\n", failures));
            }
        }
        assertTrue(report.isEmpty(), String.join("\n\n", report) + REGENERATE);
    }

    @Test
    void unicodeNormalizersAndByteLevelClassesMatchOnEveryCodePoint() throws Exception {
        Map<String, Map<Integer, String>> expected = new TreeMap<String, Map<Integer, String>>();
        for (String[] row : TestData.tsv(new File(families(), "codepoints_pipeline.tsv"))) {
            if (!expected.containsKey(row[0])) {
                expected.put(row[0], new HashMap<Integer, String>());
            }
            expected.get(row[0]).put(Integer.parseInt(row[1], 16), row[2]);
        }
        List<String> failures = new ArrayList<String>();
        int checked = 0;
        for (String name : new String[] {"NFC", "NFD", "NFKC", "NFKD", "StripAccents", "Lowercase"}) {
            Map<String, Object> spec = new HashMap<String, Object>();
            spec.put("type", name);
            PipelineNormalizer n = PipelineNormalizer.fromJson(spec);
            Map<Integer, String> want = expected.get(name);
            int bad = 0;
            // chunks of code points joined by '|', which every one of these normalizers keeps as it is and
            // none produces (checked: a chunk that does not split back is redone one code point at a time)
            List<Integer> chunk = new ArrayList<Integer>();
            for (int cp = 0; cp <= 0x110000; cp++) {
                boolean last = cp == 0x110000;
                if (!last && !(cp >= 0xD800 && cp <= 0xDFFF)) {
                    chunk.add(cp);
                }
                if (chunk.size() < 4096 && !last) {
                    continue;
                }
                String[] got = normalizeChunk(n, chunk);
                for (int k = 0; k < chunk.size(); k++) {
                    int c = chunk.get(k);
                    String s = new String(Character.toChars(c));
                    String w = want.containsKey(c) ? TestData.unhex(want.get(c)) : s;
                    checked++;
                    if (!got[k].equals(w)) {
                        bad++;
                        if (failures.size() < 20) {
                            failures.add(String.format("%s U+%04X java %s reference %s", name, c, TestData.hex(got[k]), TestData.hex(w)));
                        }
                    }
                }
                chunk.clear();
            }
            System.out.println("PARITY pipeline_codepoints normalizer=" + name + " codepoints=1112064 mismatches=" + bad);
        }
        Map<Integer, String> classes = expected.get("ByteLevel");
        int bad = 0;
        String[] names = {"letter", "number", "space", "other"};
        for (int cp = 0; cp < 0x110000; cp++) {
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                continue;
            }
            String want = classes.containsKey(cp) ? classes.get(cp) : "other";
            String got = names[PipelinePreTokenizer.byteLevelClass(cp)];
            if (!want.equals(got)) {
                bad++;
                if (failures.size() < 40) {
                    failures.add(String.format("ByteLevel U+%04X java %s reference %s", cp, got, want));
                }
            }
        }
        System.out.println("PARITY pipeline_codepoints bytelevel codepoints=1112064 mismatches=" + bad);
        assertEquals(6 * 1112064, checked);
        assertTrue(failures.isEmpty(), failures + REGENERATE);
    }

    private static String[] normalizeChunk(PipelineNormalizer n, List<Integer> chunk) {
        StringBuilder b = new StringBuilder();
        for (int k = 0; k < chunk.size(); k++) {
            b.append(k > 0 ? "|" : "").appendCodePoint(chunk.get(k));
        }
        NormText t = NormText.of(b.toString(), 0);
        n.normalize(t);
        String[] parts = t.toString().split("\\|", -1);
        if (parts.length == chunk.size()) {
            return parts;
        }
        parts = new String[chunk.size()];
        for (int k = 0; k < parts.length; k++) {
            NormText one = NormText.of(new String(Character.toChars(chunk.get(k))), 0);
            n.normalize(one);
            parts[k] = one.toString();
        }
        return parts;
    }

    static Map<String, Object> base() throws Exception {
        File family = new File(families(), "roberta");
        return json(new File(family, "tokenizer.json"));
    }

    static Map<String, Object> manifest() throws Exception {
        return json(new File(new File(families(), "roberta"), "manifest_tokenizer.json"));
    }

    static String refusal(Map<String, Object> tj) throws Exception {
        return assertThrows(BundleException.Unsupported.class, () -> EdgeBundle.tokenizerFor(manifest(), tj, null, "test")).getMessage();
    }

    @Test
    @SuppressWarnings("unchecked")
    void unsupportedComponentsAreRefusedByName() throws Exception {
        Map<String, Object> tj = base();
        tj.put("normalizer", Json.parse("{\"type\": \"Nmt\"}"));
        String m = refusal(tj);
        assertTrue(m.contains("normalizer 'Nmt' is not supported") && m.contains("supported: BertNormalizer"), m);

        tj = base();
        tj.put("normalizer", Json.parse("{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\p{L}+\"}, \"content\": \"x\"}"));
        m = refusal(tj);
        assertTrue(m.contains("'Replace' regex") && m.contains("\\p"), m);

        tj = base();
        tj.put("pre_tokenizer", Json.parse("{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}"));
        m = refusal(tj);
        assertTrue(m.contains("pre_tokenizer 'Split' is not supported") && m.contains("supported: BertPreTokenizer, ByteLevel, Metaspace"), m);

        tj = base();
        tj.put("post_processor", Json.parse("{\"type\": \"Other\"}"));
        m = refusal(tj);
        assertTrue(m.contains("post_processor 'Other' is not supported"), m);

        tj = base();
        ((Map<String, Object>) tj.get("model")).put("dropout", 0.1);
        m = refusal(tj);
        assertTrue(m.contains("dropout"), m);

        tj = base();
        ((Map<String, Object>) tj.get("truncation")).put("direction", "Left");
        m = refusal(tj);
        assertTrue(m.contains("truncation direction 'Left'"), m);

        tj = base();
        ((Map<String, Object>) ((List<Object>) tj.get("added_tokens")).get(0)).put("single_word", true);
        m = refusal(tj);
        assertTrue(m.contains("single_word"), m);

        Map<String, Object> man = new LinkedHashMap<String, Object>(manifest());
        man.put("model", "Unigram");
        BundleException e = assertThrows(BundleException.class, () -> EdgeBundle.tokenizerFor(man, base(), null, "test"));
        assertTrue(e.getMessage().contains("manifest.json says the tokenizer model is Unigram but tokenizer.json's is BPE"), e.getMessage());
    }

    @Test
    @SuppressWarnings("unchecked")
    void aBpeBundleOpensWithoutVocabTxt(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        File dir = tmp.resolve("bundle").toFile();
        assertTrue(dir.mkdirs());
        for (File f : TestData.bundle().listFiles()) {
            if (!f.getName().equals("vocab.txt")) {
                Files.copy(f.toPath(), new File(dir, f.getName()).toPath());
            }
        }
        File family = new File(families(), "roberta");
        Files.copy(new File(family, "tokenizer.json").toPath(), new File(dir, "tokenizer.json").toPath(),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Map<String, Object> manifest = json(new File(dir, "manifest.json"));
        manifest.put("tokenizer", json(new File(family, "manifest_tokenizer.json")));
        Files.write(new File(dir, "manifest.json").toPath(), Json.write(manifest).getBytes("UTF-8"));

        EdgeBundle b = EdgeBundle.open(new BundleSource.Directory(dir), false);
        TextTokenizer tok = b.textTokenizer();
        assertEquals("BPE", tok.modelType());
        assertTrue(tok instanceof JsonTokenizer);
        assertEquals(tok.tokenToId("<pad>"), b.padId());
        Encoding e = tok.encode("a fine film");
        assertEquals(tok.tokenToId("<s>"), e.ids()[0]);
        assertEquals(tok.tokenToId("</s>"), e.ids()[e.length() - 1]);
        BundleException notBert = assertThrows(BundleException.Unsupported.class, b::tokenizer);
        assertTrue(notBert.getMessage().contains("textTokenizer()"), notBert.getMessage());
        long[] feed = BenchInput.fixedLength(tok, "a fine film", 64);
        assertEquals(64, feed.length);
        assertEquals(tok.tokenToId("<s>"), feed[0]);
    }

    @Test
    void pairsAreTypedAndTruncatedLongestFirst() throws Exception {
        TextTokenizer albert = tokenizer(new File(families(), "albert"), 9);
        Encoding e = albert.encode("one two three four five six seven", "eight");
        int[] types = e.typeIds();
        assertEquals(9, e.length());
        assertTrue(e.truncated());
        assertEquals(0, types[0]);
        assertEquals(1, types[types.length - 1]);
        assertEquals(albert.tokenToId("[CLS]"), e.ids()[0]);
        TextTokenizer roberta = tokenizer(new File(families(), "roberta"), 64);
        Encoding r = roberta.encode("a", "b");
        assertEquals(roberta.tokenToId("</s>"), r.ids()[2]);
        assertEquals(roberta.tokenToId("</s>"), r.ids()[3]);
        for (int t : r.typeIds()) {
            assertEquals(0, t);
        }
        assertArrayEqualsLong(new long[] {0, 0, 0, 0, 0, 0, 0}, r.tokenTypeIds(7));
    }

    private static void assertArrayEqualsLong(long[] a, long[] b) {
        assertTrue(Arrays.equals(a, b), Arrays.toString(a) + " vs " + Arrays.toString(b));
    }
}
