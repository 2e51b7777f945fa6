package org.edgedistill.core;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Which content tokens a text longer than the model keeps: the manifest's tokenizer.truncation
 * ({"strategy": "head" | "tail" | "head_tail", "head": K}), ported from edgecore.longtext.Truncation.
 *
 * <p>Content ids are the text's token ids without special tokens and without truncation. A text keeps
 * {@code max_len - specials} of them (at least 1: {@link TextTokenizer#contentLen()}): head the first,
 * tail the last, head_tail the first K and the rest from the end (K at most the kept count; absent, a
 * quarter of it); then the single-text template's special tokens are added ({@link TextTokenizer#wrap}).
 * A manifest without the record reads head, or tail when tokenizer.truncation_side is "left", as
 * edge_runtime.bundle.Bundle.truncation does. A sentence pair read as one sequence is still cut
 * longest-first by the tokenizer; each side of a siamese pair is cut by the strategy.
 */
public final class Truncation {
    public static final String HEAD = "head";
    public static final String TAIL = "tail";
    public static final String HEAD_TAIL = "head_tail";
    static final List<String> STRATEGIES = Arrays.asList(HEAD, TAIL, HEAD_TAIL);

    /** What a manifest without tokenizer.truncation means for a right-truncating tokenizer. */
    public static final Truncation DEFAULT = new Truncation(HEAD, null);

    private final String strategy;
    private final Integer head;

    private Truncation(String strategy, Integer head) {
        this.strategy = strategy;
        this.head = head;
    }

    /**
     * head, tail or head_tail; head is the head_tail K (null: a quarter of the kept content), ignored by
     * the other strategies.
     *
     * @throws IllegalArgumentException for an unknown strategy or a negative head
     */
    public static Truncation of(String strategy, Integer head) {
        if (!STRATEGIES.contains(strategy)) {
            throw new IllegalArgumentException("truncation " + strategy + " is unknown; choose one of head, tail, head_tail");
        }
        if (head != null && head < 0) {
            throw new IllegalArgumentException("truncation head must be >= 0, got " + head);
        }
        return new Truncation(strategy, HEAD_TAIL.equals(strategy) ? head : null);
    }

    /**
     * The truncation of a manifest's "tokenizer" block (its truncation record, else head, or tail for
     * truncation_side "left").
     *
     * @throws BundleException naming the field if the record is malformed
     */
    public static Truncation from(Map<String, Object> manifestTokenizer) {
        Object record = manifestTokenizer.get("truncation");
        if (record == null) {
            return "left".equals(manifestTokenizer.get("truncation_side")) ? new Truncation(TAIL, null) : DEFAULT;
        }
        if (!(record instanceof Map)) {
            throw new BundleException("manifest.json tokenizer.truncation must be an object {\"strategy\", \"head\"}, got "
                    + Json.write(record) + "; re-export the bundle");
        }
        Map<?, ?> m = (Map<?, ?>) record;
        Object strategy = m.get("strategy");
        if (!STRATEGIES.contains(strategy)) {
            throw new BundleException("manifest.json tokenizer.truncation strategy " + Json.write(strategy)
                    + " is not one of head, tail, head_tail; re-export the bundle");
        }
        Object head = m.get("head");
        if (!HEAD_TAIL.equals(strategy) || head == null) {
            return new Truncation((String) strategy, null);
        }
        if (!(head instanceof Long) || (Long) head < 0 || (Long) head > Integer.MAX_VALUE) {
            throw new BundleException("manifest.json tokenizer.truncation head is " + Json.write(head)
                    + "; it must be a whole number of tokens >= 0 (the head_tail tokens kept from the start); re-export the bundle");
        }
        return new Truncation(HEAD_TAIL, ((Long) head).intValue());
    }

    /** head, tail or head_tail. */
    public String strategy() {
        return strategy;
    }

    /** The head_tail K as recorded, or null (a quarter of the kept content; always null for head and tail). */
    public Integer head() {
        return head;
    }

    /** True for the head strategy: the tokenizer's own truncation. */
    public boolean isHead() {
        return HEAD.equals(strategy);
    }

    /** Content tokens head_tail keeps from the start when it keeps {@code keep}: K (at most keep) or keep / 4. */
    public int headTokens(int keep) {
        return head != null ? Math.min(keep, head) : keep / 4;
    }

    /** At most {@code keep} of the content ids, by the strategy (the array itself when it fits). */
    public int[] cut(int[] content, int keep) {
        int n = content.length;
        if (n <= keep) {
            return content;
        }
        if (HEAD.equals(strategy)) {
            return Arrays.copyOf(content, keep);
        }
        if (TAIL.equals(strategy)) {
            return Arrays.copyOfRange(content, n - keep, n);
        }
        int h = headTokens(keep);
        int[] out = new int[keep];
        System.arraycopy(content, 0, out, 0, h);
        System.arraycopy(content, n - (keep - h), out, h, keep - h);
        return out;
    }

    @Override
    public String toString() {
        return HEAD_TAIL.equals(strategy) ? strategy + "(" + (head == null ? "quarter" : head) + ")" : strategy;
    }
}
