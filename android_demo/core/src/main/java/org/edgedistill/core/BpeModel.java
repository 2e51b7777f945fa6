package org.edgedistill.core;

import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * tokenizer.json's BPE model, step for step as the reference (tokenizers' bpe/model.rs and word.rs):
 * each character of the piece becomes a symbol (with continuing_subword_prefix after the first and
 * end_of_word_suffix on the last; unknown ones as byte-fallback tokens {@code <0xNN>} or as unk, fused
 * when fuse_unk), then merges are applied lowest rank first, leftmost first among equals, with the
 * reference's queue of candidate merges and its check for stale ones. ignore_merges looks the whole
 * piece up first. Dropout (random) is refused.
 */
final class BpeModel extends SubwordModel.MapVocab {
    private final Map<Long, long[]> merges;       // (a, b) -> {rank, new id}
    private final String unk;
    private final String prefix;
    private final String suffix;
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;

    private BpeModel(Map<String, Integer> vocab, Map<Long, long[]> merges, String unk, String prefix, String suffix, boolean fuseUnk,
                     boolean byteFallback, boolean ignoreMerges) {
        super(vocab);
        this.merges = merges;
        this.unk = unk;
        this.prefix = prefix;
        this.suffix = suffix;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    @SuppressWarnings("unchecked")
    static BpeModel fromJson(Map<String, Object> m) {
        Object dropout = m.get("dropout");
        if (dropout instanceof Number && ((Number) dropout).doubleValue() != 0.0) {
            throw new BundleException.Unsupported("tokenizer.json BPE model has dropout " + dropout
                    + ", which is random and not supported by the Java core; export with dropout null");
        }
        Map<String, Integer> vocab = vocab(m, "BPE");
        String prefix = JsonTokenizer.optString(m, "continuing_subword_prefix", null);
        String suffix = JsonTokenizer.optString(m, "end_of_word_suffix", null);
        Object list = m.get("merges");
        if (!(list instanceof List)) {
            throw new BundleException("tokenizer.json BPE model has no merges list; re-export the bundle");
        }
        Map<Long, long[]> merges = new HashMap<Long, long[]>(((List<Object>) list).size() * 2);
        int rank = 0;
        for (Object o : (List<Object>) list) {
            String a;
            String b;
            if (o instanceof String) {
                String line = (String) o;
                if (line.startsWith("#version")) {
                    continue;
                }
                String[] parts = line.split(" ", -1);
                if (parts.length != 2) {
                    throw new BundleException("tokenizer.json BPE merge " + (rank + 1) + " ('" + line + "') is not two tokens separated by one space; "
                            + "re-export the bundle");
                }
                a = parts[0];
                b = parts[1];
            } else if (o instanceof List && ((List<Object>) o).size() == 2 && ((List<Object>) o).get(0) instanceof String
                    && ((List<Object>) o).get(1) instanceof String) {
                a = (String) ((List<Object>) o).get(0);
                b = (String) ((List<Object>) o).get(1);
            } else {
                throw new BundleException("tokenizer.json BPE merge " + (rank + 1) + " is neither \"a b\" nor [a, b]; re-export the bundle");
            }
            Integer ia = vocab.get(a);
            Integer ib = vocab.get(b);
            int cut = prefix == null ? 0 : prefix.getBytes(WordPieceTokenizer.UTF8).length;
            byte[] bb = b.getBytes(WordPieceTokenizer.UTF8);
            String merged = ia == null || ib == null || cut > bb.length ? null
                    : a + new String(bb, cut, bb.length - cut, WordPieceTokenizer.UTF8);
            Integer id = merged == null ? null : vocab.get(merged);
            if (id == null) {
                throw new BundleException("tokenizer.json BPE merge " + (rank + 1) + " ('" + a + "', '" + b
                        + "') uses or makes a token that is not in the vocabulary; re-export the bundle");
            }
            merges.put(key(ia, ib), new long[] {rank, id});
            rank++;
        }
        return new BpeModel(vocab, merges, JsonTokenizer.optString(m, "unk_token", null), prefix, suffix,
                JsonTokenizer.bool(m, "fuse_unk", false), JsonTokenizer.bool(m, "byte_fallback", false),
                JsonTokenizer.bool(m, "ignore_merges", false));
    }

    @Override
    void tokenize(String piece, IntList out) {
        if (piece.isEmpty()) {
            return;
        }
        if (ignoreMerges) {
            Integer id = vocab.get(piece);
            if (id != null) {
                out.add(id);
                return;
            }
        }
        // symbols: id, prev, next, len (0: merged away)
        int cap = piece.length() * 4 + 4;
        int[] c = new int[cap];
        int n = 0;
        int pendingUnk = -1;
        int pendingLen = 0;
        for (int k = 0; k < piece.length(); ) {
            int cp = piece.codePointAt(k);
            int next = k + Character.charCount(cp);
            String s = piece.substring(k, next);
            int byteLen = Precompiled.utf8Length(cp);
            if (k > 0 && prefix != null) {
                s = prefix + s;
            }
            if (next == piece.length() && suffix != null) {
                s = s + suffix;
            }
            k = next;
            Integer id = vocab.get(s);
            if (id != null) {
                if (pendingUnk >= 0) {
                    c[n++] = pendingUnk;
                    pendingUnk = -1;
                }
                c[n++] = id;
                continue;
            }
            if (byteFallback) {
                byte[] bytes = s.getBytes(WordPieceTokenizer.UTF8);
                int[] ids = new int[bytes.length];
                boolean all = true;
                for (int j = 0; j < bytes.length && all; j++) {
                    Integer b = vocab.get(byteToken(bytes[j]));
                    all = b != null;
                    ids[j] = all ? b : 0;
                }
                if (all) {
                    for (int x : ids) {
                        if (n == c.length) {
                            c = java.util.Arrays.copyOf(c, n * 2);
                        }
                        c[n++] = x;
                    }
                    continue;
                }
            }
            if (unk != null) {
                Integer unkId = vocab.get(unk);
                if (unkId == null) {
                    throw new IllegalStateException("the BPE unk token '" + unk + "' is not in the vocabulary");
                }
                if (pendingUnk >= 0 && fuseUnk) {
                    pendingLen += byteLen;
                } else {
                    if (pendingUnk >= 0) {
                        c[n++] = pendingUnk;
                    }
                    pendingUnk = unkId;
                    pendingLen = byteLen;
                }
            }
        }
        if (pendingUnk >= 0) {
            c[n++] = pendingUnk;
        }
        mergeAll(c, n, out);
    }

    /** The reference's Word::merge_all. */
    private void mergeAll(int[] c, int n, IntList out) {
        final int[] prev = new int[n];
        final int[] next = new int[n];
        final boolean[] gone = new boolean[n];
        for (int k = 0; k < n; k++) {
            prev[k] = k - 1;
            next[k] = k + 1 < n ? k + 1 : -1;
        }
        PriorityQueue<long[]> queue = new PriorityQueue<long[]>(Math.max(1, n), new Comparator<long[]>() {
            @Override
            public int compare(long[] x, long[] y) {
                return x[0] != y[0] ? Long.compare(x[0], y[0]) : Long.compare(x[1], y[1]);
            }
        });
        for (int k = 0; k + 1 < n; k++) {
            long[] m = merges.get(key(c[k], c[k + 1]));
            if (m != null) {
                queue.add(new long[] {m[0], k, m[1]});      // rank, pos, new id
            }
        }
        while (!queue.isEmpty()) {
            long[] top = queue.poll();
            int pos = (int) top[1];
            if (gone[pos] || next[pos] == -1) {
                continue;
            }
            int right = next[pos];
            long[] m = merges.get(key(c[pos], c[right]));
            if (m == null || m[1] != top[2]) {
                continue;
            }
            c[pos] = (int) top[2];
            next[pos] = next[right];
            gone[right] = true;
            if (next[right] >= 0) {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0) {
                long[] p = merges.get(key(c[prev[pos]], c[pos]));
                if (p != null) {
                    queue.add(new long[] {p[0], prev[pos], p[1]});
                }
            }
            if (next[pos] >= 0) {
                long[] q = merges.get(key(c[pos], c[next[pos]]));
                if (q != null) {
                    queue.add(new long[] {q[0], pos, q[1]});
                }
            }
        }
        for (int k = 0; k < n; k++) {
            if (!gone[k]) {
                out.add(c[k]);
            }
        }
    }

    @Override
    String type() {
        return "BPE";
    }
}
