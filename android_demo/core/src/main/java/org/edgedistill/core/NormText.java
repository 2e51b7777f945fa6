package org.edgedistill.core;

import java.util.Arrays;

/**
 * A piece of text being normalized, as the reference's NormalizedString sees it: its code points,
 * where each one starts in the original text, and where the piece itself starts in the whole input.
 *
 * <p>Only the alignment starts are kept: the one thing that changes ids is the Metaspace
 * pre-tokenizer's prepend_scheme "first", which asks whether a piece starts at original offset 0.
 * Every transformation reproduces the reference's bookkeeping (Rust {@code transform_range}):
 * a replacing character takes the alignment of the character it replaces, an inserted one that of
 * the character before it (or 0 at the very start). Offsets are counted in code points here and in
 * bytes there, which agree on "is it 0".
 */
final class NormText {
    int[] cps;
    int[] align;
    int n;
    /** Where this piece's original text starts in the whole input (the reference's original_shift). */
    final int shift;

    NormText(int[] cps, int[] align, int n, int shift) {
        this.cps = cps;
        this.align = align;
        this.n = n;
        this.shift = shift;
    }

    /** A piece of the raw input starting at code point {@code shift}: every character aligned to itself. */
    static NormText of(String s, int shift) {
        int[] cps = s.codePoints().toArray();
        int[] align = new int[cps.length];
        for (int k = 0; k < align.length; k++) {
            align[k] = k;
        }
        return new NormText(cps, align, cps.length, shift);
    }

    boolean isEmpty() {
        return n == 0;
    }

    int codePointAt(int k) {
        return cps[k];
    }

    @Override
    public String toString() {
        return new String(cps, 0, n);
    }

    /** Characters [from, to) as a new piece, rebased the way the reference's slice() does. */
    NormText slice(int from, int to) {
        int base = from < to ? align[from] : 0;
        int[] c = Arrays.copyOfRange(cps, from, to);
        int[] a = new int[to - from];
        for (int k = from; k < to; k++) {
            a[k - from] = align[k] - base;
        }
        return new NormText(c, a, to - from, shift + base);
    }

    /**
     * Replaces the whole text by {@code dest} (code points with their change: 0 replaces the next
     * character, 1 is inserted, -N replaces the next character and removes N more), the first
     * {@code initialOffset} characters being removed: the reference's transform().
     */
    void transform(Builder dest, int initialOffset) {
        int[] newAlign = new int[dest.n];
        int offset = initialOffset;
        for (int k = 0; k < dest.n; k++) {
            int change = dest.changes[k];
            int a;
            if (change > 0) {
                a = offset < 1 ? 0 : alignAt(offset - 1);
            } else {
                a = alignAt(offset);
                offset++;
                offset -= change;
            }
            newAlign[k] = a;
        }
        cps = Arrays.copyOf(dest.cps, dest.n);
        align = newAlign;
        n = dest.n;
    }

    private int alignAt(int k) {
        // the reference would panic past the end; a well-formed transformation never gets there
        return n == 0 ? 0 : align[Math.min(k, n - 1)];
    }

    /** Code points with their changes, built by a normalizer before {@link #transform}. */
    static final class Builder {
        int[] cps;
        int[] changes;
        int n;

        Builder(int capacity) {
            cps = new int[Math.max(4, capacity)];
            changes = new int[cps.length];
        }

        void add(int cp, int change) {
            if (n == cps.length) {
                cps = Arrays.copyOf(cps, n * 2);
                changes = Arrays.copyOf(changes, n * 2);
            }
            cps[n] = cp;
            changes[n] = change;
            n++;
        }
    }
}
