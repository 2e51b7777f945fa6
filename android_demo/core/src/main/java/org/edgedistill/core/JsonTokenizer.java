package org.edgedistill.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A tokenizer built from a bundle's tokenizer.json (the Hugging Face tokenizers format), equal to the
 * reference with no_padding() and enable_truncation(max_len) id for id; tests/android proves it on
 * 10,000+ texts and pairs per model family.
 *
 * <p>Pipeline, as the reference runs it: added tokens whose "normalized" is false are cut out of the
 * raw text (lstrip / rstrip take the whitespace beside them); each remaining piece is normalized
 * ({@link PipelineNormalizer}) and cut again at the normalized added tokens; the pieces are
 * pre-tokenized ({@link PipelinePreTokenizer}) and turned into ids by the model ({@link SubwordModel});
 * the sequences are truncated, leaving room for the special tokens, and framed ({@link PostProcessor}).
 *
 * <p>Anything tokenizer.json asks for that is not implemented is refused when the tokenizer is built,
 * with a {@link BundleException.Unsupported} naming the component; nothing is tokenized approximately.
 * A Java string may hold a lone surrogate, which a Rust string cannot: it is read as U+FFFD.
 */
public final class JsonTokenizer extends AbstractTextTokenizer {
    private final PipelineNormalizer normalizer;
    private final PipelinePreTokenizer preTokenizer;
    private final SubwordModel model;
    private final List<Added> raw = new ArrayList<Added>();          // matched in the raw text, longest first
    private final List<Added> normalized = new ArrayList<Added>();   // matched in the normalized text, longest first
    private final Map<String, Integer> addedIds = new HashMap<String, Integer>();
    private final int padId;
    private final int vocabSize;

    /** An added token: its text as matched, its id and whitespace stripping. */
    private static final class Added {
        int[] cps;
        int id;
        boolean lstrip;
        boolean rstrip;
    }

    private JsonTokenizer(int maxLen, int padId, PipelineNormalizer normalizer, PipelinePreTokenizer preTokenizer,
            SubwordModel model, PostProcessor post, Truncation truncation, Map<String, Object> tj) {
        super(post, maxLen, truncation);
        this.padId = padId;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.model = model;
        checkTruncation(tj.get("truncation"));
        if (maxLen < post.addedTokens(false) || maxLen < 1) {
            throw new BundleException.Unsupported("max_len " + maxLen + " leaves no room for the " + post.addedTokens(false)
                    + " special tokens of tokenizer.json's post_processor; export with a larger max_len");
        }
        readAddedTokens(tj.get("added_tokens"));
        int overlapping = 0;
        for (String t : addedIds.keySet()) {
            overlapping += model.tokenToId(t) != null ? 1 : 0;
        }
        this.vocabSize = model.size() + addedIds.size() - overlapping;
    }

    /**
     * The tokenizer tokenizer.json describes, with the manifest's max_len and pad_id.
     *
     * @throws BundleException.Unsupported if tokenizer.json uses a component the core does not implement
     */
    public static JsonTokenizer fromJson(Map<String, Object> manifestTokenizer, Map<String, Object> tokenizerJson) {
        Object ml = manifestTokenizer.get("max_len");
        if (!(ml instanceof Number)) {
            throw new BundleException("manifest.json tokenizer settings lack max_len; re-export the bundle");
        }
        int padId = manifestTokenizer.get("pad_id") instanceof Number ? ((Number) manifestTokenizer.get("pad_id")).intValue() : 0;
        // parsed in pipeline order: of several unsupported parts, the first is the one refused
        PipelineNormalizer normalizer = PipelineNormalizer.fromJson(tokenizerJson.get("normalizer"));
        PipelinePreTokenizer preTokenizer = PipelinePreTokenizer.fromJson(tokenizerJson.get("pre_tokenizer"));
        SubwordModel model = SubwordModel.fromJson(tokenizerJson.get("model"));
        PostProcessor post = PostProcessor.fromJson(tokenizerJson.get("post_processor"));
        return new JsonTokenizer(((Number) ml).intValue(), padId, normalizer, preTokenizer, model, post,
                Truncation.from(manifestTokenizer), tokenizerJson);
    }

    @SuppressWarnings("unchecked")
    private void checkTruncation(Object t) {
        if (t == null) {
            return;
        }
        Map<String, Object> m = (Map<String, Object>) t;
        Object direction = m.get("direction");
        if (direction != null && !"Right".equals(direction)) {
            throw new BundleException.Unsupported("tokenizer.json truncation direction '" + direction
                    + "' is not supported by the Java core; supported: Right");
        }
        Object strategy = m.get("strategy");
        if (strategy != null && !"LongestFirst".equals(strategy)) {
            throw new BundleException.Unsupported("tokenizer.json truncation strategy '" + strategy
                    + "' is not supported by the Java core; supported: LongestFirst");
        }
    }

    @SuppressWarnings("unchecked")
    private void readAddedTokens(Object list) {
        if (list == null) {
            return;
        }
        if (!(list instanceof List)) {
            throw new BundleException("tokenizer.json's added_tokens is not a list; re-export the bundle");
        }
        int nextId = model.size();
        for (Object o : (List<Object>) list) {
            Map<String, Object> t = (Map<String, Object>) o;
            String content = requireString(t, "content", "added token");
            if (content.isEmpty()) {
                continue;
            }
            if (bool(t, "single_word", false)) {
                throw new BundleException.Unsupported("tokenizer.json added token '" + content
                        + "' has single_word=true, which the Java core does not support");
            }
            // the id the reference gives it: the token's own if it has one, else the next free one
            Integer id = addedIds.containsKey(content) ? addedIds.get(content) : model.tokenToId(content);
            if (id == null) {
                id = nextId++;
            }
            addedIds.put(content, id);
            Added a = new Added();
            a.id = id;
            a.lstrip = bool(t, "lstrip", false);
            a.rstrip = bool(t, "rstrip", false);
            boolean norm = bool(t, "normalized", !bool(t, "special", false));
            String pattern = content;
            if (norm && normalizer != null) {
                NormText n = NormText.of(content, 0);
                normalizer.normalize(n);
                pattern = n.toString();
            }
            a.cps = pattern.codePoints().toArray();
            removeByPattern(raw, a.id);
            removeByPattern(normalized, a.id);
            if (a.cps.length > 0) {
                (norm ? normalized : raw).add(a);
            }
        }
        Comparator<Added> longestFirst = new Comparator<Added>() {
            @Override
            public int compare(Added x, Added y) {
                return y.cps.length - x.cps.length;
            }
        };
        Collections.sort(raw, longestFirst);
        Collections.sort(normalized, longestFirst);
    }

    private static void removeByPattern(List<Added> list, int id) {
        for (int k = list.size() - 1; k >= 0; k--) {
            if (list.get(k).id == id) {
                list.remove(k);
            }
        }
    }

    @Override
    public Encoding encode(String text) {
        int[] content = sequence(text).toArray();
        int keep = contentLen();
        return wrap(truncation.cut(content, keep), content.length > keep);
    }

    @Override
    IntList sequence(String text) {
        IntList ids = new IntList(64);
        for (PipelinePreTokenizer.Piece p : pieces(text)) {
            if (p.ids != null) {
                ids.addAll(p.ids);
            } else {
                model.tokenize(p.text.toString(), ids);
            }
        }
        return ids;
    }

    /** The pre-tokenized pieces of a text (added tokens as ids). */
    List<PipelinePreTokenizer.Piece> pieces(String text) {
        int[] cps = sanitize(text);
        List<PipelinePreTokenizer.Piece> pieces = new ArrayList<PipelinePreTokenizer.Piece>();
        // 1. added tokens in the raw text
        List<int[]> splits = findMatches(cps, cps.length, raw);
        for (int[] s : splits) {
            if (s[1] <= s[0]) {
                continue;
            }
            if (s[2] >= 0) {
                pieces.add(new PipelinePreTokenizer.Piece(null, new int[] {s[2]}));
            } else {
                pieces.add(new PipelinePreTokenizer.Piece(new NormText(java.util.Arrays.copyOfRange(cps, s[0], s[1]),
                        identity(s[1] - s[0]), s[1] - s[0], s[0]), null));
            }
        }
        // 2. normalize, then the added tokens of the normalized text
        List<PipelinePreTokenizer.Piece> out = new ArrayList<PipelinePreTokenizer.Piece>(pieces.size());
        for (PipelinePreTokenizer.Piece p : pieces) {
            if (p.ids != null) {
                out.add(p);
                continue;
            }
            NormText t = p.text;
            if (normalizer != null) {
                normalizer.normalize(t);
            }
            for (int[] s : findMatches(t.cps, t.n, normalized)) {
                if (s[1] <= s[0]) {
                    continue;
                }
                out.add(s[2] >= 0 ? new PipelinePreTokenizer.Piece(null, new int[] {s[2]})
                        : new PipelinePreTokenizer.Piece(t.slice(s[0], s[1]), null));
            }
        }
        // 3. pre-tokenize
        if (preTokenizer != null) {
            preTokenizer.preTokenize(out);
        }
        return out;
    }

    private static int[] identity(int n) {
        int[] a = new int[n];
        for (int k = 0; k < n; k++) {
            a[k] = k;
        }
        return a;
    }

    private static int[] sanitize(String text) {
        int[] cps = text.codePoints().toArray();
        for (int k = 0; k < cps.length; k++) {
            if (cps[k] >= 0xD800 && cps[k] <= 0xDFFF) {
                cps[k] = 0xFFFD;
            }
        }
        return cps;
    }

    /**
     * The reference's AddedVocabulary.find_matches: {start, end, id or -1} covering cps[0, n), leftmost
     * longest matches, lstrip taking the whitespace before a token, rstrip the whitespace after it.
     */
    private static List<int[]> findMatches(int[] cps, int n, List<Added> tokens) {
        List<int[]> splits = new ArrayList<int[]>();
        if (tokens.isEmpty() || n == 0) {
            splits.add(new int[] {0, n, -1});
            return splits;
        }
        int startOffset = 0;
        int k = 0;
        while (k < n) {
            Added found = null;
            for (Added a : tokens) {
                if (a.cps.length <= n - k && regionMatches(cps, k, a.cps)) {
                    found = a;
                    break;
                }
            }
            if (found == null) {
                k++;
                continue;
            }
            int start = k;
            int stop = k + found.cps.length;
            k = stop;       // the search goes on after the match itself, whatever rstrip takes
            if (found.lstrip) {
                int s = start;
                while (s > 0 && BertPreTokenizer.WHITESPACE.contains(cps[s - 1])) {
                    s--;
                }
                start = Math.max(s, startOffset);
            }
            if (found.rstrip) {
                while (stop < n && BertPreTokenizer.WHITESPACE.contains(cps[stop])) {
                    stop++;
                }
            }
            if (startOffset < start) {
                splits.add(new int[] {startOffset, start, -1});
            }
            splits.add(new int[] {start, stop, found.id});
            startOffset = stop;
        }
        if (startOffset != n) {
            splits.add(new int[] {startOffset, n, -1});
        }
        return splits;
    }

    private static boolean regionMatches(int[] cps, int at, int[] token) {
        for (int j = 0; j < token.length; j++) {
            if (cps[at + j] != token[j]) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int padId() {
        return padId;
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int tokenToId(String token) {
        Integer id = addedIds.get(token);
        if (id == null) {
            id = model.tokenToId(token);
        }
        return id == null ? -1 : id;
    }

    @Override
    public String modelType() {
        return model.type();
    }

    /** The ids of a text without special tokens or truncation (for display and debugging). */
    public int[] pieceIds(String text) {
        return sequence(text).toArray();
    }

    static boolean bool(Map<String, Object> m, String key, boolean dflt) {
        Object v = m.get(key);
        return v instanceof Boolean ? (Boolean) v : dflt;
    }

    static String optString(Map<String, Object> m, String key, String dflt) {
        Object v = m.get(key);
        return v instanceof String ? (String) v : dflt;
    }

    /** A tokenizer.json pipeline step (what: "normalizer", "pre_tokenizer", "post_processor") as an object. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> stepObject(Object spec, String what) {
        if (!(spec instanceof Map)) {
            throw new BundleException("tokenizer.json's " + what + " is not an object; re-export the bundle");
        }
        return (Map<String, Object>) spec;
    }

    /** The list of steps (under key) of a pipeline step of type 'Sequence'. */
    @SuppressWarnings("unchecked")
    static List<Object> sequenceSteps(Map<String, Object> m, String key, String what) {
        Object list = m.get(key);
        if (!(list instanceof List)) {
            throw new BundleException("tokenizer.json " + what + " 'Sequence' has no '" + key + "' list; re-export the bundle");
        }
        return (List<Object>) list;
    }

    /** The refusal of a pipeline step or model type the Java core does not implement. */
    static BundleException.Unsupported unsupportedType(String what, String type, String supported) {
        return new BundleException.Unsupported("tokenizer.json " + what + " '" + type + "' is not supported by the Java core; supported: "
                + supported);
    }

    static String requireString(Map<String, Object> m, String key, String what) {
        Object v = m.get(key);
        if (!(v instanceof String)) {
            throw new BundleException("tokenizer.json " + what + " has no '" + key + "'; re-export the bundle");
        }
        return (String) v;
    }
}
