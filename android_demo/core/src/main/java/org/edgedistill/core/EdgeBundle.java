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
 * ModelInputs in = b.inputs("a fine film");          // or b.inputs(premise, hypothesis) for a pair task
 * float[] logits = ...;                               // run the model on in.get(name) for each input it names
 * Prediction p = b.predict(logits);                   // softmax + argmax, or sigmoid + thresholds (multi-label)
 *
 * List&lt;ModelInputs&gt; windows = b.windowInputs(longText); // a windows bundle: every window (else the one truncated input)
 * float[][] each = ...;                               // the model's logits for each of them
 * Prediction q = b.predict(each);                     // aggregated (mean or max, task.long_text), then decided
 * </pre>
 */
public final class EdgeBundle {
    private final BundleSource source;
    private final BundleManifest manifest;
    private final TextTokenizer tokenizer;

    private EdgeBundle(BundleSource source, BundleManifest manifest, TextTokenizer tokenizer) {
        this.source = source;
        this.manifest = manifest;
        this.tokenizer = tokenizer;
    }

    /**
     * Reads manifest.json, optionally verifies every file's sha256, and loads the tokenizer: the model
     * named by the manifest's tokenizer.model (WordPiece when absent), which must be tokenizer.json's.
     * A WordPiece bundle needs vocab.txt (and it must agree with tokenizer.json); the other models
     * need tokenizer.json.
     */
    public static EdgeBundle open(BundleSource source, boolean verify) throws IOException {
        BundleManifest manifest = BundleManifest.read(source);
        if (verify) {
            manifest.verify(source);
        }
        Map<String, Object> tokenizerJson = null;
        if (source.exists("tokenizer.json")) {
            tokenizerJson = Json.parseObject(new String(WordPieceTokenizer.readAll(source.open("tokenizer.json")), WordPieceTokenizer.UTF8));
        }
        Map<String, Integer> vocab = null;
        if (source.exists("vocab.txt")) {
            vocab = WordPieceTokenizer.readVocab(source.open("vocab.txt"));
        }
        TextTokenizer tokenizer = tokenizerFor(manifest.tokenizer(), tokenizerJson, vocab, source.describe());
        if (manifest.task().readsWindows()) {
            manifest.task().longText().strideTokens(tokenizer.contentLen());   // a stride longer than a window is refused here
        }
        return new EdgeBundle(source, manifest, tokenizer);
    }

    /**
     * The tokenizer of a bundle from its manifest "tokenizer" block, its parsed tokenizer.json (or null)
     * and its vocab.txt (or null): {@link WordPieceTokenizer} for the BERT pipeline, else
     * {@link JsonTokenizer}. Checks the manifest's model and special token ids against it.
     *
     * @throws BundleException.Unsupported if the pipeline uses something the core does not implement
     */
    @SuppressWarnings("unchecked")
    public static TextTokenizer tokenizerFor(Map<String, Object> manifestTokenizer, Map<String, Object> tokenizerJson,
                                             Map<String, Integer> vocab, String where) {
        Object declared = manifestTokenizer.get("model");
        String model = declared instanceof String ? (String) declared : "WordPiece";
        Map<String, Object> jsonModel = tokenizerJson == null ? null : (Map<String, Object>) tokenizerJson.get("model");
        if (tokenizerJson != null) {
            Object type = jsonModel == null ? null : jsonModel.get("type");
            if (declared instanceof String && !declared.equals(type)) {
                throw new BundleException("manifest.json says the tokenizer model is " + declared + " but tokenizer.json's is "
                        + (type == null ? "missing" : type) + "; the bundle mixes two tokenizers; re-export it");
            }
            if (type instanceof String) {
                model = (String) type;
            }
        }
        TextTokenizer tokenizer;
        if ("WordPiece".equals(model)) {
            if (vocab == null) {
                throw new BundleException("the bundle at " + where + " has no vocab.txt; re-export it");
            }
            if (tokenizerJson != null) {
                checkVocabAgrees(vocab, jsonModel);
            }
            TokenizerSettings settings = null;
            BundleException.Unsupported notBert = null;
            try {
                settings = TokenizerSettings.from(manifestTokenizer, tokenizerJson);
            } catch (BundleException.Unsupported e) {
                notBert = e;
            }
            if (settings != null) {
                tokenizer = new WordPieceTokenizer(vocab, settings);
            } else if (tokenizerJson == null) {
                throw notBert;
            } else {
                try {
                    tokenizer = JsonTokenizer.fromJson(manifestTokenizer, tokenizerJson);
                } catch (BundleException e) {
                    throw new BundleException.Unsupported(notBert.getMessage() + "; read as a general tokenizer.json pipeline: "
                            + e.getMessage());
                }
            }
        } else {
            if (tokenizerJson == null) {
                throw new BundleException("the bundle at " + where + " has no tokenizer.json, which its " + model
                        + " tokenizer needs; re-export it");
            }
            tokenizer = JsonTokenizer.fromJson(manifestTokenizer, tokenizerJson);
        }
        checkSpecialIds(manifestTokenizer, tokenizer);
        return tokenizer;
    }

    private static void checkSpecialIds(Map<String, Object> manifestTokenizer, TextTokenizer tokenizer) {
        for (String role : new String[] {"cls", "sep", "unk", "pad", "mask"}) {
            Object token = manifestTokenizer.get(role + "_token");
            Object id = manifestTokenizer.get(role + "_id");
            if (token instanceof String && id instanceof Number && tokenizer.tokenToId((String) token) != ((Number) id).intValue()) {
                throw new BundleException("manifest.json gives " + role + "_token '" + token + "' the id " + id + " but the tokenizer gives it "
                        + tokenizer.tokenToId((String) token) + "; the bundle mixes two tokenizers; re-export it");
            }
        }
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

    /** The bundle's tokenizer, whatever its model (WordPiece, BPE, Unigram, WordLevel). */
    public TextTokenizer textTokenizer() {
        return tokenizer;
    }

    /**
     * The BERT WordPiece tokenizer of a bundle that has one (kept for existing callers).
     *
     * @throws BundleException.Unsupported for any other tokenizer: use {@link #textTokenizer()}
     */
    public WordPieceTokenizer tokenizer() {
        if (tokenizer instanceof WordPieceTokenizer) {
            return (WordPieceTokenizer) tokenizer;
        }
        throw new BundleException.Unsupported("this bundle's tokenizer is " + tokenizer.modelType()
                + " (tokenizer.json), not the BERT WordPiece pipeline; use EdgeBundle.textTokenizer()");
    }

    public List<String> labels() {
        return manifest.labels();
    }

    /** The manifest's task: single- or multi-label, single texts or pairs (joint or siamese). */
    public Task task() {
        return manifest.task();
    }

    /** The logits of one input decided as the task says (softmax and argmax, or sigmoid and thresholds). */
    public Prediction predict(float[] logits) {
        return manifest.task().predict(logits);
    }

    /** The logits of a text's windows ({@link #windowInputs}) aggregated as task.long_text says, then decided. */
    public Prediction predict(float[][] windowLogits) {
        return manifest.task().predictWindows(windowLogits);
    }

    /**
     * The model inputs of one text as the manifest reads it: each window in a windows bundle (task.long_text),
     * else the one truncated input of {@link #inputs(String)}.
     */
    public List<ModelInputs> windowInputs(String text) {
        return manifest.task().windowInputs(tokenizer, text);
    }

    /** The model inputs of one text (in a siamese bundle, the text as both sides). */
    public ModelInputs inputs(String text) {
        return manifest.task().inputs(tokenizer, text);
    }

    /** The model inputs of a pair, joint (pair template, token type ids) or siamese (each text alone) as the task says. */
    public ModelInputs inputs(String text, String pair) {
        return manifest.task().inputs(tokenizer, text, pair);
    }

    /** A siamese pair's two encodings, each text alone with the single-text template: {text, pair}. */
    public Encoding[] encodeSiamese(String text, String pair) {
        return ModelInputs.encodeSiamese(tokenizer, text, pair);
    }

    public int maxLen() {
        return tokenizer.maxLen();
    }

    public int padId() {
        return tokenizer.padId();
    }
}
