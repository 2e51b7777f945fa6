package org.edgedistill.core;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A tokenizer.json model: turns one pre-tokenized piece into ids. WordPiece and WordLevel live here,
 * {@link BpeModel} and {@link UnigramModel} in their own files.
 */
abstract class SubwordModel {
    static final String SUPPORTED = "WordPiece, BPE, Unigram, WordLevel";

    /** Appends the ids of one piece. */
    abstract void tokenize(String piece, IntList out);

    /** The id of a token of the model's vocabulary, or null. */
    abstract Integer tokenToId(String token);

    /** The model's vocabulary size (the reference's get_vocab_size(false)). */
    abstract int size();

    abstract String type();

    @SuppressWarnings("unchecked")
    static SubwordModel fromJson(Object spec) {
        if (!(spec instanceof Map)) {
            throw new BundleException("tokenizer.json has no model; re-export the bundle");
        }
        Map<String, Object> m = (Map<String, Object>) spec;
        String type = String.valueOf(m.get("type"));
        if ("WordPiece".equals(type)) {
            return new WordPiece(vocab(m, type), JsonTokenizer.optString(m, "unk_token", "[UNK]"),
                    JsonTokenizer.optString(m, "continuing_subword_prefix", "##"),
                    m.get("max_input_chars_per_word") instanceof Number ? ((Number) m.get("max_input_chars_per_word")).intValue() : 100);
        }
        if ("WordLevel".equals(type)) {
            return new WordLevel(vocab(m, type), JsonTokenizer.optString(m, "unk_token", null));
        }
        if ("BPE".equals(type)) {
            return BpeModel.fromJson(m);
        }
        if ("Unigram".equals(type)) {
            return UnigramModel.fromJson(m);
        }
        throw JsonTokenizer.unsupportedType("model", type, SUPPORTED);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Integer> vocab(Map<String, Object> m, String type) {
        Object v = m.get("vocab");
        if (!(v instanceof Map)) {
            throw new BundleException("tokenizer.json model '" + type + "' has no vocab object; re-export the bundle");
        }
        Map<String, Object> raw = (Map<String, Object>) v;
        Map<String, Integer> vocab = new HashMap<String, Integer>(raw.size() * 2);
        for (Map.Entry<String, Object> e : raw.entrySet()) {
            if (!(e.getValue() instanceof Number)) {
                throw new BundleException("tokenizer.json model '" + type + "' gives token '" + e.getKey() + "' no id; re-export the bundle");
            }
            vocab.put(e.getKey(), ((Number) e.getValue()).intValue());
        }
        return vocab;
    }

    /** A model whose vocabulary is a token-to-id map (WordPiece, WordLevel, BPE): lookups and size come from it. */
    abstract static class MapVocab extends SubwordModel {
        final Map<String, Integer> vocab;

        MapVocab(Map<String, Integer> vocab) {
            this.vocab = vocab;
        }

        @Override
        Integer tokenToId(String token) {
            return vocab.get(token);
        }

        @Override
        int size() {
            return vocab.size();
        }
    }

    /** WordPiece: greedy longest match first; a word with an unmatched rest, or too long, is one unk. */
    static final class WordPiece extends MapVocab {
        final String prefix;
        final int maxChars;
        final int unkId;
        final String unk;

        WordPiece(Map<String, Integer> vocab, String unk, String prefix, int maxChars) {
            super(vocab);
            this.prefix = prefix;
            this.maxChars = maxChars;
            this.unk = unk;
            Integer id = vocab.get(unk);
            if (id == null) {
                throw new BundleException("tokenizer.json's WordPiece vocabulary has no unk token '" + unk + "'; re-export the bundle");
            }
            this.unkId = id;
        }

        @Override
        void tokenize(String word, IntList out) {
            wordPieces(word, vocab, prefix, maxChars, unkId, out);
        }

        /**
         * Appends the word pieces of a word, greedy longest match first (pieces after the first looked up
         * with the prefix); a word of more than maxChars code points, or with an unmatched rest, is one unk.
         * Shared with {@link WordPieceTokenizer}.
         */
        static void wordPieces(String word, Map<String, Integer> vocab, String prefix, int maxChars, int unkId, IntList out) {
            int n = word.codePointCount(0, word.length());
            if (n > maxChars) {
                out.add(unkId);
                return;
            }
            int[] at = new int[n + 1];      // UTF-16 offset of each code point boundary
            for (int c = 0, off = 0; c < n; c++) {
                at[c] = off;
                off += Character.charCount(word.codePointAt(off));
                at[c + 1] = off;
            }
            int mark = out.size();
            int start = 0;
            while (start < n) {
                int end = n;
                Integer found = null;
                while (start < end) {
                    String sub = word.substring(at[start], at[end]);
                    found = vocab.get(start > 0 ? prefix + sub : sub);
                    if (found != null) {
                        break;
                    }
                    end--;
                }
                if (found == null) {
                    out.n = mark;
                    out.add(unkId);
                    return;
                }
                out.add(found);
                start = end;
            }
        }

        @Override
        String type() {
            return "WordPiece";
        }
    }

    /** WordLevel: the piece's id, or the unk token's. */
    static final class WordLevel extends MapVocab {
        final Integer unkId;
        final String unk;

        WordLevel(Map<String, Integer> vocab, String unk) {
            super(vocab);
            this.unk = unk;
            this.unkId = unk == null ? null : vocab.get(unk);
            if (unkId == null) {
                throw new BundleException.Unsupported("tokenizer.json's WordLevel model has no unk token in its vocabulary ("
                        + unk + "); the reference fails on unknown words, which the Java core does not reproduce");
            }
        }

        @Override
        void tokenize(String piece, IntList out) {
            Integer id = vocab.get(piece);
            out.add(id != null ? id : unkId);
        }

        @Override
        String type() {
            return "WordLevel";
        }
    }

    /** The byte-fallback token of a byte: "<0x0A>". */
    static String byteToken(byte b) {
        String hex = "0123456789ABCDEF";
        return "<0x" + hex.charAt((b >> 4) & 0xF) + hex.charAt(b & 0xF) + ">";
    }

    /** A list of numbers as ints, or null. */
    static int[] ints(Object o) {
        if (!(o instanceof List)) {
            return null;
        }
        List<?> l = (List<?>) o;
        int[] out = new int[l.size()];
        for (int k = 0; k < out.length; k++) {
            if (!(l.get(k) instanceof Number)) {
                return null;
            }
            out[k] = ((Number) l.get(k)).intValue();
        }
        return out;
    }
}
