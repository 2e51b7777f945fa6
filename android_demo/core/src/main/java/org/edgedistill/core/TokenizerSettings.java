package org.edgedistill.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * How a bundle's text becomes ids: the manifest's "tokenizer" block (max_len, lowercase, pad_id,
 * special tokens), checked against and completed by tokenizer.json when the bundle has it.
 *
 * <p>These settings describe the BERT WordPiece pipeline (BertNormalizer, BertPreTokenizer, WordPiece,
 * [CLS] ... [SEP]) that {@link WordPieceTokenizer} runs; anything else is refused here with a message
 * and left to {@link JsonTokenizer} (see {@link EdgeBundle#tokenizerFor}).
 */
public final class TokenizerSettings {
    public final int maxLen;
    public final boolean lowercase;
    public final boolean stripAccents;
    public final boolean cleanText;
    public final boolean handleChineseChars;
    public final int padId;
    public final String clsToken;
    public final String sepToken;
    public final String unkToken;
    public final String padToken;
    public final String maskToken;
    public final String subwordPrefix;
    public final int maxInputCharsPerWord;
    /** Tokens matched in the raw text before normalization, each kept whole (e.g. "[MASK]"). */
    public final List<String> specialTokens;
    /** Which content tokens a long text keeps (manifest tokenizer.truncation; head when absent). */
    public final Truncation truncation;
    /** tokenizer.json's post_processor (frames pairs), or null without tokenizer.json. */
    final Map<String, Object> postProcessorJson;

    private TokenizerSettings(Builder b) {
        maxLen = b.maxLen;
        lowercase = b.lowercase;
        stripAccents = b.stripAccents == null ? b.lowercase : b.stripAccents;
        cleanText = b.cleanText;
        handleChineseChars = b.handleChineseChars;
        padId = b.padId;
        clsToken = b.cls;
        sepToken = b.sep;
        unkToken = b.unk;
        padToken = b.pad;
        maskToken = b.mask;
        subwordPrefix = b.prefix;
        maxInputCharsPerWord = b.maxChars;
        specialTokens = Collections.unmodifiableList(new ArrayList<String>(b.specials));
        postProcessorJson = b.post;
        truncation = b.truncation;
    }

    /**
     * Settings from the manifest's "tokenizer" block and, if not null, the parsed tokenizer.json.
     *
     * @throws BundleException.Unsupported if tokenizer.json describes another kind of tokenizer
     *     or disagrees with the manifest
     */
    public static TokenizerSettings from(Map<String, Object> manifestTokenizer, Map<String, Object> tokenizerJson) {
        Builder b = new Builder();
        Object maxLen = manifestTokenizer.get("max_len");
        if (!(maxLen instanceof Number)) {
            throw new BundleException("manifest.json tokenizer settings lack max_len; re-export the bundle");
        }
        b.maxLen = ((Number) maxLen).intValue();
        if (b.maxLen < 2) {
            throw new BundleException.Unsupported("max_len " + b.maxLen + " leaves no room for [CLS] and [SEP]; export with max_len >= 2");
        }
        b.truncation = Truncation.from(manifestTokenizer);
        b.lowercase = bool(manifestTokenizer, "lowercase", true);
        Object strip = manifestTokenizer.get("strip_accents");
        b.stripAccents = strip instanceof Boolean ? (Boolean) strip : null;
        b.cleanText = bool(manifestTokenizer, "clean_text", true);
        b.handleChineseChars = bool(manifestTokenizer, "handle_chinese_chars", true);
        b.padId = manifestTokenizer.get("pad_id") instanceof Number ? ((Number) manifestTokenizer.get("pad_id")).intValue() : 0;
        b.cls = str(manifestTokenizer, "cls_token", "[CLS]");
        b.sep = str(manifestTokenizer, "sep_token", "[SEP]");
        b.unk = str(manifestTokenizer, "unk_token", "[UNK]");
        b.pad = str(manifestTokenizer, "pad_token", "[PAD]");
        b.mask = str(manifestTokenizer, "mask_token", "[MASK]");
        b.specials.add(b.pad);
        b.specials.add(b.unk);
        b.specials.add(b.cls);
        b.specials.add(b.sep);
        b.specials.add(b.mask);
        if (tokenizerJson != null) {
            applyTokenizerJson(b, tokenizerJson);
        }
        return new TokenizerSettings(b);
    }

    @SuppressWarnings("unchecked")
    private static void applyTokenizerJson(Builder b, Map<String, Object> tj) {
        Map<String, Object> norm = (Map<String, Object>) tj.get("normalizer");
        if (norm == null || !"BertNormalizer".equals(norm.get("type"))) {
            throw unsupported("normalizer", norm == null ? null : norm.get("type"), "BertNormalizer");
        }
        boolean lower = bool(norm, "lowercase", true);
        if (lower != b.lowercase) {
            throw new BundleException.Unsupported("manifest.json says lowercase=" + b.lowercase + " but tokenizer.json says "
                    + lower + "; re-export the bundle so they agree");
        }
        b.cleanText = bool(norm, "clean_text", true);
        b.handleChineseChars = bool(norm, "handle_chinese_chars", true);
        Object strip = norm.get("strip_accents");
        b.stripAccents = strip instanceof Boolean ? (Boolean) strip : null;

        Map<String, Object> pre = (Map<String, Object>) tj.get("pre_tokenizer");
        if (pre == null || !"BertPreTokenizer".equals(pre.get("type"))) {
            throw unsupported("pre_tokenizer", pre == null ? null : pre.get("type"), "BertPreTokenizer");
        }
        Map<String, Object> model = (Map<String, Object>) tj.get("model");
        if (model == null || !"WordPiece".equals(model.get("type"))) {
            throw unsupported("model", model == null ? null : model.get("type"), "WordPiece");
        }
        b.unk = str(model, "unk_token", b.unk);
        b.prefix = str(model, "continuing_subword_prefix", "##");
        if (model.get("max_input_chars_per_word") instanceof Number) {
            b.maxChars = ((Number) model.get("max_input_chars_per_word")).intValue();
        }
        checkPostProcessor(b, (Map<String, Object>) tj.get("post_processor"));
        b.post = (Map<String, Object>) tj.get("post_processor");

        Object added = tj.get("added_tokens");
        if (added instanceof List) {
            b.specials.clear();
            for (Object o : (List<Object>) added) {
                Map<String, Object> t = (Map<String, Object>) o;
                String content = (String) t.get("content");
                for (String flag : new String[] {"lstrip", "rstrip", "single_word", "normalized"}) {
                    if (bool(t, flag, false)) {
                        throw new BundleException.Unsupported("added token '" + content + "' has " + flag
                                + "=true, which this tokenizer does not implement; export with the stock BERT special tokens");
                    }
                }
                b.specials.add(content);
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static void checkPostProcessor(Builder b, Map<String, Object> post) {
        if (post == null) {
            throw unsupported("post_processor", null, "TemplateProcessing [CLS] $A [SEP]");
        }
        Object type = post.get("type");
        if ("BertProcessing".equals(type)) {
            b.cls = (String) ((List<Object>) post.get("cls")).get(0);
            b.sep = (String) ((List<Object>) post.get("sep")).get(0);
            return;
        }
        if (!"TemplateProcessing".equals(type)) {
            throw unsupported("post_processor", type, "TemplateProcessing [CLS] $A [SEP]");
        }
        List<Object> single = (List<Object>) post.get("single");
        List<String> pieces = new ArrayList<String>();
        for (Object o : single) {
            Map<String, Object> piece = (Map<String, Object>) o;
            if (piece.containsKey("SpecialToken")) {
                pieces.add((String) ((Map<String, Object>) piece.get("SpecialToken")).get("id"));
            } else {
                pieces.add("$" + ((Map<String, Object>) piece.get("Sequence")).get("id"));
            }
        }
        if (pieces.size() != 3 || !"$A".equals(pieces.get(1))) {
            throw new BundleException.Unsupported("tokenizer.json's template is " + pieces + "; this runtime supports [CLS] $A [SEP]");
        }
        b.cls = pieces.get(0);
        b.sep = pieces.get(2);
    }

    private static BundleException unsupported(String what, Object got, String supported) {
        return new BundleException.Unsupported("tokenizer.json has " + what + " " + (got == null ? "none" : "'" + got + "'")
                + ", which is not the BERT WordPiece pipeline (" + what + " " + supported + ")");
    }

    private static boolean bool(Map<String, Object> m, String key, boolean dflt) {
        Object v = m.get(key);
        return v instanceof Boolean ? (Boolean) v : dflt;
    }

    private static String str(Map<String, Object> m, String key, String dflt) {
        Object v = m.get(key);
        return v instanceof String ? (String) v : dflt;
    }

    private static final class Builder {
        int maxLen;
        boolean lowercase = true;
        Boolean stripAccents;
        boolean cleanText = true;
        boolean handleChineseChars = true;
        int padId;
        String cls = "[CLS]";
        String sep = "[SEP]";
        String unk = "[UNK]";
        String pad = "[PAD]";
        String mask = "[MASK]";
        String prefix = "##";
        int maxChars = 100;
        final List<String> specials = new ArrayList<String>();
        Map<String, Object> post;
        Truncation truncation = Truncation.DEFAULT;
    }
}
