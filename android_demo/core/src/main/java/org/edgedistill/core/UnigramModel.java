package org.edgedistill.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * tokenizer.json's Unigram model (SentencePiece), as the reference's encode_optimized: Viterbi over
 * every vocabulary piece that starts at each character, scores added in double precision, a character
 * no piece covers scored as min_score - 10 with the unk id, consecutive unks fused, ties kept by the
 * shorter piece. A fused piece that is not in the vocabulary becomes byte-fallback tokens {@code <0xNN>}
 * (byte_fallback) or unk.
 */
final class UnigramModel extends SubwordModel {
    private final String[] pieces;
    private final double[] scores;
    private final Map<String, Integer> ids;
    private final int unkId;
    private final boolean byteFallback;
    private final double unkScore;
    // trie over UTF-16 units: node k's children are edges [first[k], first[k + 1]) of label/target
    private final int[] first;
    private final char[] label;
    private final int[] target;
    private final int[] leaf;      // token id ending at a node, or -1

    private UnigramModel(String[] pieces, double[] scores, int unkId, boolean byteFallback) {
        this.pieces = pieces;
        this.scores = scores;
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        this.ids = new HashMap<String, Integer>(pieces.length * 2);
        double min = Double.POSITIVE_INFINITY;
        for (int k = 0; k < pieces.length; k++) {
            ids.put(pieces[k], k);      // a repeated piece: the last one wins, as in the reference
            if (scores[k] < min) {
                min = scores[k];
            }
        }
        this.unkScore = min - 10.0;
        // build the trie breadth first over the sorted distinct pieces
        List<String> sorted = new ArrayList<String>(ids.keySet());
        java.util.Collections.sort(sorted);
        IntList firstList = new IntList(sorted.size());
        StringBuilder labels = new StringBuilder(sorted.size() * 2);
        IntList targets = new IntList(sorted.size() * 2);
        IntList leaves = new IntList(sorted.size() * 2);
        // queue of (lo, hi, depth) ranges of `sorted` sharing the node's prefix
        IntList qlo = new IntList(sorted.size());
        IntList qhi = new IntList(sorted.size());
        IntList qdepth = new IntList(sorted.size());
        qlo.add(0);
        qhi.add(sorted.size());
        qdepth.add(0);
        for (int node = 0; node < qlo.size(); node++) {
            int lo = qlo.get(node);
            int hi = qhi.get(node);
            int depth = qdepth.get(node);
            firstList.add(labels.length());
            int leafId = -1;
            int k = lo;
            while (k < hi && sorted.get(k).length() == depth) {
                leafId = depth == 0 ? -1 : ids.get(sorted.get(k));
                k++;
            }
            leaves.add(leafId);
            while (k < hi) {
                char ch = sorted.get(k).charAt(depth);
                int end = k;
                while (end < hi && sorted.get(end).charAt(depth) == ch) {
                    end++;
                }
                labels.append(ch);
                targets.add(qlo.size());
                qlo.add(k);
                qhi.add(end);
                qdepth.add(depth + 1);
                k = end;
            }
        }
        firstList.add(labels.length());
        this.first = firstList.toArray();
        this.label = labels.toString().toCharArray();
        this.target = targets.toArray();
        this.leaf = leaves.toArray();
    }

    @SuppressWarnings("unchecked")
    static UnigramModel fromJson(Map<String, Object> m) {
        Object v = m.get("vocab");
        if (!(v instanceof List)) {
            throw new BundleException("tokenizer.json Unigram model has no vocab list; re-export the bundle");
        }
        List<Object> list = (List<Object>) v;
        String[] pieces = new String[list.size()];
        double[] scores = new double[list.size()];
        for (int k = 0; k < pieces.length; k++) {
            Object o = list.get(k);
            if (!(o instanceof List) || ((List<Object>) o).size() != 2 || !(((List<Object>) o).get(0) instanceof String)
                    || !(((List<Object>) o).get(1) instanceof Number)) {
                throw new BundleException("tokenizer.json Unigram vocab entry " + k + " is not [piece, score]; re-export the bundle");
            }
            pieces[k] = (String) ((List<Object>) o).get(0);
            scores[k] = ((Number) ((List<Object>) o).get(1)).doubleValue();
        }
        Object unk = m.get("unk_id");
        if (!(unk instanceof Number)) {
            throw new BundleException.Unsupported("tokenizer.json Unigram model has no unk_id; the reference fails on any character its "
                    + "vocabulary lacks, which the Java core does not reproduce");
        }
        int unkId = ((Number) unk).intValue();
        if (unkId < 0 || unkId >= pieces.length) {
            throw new BundleException("tokenizer.json Unigram unk_id " + unkId + " is outside its vocabulary; re-export the bundle");
        }
        return new UnigramModel(pieces, scores, unkId, JsonTokenizer.bool(m, "byte_fallback", false));
    }

    private int child(int node, char c) {
        int lo = first[node];
        int hi = first[node + 1] - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (label[mid] < c) {
                lo = mid + 1;
            } else if (label[mid] > c) {
                hi = mid - 1;
            } else {
                return target[mid];
            }
        }
        return -1;
    }

    @Override
    void tokenize(String s, IntList out) {
        int size = s.length();
        if (size == 0) {
            return;
        }
        double[] best = new double[size + 1];
        int[] startsAt = new int[size + 1];
        int[] id = new int[size + 1];
        Arrays.fill(startsAt, -1);
        for (int start = 0; start < size; ) {
            double here = best[start];
            int mblen = Character.charCount(s.codePointAt(start));
            boolean single = false;
            int node = 0;
            for (int k = start; k < size; k++) {
                node = child(node, s.charAt(k));
                if (node < 0) {
                    break;
                }
                int tok = leaf[node];
                if (tok < 0) {
                    continue;
                }
                int keyPos = k + 1;
                double candidate = scores[tok] + here;
                if (startsAt[keyPos] < 0 || candidate > best[keyPos]) {
                    best[keyPos] = candidate;
                    startsAt[keyPos] = start;
                    id[keyPos] = tok;
                }
                if (keyPos - start == mblen) {
                    single = true;
                }
            }
            if (!single) {
                int keyPos = start + mblen;
                double candidate = unkScore + here;
                if (startsAt[keyPos] < 0 || candidate > best[keyPos]) {
                    best[keyPos] = candidate;
                    startsAt[keyPos] = start;
                    id[keyPos] = unkId;
                }
            }
            start += mblen;
        }
        // backtrack, fusing runs of unk
        List<String> results = new ArrayList<String>();
        StringBuilder fused = null;
        int end = size;
        while (end > 0) {
            int start = startsAt[end];
            String piece = s.substring(start, end);
            if (id[end] == unkId) {
                fused = fused == null ? new StringBuilder(piece) : fused.insert(0, piece);
            } else {
                if (fused != null) {
                    results.add(fused.toString());
                    fused = null;
                }
                results.add(piece);
            }
            end = start;
        }
        if (fused != null) {
            results.add(fused.toString());
        }
        for (int k = results.size() - 1; k >= 0; k--) {
            String piece = results.get(k);
            Integer tok = ids.get(piece);
            if (tok != null) {
                out.add(tok);
                continue;
            }
            if (byteFallback) {
                byte[] bytes = piece.getBytes(WordPieceTokenizer.UTF8);
                int[] fb = new int[bytes.length];
                boolean all = true;
                for (int j = 0; j < bytes.length && all; j++) {
                    Integer b = ids.get(byteToken(bytes[j]));
                    all = b != null;
                    fb[j] = all ? b : 0;
                }
                if (all) {
                    out.addAll(fb);
                    continue;
                }
            }
            out.add(unkId);
        }
    }

    @Override
    Integer tokenToId(String token) {
        return ids.get(token);
    }

    @Override
    int size() {
        return pieces.length;
    }

    @Override
    String type() {
        return "Unigram";
    }
}
