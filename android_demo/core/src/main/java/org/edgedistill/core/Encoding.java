package org.edgedistill.core;

/** One text's ids, [CLS] ... [SEP], already truncated to max_len; padding happens on the way out. */
public final class Encoding {
    private final int[] ids;
    private final boolean truncated;

    Encoding(int[] ids, boolean truncated) {
        this.ids = ids;
        this.truncated = truncated;
    }

    public int length() {
        return ids.length;
    }

    /** A copy of the ids, unpadded. */
    public int[] ids() {
        return ids.clone();
    }

    /** True if the text had more word pieces than max_len - 2 and the tail was cut. */
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
}
