package org.edgedistill.core;

import java.nio.charset.Charset;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * SentencePiece's precompiled normalizer (tokenizer.json "Precompiled", e.g. nmt_nfkc in XLM-R,
 * ALBERT and DeBERTa-v3): a darts-clone double-array trie over UTF-8 keys plus a pool of
 * NUL-terminated replacements, read from the base64 precompiled_charsmap.
 *
 * <p>Applied as the reference (spm_precompiled 0.1.4 inside tokenizers) applies it: per extended
 * grapheme cluster ({@link Graphemes}); a cluster shorter than 6 UTF-8 bytes whose bytes start with
 * a key is replaced whole by the shortest key's replacement; otherwise each character is replaced
 * by its own key's replacement, if any.
 */
final class Precompiled {
    private static final Charset UTF8 = Charset.forName("UTF-8");

    private final long[] units;
    private final byte[] pool;
    private final Map<Integer, String> replacements = new ConcurrentHashMap<Integer, String>();

    Precompiled(byte[] blob) {
        if (blob.length < 4) {
            throw new BundleException("tokenizer.json's Precompiled precompiled_charsmap is truncated; re-export the bundle");
        }
        long trieSize = le32(blob, 0);
        if (trieSize % 4 != 0 || 4 + trieSize > blob.length) {
            throw new BundleException("tokenizer.json's Precompiled precompiled_charsmap is malformed (trie size " + trieSize
                    + " of " + blob.length + " bytes); re-export the bundle");
        }
        units = new long[(int) (trieSize / 4)];
        for (int k = 0; k < units.length; k++) {
            units[k] = le32(blob, 4 + 4 * k);
        }
        pool = new byte[blob.length - 4 - (int) trieSize];
        System.arraycopy(blob, 4 + (int) trieSize, pool, 0, pool.length);
        if (units.length == 0) {
            throw new BundleException("tokenizer.json's Precompiled precompiled_charsmap has an empty trie; re-export the bundle");
        }
    }

    private static long le32(byte[] b, int at) {
        return (b[at] & 0xFFL) | (b[at + 1] & 0xFFL) << 8 | (b[at + 2] & 0xFFL) << 16 | (b[at + 3] & 0xFFL) << 24;
    }

    private static boolean hasLeaf(long unit) {
        return ((unit >>> 8) & 1) == 1;
    }

    private static int value(long unit) {
        return (int) (unit & ((1L << 31) - 1));
    }

    private static long label(long unit) {
        return unit & ((1L << 31) | 0xFF);
    }

    private static long offset(long unit) {
        return (unit >>> 10) << ((unit & (1L << 9)) >>> 6);
    }

    /** The value of the shortest key that prefixes key[from, to), or -1 (darts-clone commonPrefixSearch, first result). */
    int firstPrefix(byte[] key, int from, int to) {
        long node = 0;
        long unit = units[0];
        node ^= offset(unit);
        for (int k = from; k < to; k++) {
            int c = key[k] & 0xFF;
            if (c == 0) {
                break;
            }
            node ^= c;
            if (node < 0 || node >= units.length) {
                return -1;
            }
            unit = units[(int) node];
            if (label(unit) != c) {
                return -1;
            }
            node ^= offset(unit);
            if (hasLeaf(unit)) {
                if (node < 0 || node >= units.length) {
                    return -1;
                }
                return value(units[(int) node]);
            }
        }
        return -1;
    }

    /** The replacement stored at a pool offset (up to the next NUL). */
    String replacement(int at) {
        String s = replacements.get(at);
        if (s == null) {
            int end = at;
            while (end < pool.length && pool[end] != 0) {
                end++;
            }
            s = at <= pool.length ? new String(pool, Math.min(at, pool.length), end - Math.min(at, pool.length), UTF8) : "";
            replacements.put(at, s);
        }
        return s;
    }

    /** Normalizes t in place, keeping the reference's alignments. */
    void normalize(NormText t) {
        IntList ends = Graphemes.boundaries(t.cps, t.n);
        NormText.Builder out = new NormText.Builder(t.n + 8);
        boolean modified = false;
        int start = 0;
        for (int g = 0; g < ends.size(); g++) {
            int end = ends.get(g);
            byte[] bytes = new String(t.cps, start, end - start).getBytes(UTF8);
            if (bytes.length < 6) {
                int v = firstPrefix(bytes, 0, bytes.length);
                if (v >= 0) {
                    modified = true;
                    replace(out, end - start, replacement(v));
                    start = end;
                    continue;
                }
            }
            int at = 0;
            for (int k = start; k < end; k++) {
                int len = utf8Length(t.cps[k]);
                int v = firstPrefix(bytes, at, at + len);
                at += len;
                if (v >= 0) {
                    modified = true;
                    replace(out, 1, replacement(v));
                } else {
                    out.add(t.cps[k], 0);
                }
            }
            start = end;
        }
        if (modified) {
            t.transform(out, 0);
        }
    }

    /** The reference's replace(): new characters as replacements, the length difference on the last ones. */
    private static void replace(NormText.Builder out, int oldCount, String norm) {
        int newCount = 0;
        for (int k = 0; k < norm.length(); ) {
            int c = norm.codePointAt(k);
            k += Character.charCount(c);
            out.add(c, 0);
            newCount++;
        }
        int diff = newCount - oldCount;
        if (diff > 0) {
            for (int k = out.n - 1; k >= out.n - diff; k--) {
                out.changes[k] = 1;
            }
        } else if (diff < 0 && out.n > 0) {
            out.changes[out.n - 1] += diff;
        }
    }

    static int utf8Length(int cp) {
        return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
}
