package org.edgedistill.core;

/**
 * What {@link WordPieceTokenizer} and {@link JsonTokenizer} share: max_len, the truncation strategy and the
 * post-processor that frames the content ids, and what is built from them alone. A subclass supplies
 * {@link #sequence(String)}, the ids of one text before truncation and framing.
 */
abstract class AbstractTextTokenizer implements TextTokenizer {
    final PostProcessor post;
    final int maxLen;
    final Truncation truncation;

    AbstractTextTokenizer(PostProcessor post, int maxLen, Truncation truncation) {
        this.post = post;
        this.maxLen = maxLen;
        this.truncation = truncation;
    }

    /**
     * The ids of one text without special tokens and before truncation. The whole text is tokenized: the
     * reference decides how to cut a pair (longest first) on the sequences' full lengths.
     */
    abstract IntList sequence(String text);

    /**
     * Ids and type ids of a pair ([CLS] A [SEP] B [SEP], B typed 1, or what tokenizer.json's
     * post-processor says), cut to max_len longest first as the reference does.
     */
    @Override
    public Encoding encode(String text, String pair) {
        if (pair == null) {
            return encode(text);
        }
        IntList a = sequence(text);
        IntList b = sequence(pair);
        int[] keep = post.keep(new int[] {a.size(), b.size()}, maxLen);
        int[][] out = post.process(java.util.Arrays.copyOf(a.a, keep[0]), java.util.Arrays.copyOf(b.a, keep[1]));
        return new Encoding(out[0], out[1], keep[0] < a.size() || keep[1] < b.size());
    }

    @Override
    public int[] contentIds(String text) {
        return sequence(text).toArray();
    }

    @Override
    public Encoding wrap(int[] content, boolean truncated) {
        int[][] out = post.process(content, null);
        return new Encoding(out[0], out[1], truncated);
    }

    @Override
    public int contentLen() {
        return Math.max(1, maxLen - post.addedTokens(false));
    }

    @Override
    public Truncation truncation() {
        return truncation;
    }

    @Override
    public int maxLen() {
        return maxLen;
    }
}
