package org.edgedistill.core;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * An opened bundle: the verified manifest, its labels and its tokenizer. What an app needs before
 * it hands the model file to a runtime (onnxruntime-android, LiteRT).
 *
 * <pre>
 * EdgeBundle b = EdgeBundle.open(new BundleSource.Directory(new File("bundle")), true);
 * Encoding e = b.tokenizer().encode("a fine film");
 * Prediction p = Prediction.of(logitsFromTheModel, b.labels());
 * </pre>
 */
public final class EdgeBundle {
    private final BundleSource source;
    private final BundleManifest manifest;
    private final WordPieceTokenizer tokenizer;

    private EdgeBundle(BundleSource source, BundleManifest manifest, WordPieceTokenizer tokenizer) {
        this.source = source;
        this.manifest = manifest;
        this.tokenizer = tokenizer;
    }

    /** Reads manifest.json, optionally verifies every file's sha256, and loads the tokenizer. */
    @SuppressWarnings("unchecked")
    public static EdgeBundle open(BundleSource source, boolean verify) throws IOException {
        BundleManifest manifest = BundleManifest.read(source);
        if (verify) {
            manifest.verify(source);
        }
        if (!source.exists("vocab.txt")) {
            throw new BundleException("the bundle at " + source.describe() + " has no vocab.txt; re-export it");
        }
        Map<String, Integer> vocab = WordPieceTokenizer.readVocab(source.open("vocab.txt"));
        Map<String, Object> tokenizerJson = null;
        if (source.exists("tokenizer.json")) {
            tokenizerJson = Json.parseObject(new String(WordPieceTokenizer.readAll(source.open("tokenizer.json")), WordPieceTokenizer.UTF8));
            checkVocabAgrees(vocab, (Map<String, Object>) tokenizerJson.get("model"));
        }
        TokenizerSettings settings = TokenizerSettings.from(manifest.tokenizer(), tokenizerJson);
        return new EdgeBundle(source, manifest, new WordPieceTokenizer(vocab, settings));
    }

    @SuppressWarnings("unchecked")
    private static void checkVocabAgrees(Map<String, Integer> vocab, Map<String, Object> model) {
        if (model == null || !(model.get("vocab") instanceof Map)) {
            return;
        }
        Map<String, Object> other = (Map<String, Object>) model.get("vocab");
        if (other.size() != vocab.size()) {
            throw new BundleException("vocab.txt has " + vocab.size() + " tokens but tokenizer.json has " + other.size()
                    + "; the bundle mixes two tokenizers; re-export it");
        }
        for (Map.Entry<String, Object> e : other.entrySet()) {
            Integer id = vocab.get(e.getKey());
            if (id == null || id.longValue() != ((Number) e.getValue()).longValue()) {
                throw new BundleException("vocab.txt and tokenizer.json disagree on the id of '" + e.getKey() + "'; re-export the bundle");
            }
        }
    }

    public BundleSource source() {
        return source;
    }

    public BundleManifest manifest() {
        return manifest;
    }

    public WordPieceTokenizer tokenizer() {
        return tokenizer;
    }

    public List<String> labels() {
        return manifest.labels();
    }

    public int maxLen() {
        return tokenizer.settings().maxLen;
    }

    public int padId() {
        return tokenizer.settings().padId;
    }
}
