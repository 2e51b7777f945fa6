package org.edgedistill.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The int64 rows (batch 1) a model is fed for one text or one pair, by input name, all of one width:
 *
 * <ul>
 *   <li>a text, or a joint pair: input_ids, attention_mask, token_type_ids (the encoding's type ids:
 *       0 for the first text, 1 for the second where the template says so);</li>
 *   <li>a siamese pair: input_ids, attention_mask of the first text alone, pair_input_ids,
 *       pair_attention_mask of the second alone, both padded to the longer one (pad id, mask 0), which a
 *       model that reads its masks (as batched inference needs) does not see; token_type_ids zeros.</li>
 * </ul>
 *
 * A runtime feeds the rows its model names and pads them further if it must ({@link #padValue}).
 */
public final class ModelInputs {
    public static final String INPUT_IDS = "input_ids";
    public static final String ATTENTION_MASK = "attention_mask";
    public static final String TOKEN_TYPE_IDS = "token_type_ids";
    public static final String PAIR_INPUT_IDS = "pair_input_ids";
    public static final String PAIR_ATTENTION_MASK = "pair_attention_mask";

    private final Map<String, long[]> rows;
    private final int width;
    private final int padId;
    private final int tokens;
    private final boolean truncated;

    private ModelInputs(Map<String, long[]> rows, int width, int padId, int tokens, boolean truncated) {
        this.rows = Collections.unmodifiableMap(rows);
        this.width = width;
        this.padId = padId;
        this.tokens = tokens;
        this.truncated = truncated;
    }

    /** A single text, or a joint pair (one sequence), unpadded. */
    public static ModelInputs of(Encoding e, int padId) {
        Map<String, long[]> rows = new LinkedHashMap<String, long[]>();
        rows.put(INPUT_IDS, e.inputIds(e.length(), padId));
        rows.put(ATTENTION_MASK, e.attentionMask(e.length()));
        rows.put(TOKEN_TYPE_IDS, e.tokenTypeIds(e.length()));
        return new ModelInputs(rows, e.length(), padId, e.length(), e.truncated());
    }

    /** The two sides of a siamese pair, each encoded alone, padded to the longer one. */
    public static ModelInputs siamese(Encoding text, Encoding pair, int padId) {
        int w = Math.max(text.length(), pair.length());
        Map<String, long[]> rows = new LinkedHashMap<String, long[]>();
        rows.put(INPUT_IDS, text.inputIds(w, padId));
        rows.put(ATTENTION_MASK, text.attentionMask(w));
        rows.put(TOKEN_TYPE_IDS, new long[w]);
        rows.put(PAIR_INPUT_IDS, pair.inputIds(w, padId));
        rows.put(PAIR_ATTENTION_MASK, pair.attentionMask(w));
        return new ModelInputs(rows, w, padId, text.length() + pair.length(), text.truncated() || pair.truncated());
    }

    /**
     * Given ids fed as they are (the benchmark's fixed-length feed, as edge_runtime.benchmark builds it):
     * mask 1 everywhere, type ids 0, and for a siamese model the same ids and mask as its second text.
     */
    public static ModelInputs ofIds(long[] ids, int padId) {
        Map<String, long[]> rows = new LinkedHashMap<String, long[]>();
        long[] mask = new long[ids.length];
        java.util.Arrays.fill(mask, 1L);
        rows.put(INPUT_IDS, ids.clone());
        rows.put(ATTENTION_MASK, mask);
        rows.put(TOKEN_TYPE_IDS, new long[ids.length]);
        rows.put(PAIR_INPUT_IDS, ids.clone());
        rows.put(PAIR_ATTENTION_MASK, mask.clone());
        return new ModelInputs(rows, ids.length, padId, ids.length, false);
    }

    /**
     * A siamese pair: each side encoded alone with the single-text template, exactly as
     * {@link TextTokenizer#encode(String)} encodes one text (truncated to max_len on its own).
     *
     * @return {encoding of text, encoding of pair}
     */
    public static Encoding[] encodeSiamese(TextTokenizer tokenizer, String text, String pair) {
        return new Encoding[] {tokenizer.encode(text), tokenizer.encode(pair)};
    }

    /** The names of the rows, in the order above. */
    public Set<String> names() {
        return rows.keySet();
    }

    public boolean has(String name) {
        return rows.containsKey(name);
    }

    /**
     * A copy of one row.
     *
     * @throws IllegalArgumentException naming the input and what these inputs hold, if there is no such row
     */
    public long[] get(String name) {
        long[] row = rows.get(name);
        if (row == null) {
            throw new IllegalArgumentException("the model has an input '" + name + "' this app cannot fill; it feeds " + rows.keySet()
                    + (name.startsWith("pair_") ? " (a siamese model needs task.pair_encoding siamese in manifest.json)" : ""));
        }
        return row.clone();
    }

    /** The length of every row. */
    public int width() {
        return width;
    }

    /** What a row is padded with beyond {@link #width()}: the pad id for token ids, 0 for masks and type ids. */
    public long padValue(String name) {
        return INPUT_IDS.equals(name) || PAIR_INPUT_IDS.equals(name) ? padId : 0;
    }

    /** Real tokens fed (both sides of a siamese pair added up). */
    public int tokens() {
        return tokens;
    }

    /** True if a text was cut to max_len. */
    public boolean truncated() {
        return truncated;
    }
}
