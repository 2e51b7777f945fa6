package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading and verifying a real bundle written by export.write_bundle, and refusing broken ones. */
class BundleManifestTest {
    @TempDir
    Path tmp;

    private File copyBundle() throws IOException {
        File src = TestData.bundle();
        File dst = tmp.resolve("bundle").toFile();
        dst.mkdirs();
        for (File f : src.listFiles()) {
            Files.copy(f.toPath(), new File(dst, f.getName()).toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
        return dst;
    }

    private static String read(File f) throws IOException {
        return new String(Files.readAllBytes(f.toPath()), Charset.forName("UTF-8"));
    }

    private static void write(File f, String s) throws IOException {
        Files.write(f.toPath(), s.getBytes(Charset.forName("UTF-8")));
    }

    @Test
    void aRealBundleOpensVerified() throws Exception {
        EdgeBundle b = EdgeBundle.open(new BundleSource.Directory(TestData.bundle()), true);
        assertEquals(Arrays.asList("negative", "positive"), b.labels());
        assertEquals(64, b.maxLen());
        assertEquals(30522, b.tokenizer().vocabSize());
        BundleManifest.Model m = b.manifest().defaultModel();
        assertTrue(m.isDefault);
        assertEquals("int8", m.precision);
        assertEquals("onnx", m.format);
        assertEquals("input_ids", m.inputs.get(0).name);
        assertEquals("int64", m.inputs.get(0).dtype);
        assertEquals("fp32", b.manifest().model("fp32", null).precision);
        assertEquals("int8", m.meta("edgedistill.precision"));
        assertEquals(null, m.meta("edgedistill.tflite.reset_variables"));
        assertTrue(b.manifest().files().size() >= 7);
    }

    @Test
    void unknownPrecisionNamesWhatTheBundleHas() throws Exception {
        BundleManifest m = BundleManifest.read(new BundleSource.Directory(TestData.bundle()));
        BundleException e = assertThrows(BundleException.Unsupported.class, () -> m.model("fp16", null));
        assertTrue(e.getMessage().contains("onnx/int8") && e.getMessage().contains("onnx/fp32"), e.getMessage());
    }

    @Test
    void aModifiedModelIsNamed() throws Exception {
        File b = copyBundle();
        String model = BundleManifest.read(new BundleSource.Directory(b)).defaultModel().file;
        try (FileOutputStream out = new FileOutputStream(new File(b, model), true)) {
            out.write(0);
        }
        BundleException e = assertThrows(BundleException.Integrity.class, () -> EdgeBundle.open(new BundleSource.Directory(b), true));
        assertTrue(e.getMessage().startsWith(model + " in ") && e.getMessage().contains("modified after export"), e.getMessage());
    }

    @Test
    void aSameSizeEditIsCaughtByTheHash() throws Exception {
        File b = copyBundle();
        try (RandomAccessFile f = new RandomAccessFile(new File(b, "vocab.txt"), "rw")) {
            f.seek(100);
            int c = f.read();
            f.seek(100);
            f.write(c ^ 1);
        }
        BundleException e = assertThrows(BundleException.Integrity.class, () -> EdgeBundle.open(new BundleSource.Directory(b), true));
        assertTrue(e.getMessage().contains("vocab.txt") && e.getMessage().contains("sha256 mismatch"), e.getMessage());
    }

    @Test
    void aMissingFileIsNamed() throws Exception {
        File b = copyBundle();
        assertTrue(new File(b, "labels.txt").delete());
        BundleException e = assertThrows(BundleException.Integrity.class, () -> EdgeBundle.open(new BundleSource.Directory(b), true));
        assertTrue(e.getMessage().contains("labels.txt is listed in manifest.json but missing"), e.getMessage());
    }

    @Test
    void pathsOutsideTheBundleAreRefused() throws Exception {
        File b = copyBundle();
        File manifest = new File(b, "manifest.json");
        write(manifest, read(manifest).replace("\"path\": \"labels.txt\"", "\"path\": \"../labels.txt\""));
        BundleException e = assertThrows(BundleException.Integrity.class, () -> BundleManifest.read(new BundleSource.Directory(b))
                .verify(new BundleSource.Directory(b)));
        assertTrue(e.getMessage().contains("outside the bundle"), e.getMessage());
    }

    @Test
    void notABundle() throws Exception {
        File empty = tmp.resolve("empty").toFile();
        empty.mkdirs();
        BundleException e = assertThrows(BundleException.class, () -> EdgeBundle.open(new BundleSource.Directory(empty), true));
        assertTrue(e.getMessage().contains("is not a bundle (no manifest.json)"), e.getMessage());
        assertThrows(BundleException.class, () -> BundleManifest.parse("{not json"));
        BundleException f = assertThrows(BundleException.class, () -> BundleManifest.parse("{\"format\": \"other\"}"));
        assertTrue(f.getMessage().contains("expected 'edgedistill-bundle'"), f.getMessage());
        BundleException v = assertThrows(BundleException.Unsupported.class,
                () -> BundleManifest.parse("{\"format\": \"edgedistill-bundle\", \"version\": 2}"));
        assertTrue(v.getMessage().contains("version 2"), v.getMessage());
    }

    @Test
    void anotherKindOfTokenizerIsRefusedNotApproximated() throws Exception {
        File b = copyBundle();
        File tj = new File(b, "tokenizer.json");
        write(tj, read(tj).replace("\"type\": \"BertPreTokenizer\"", "\"type\": \"Metaspace\"").replace("\"type\":\"BertPreTokenizer\"", "\"type\":\"Metaspace\""));
        BundleException e = assertThrows(BundleException.Unsupported.class, () -> EdgeBundle.open(new BundleSource.Directory(b), false));
        assertTrue(e.getMessage().contains("pre_tokenizer 'Metaspace'") && e.getMessage().contains("BERT WordPiece"), e.getMessage());
    }

    @Test
    void vocabAndTokenizerJsonMustAgree() throws Exception {
        File b = copyBundle();
        File vocab = new File(b, "vocab.txt");
        write(vocab, read(vocab).replaceFirst("\\[UNK\\]\n", "[UNKNOWN]\n"));
        BundleException e = assertThrows(BundleException.class, () -> EdgeBundle.open(new BundleSource.Directory(b), false));
        assertTrue(e.getMessage().contains("disagree") || e.getMessage().contains("vocab.txt"), e.getMessage());
    }

    @Test
    void sha256MatchesTheManifest() throws Exception {
        File b = TestData.bundle();
        BundleManifest m = BundleManifest.read(new BundleSource.Directory(b));
        for (BundleManifest.FileEntry f : m.files()) {
            long[] size = new long[1];
            assertEquals(f.sha256, BundleManifest.sha256(new java.io.FileInputStream(new File(b, f.path)), size));
            assertEquals(f.size, size[0]);
        }
    }
}
