package org.edgedistill.core;

/**
 * One text's (or one pair's) ids with their special tokens, already truncated to max_len, and their
 * token type ids; padding happens on the way out.
 */
public final class Encoding {
    private final int[] ids;
    private final int[] typeIds;
    private final boolean truncated;

    Encoding(int[] ids, boolean truncated) {
        this(ids, new int[ids.length], truncated);
    }

    Encoding(int[] ids, int[] typeIds, boolean truncated) {
        if (typeIds.length != ids.length) {
            throw new IllegalArgumentException("ids and type ids differ in length");
        }
        this.ids = ids;
        this.typeIds = typeIds;
        this.truncated = truncated;
    }

    public int length() {
        return ids.length;
    }

    /** A copy of the ids, unpadded. */
    public int[] ids() {
        return ids.clone();
    }

    /** A copy of the token type ids (0 for the first text, usually 1 for the second of a pair), unpadded. */
    public int[] typeIds() {
        return typeIds.clone();
    }

    /** True if the text (or either text of a pair) had more tokens than fit and its tail was cut. */
    public boolean truncated() {
        return truncated;
    }

    /** int64 input_ids of width padTo (right-padded with padId, or cut to padTo like edge_runtime.bundle.pad_ids). */
    public long[] inputIds(int padTo, int padId) {
        long[] out = new long[padTo];
        for (int k = 0; k < padTo; k++) {
            out[k] = k < ids.length ? ids[k] : padId;
        }
        return out;
    }

    /** int64 attention_mask of width padTo: 1 over the real tokens, 0 over padding. */
    public long[] attentionMask(int padTo) {
        long[] out = new long[padTo];
        for (int k = 0; k < padTo && k < ids.length; k++) {
            out[k] = 1;
        }
        return out;
    }

    /** int64 token_type_ids of width padTo: the type ids, 0 over padding. */
    public long[] tokenTypeIds(int padTo) {
        long[] out = new long[padTo];
        for (int k = 0; k < padTo && k < typeIds.length; k++) {
            out[k] = typeIds[k];
        }
        return out;
    }
}
