package org.edgedistill.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The bundle's BERT WordPiece tokenizer, equal to the reference (Hugging Face tokenizers with
 * no_padding() and enable_truncation(max_len)) id for id; tests/android proves it on 10,000+ texts.
 *
 * <p>Pipeline: special tokens are cut out of the raw text first and kept whole ("a[MASK]b" gives
 * a, [MASK], b; "[mask]" is ordinary text); each piece between them is normalized, pre-tokenized
 * and split into word pieces; the pieces are cut to max_len - 2 and framed by [CLS] ... [SEP]. A pair
 * is cut longest first and framed [CLS] A [SEP] B [SEP] (B typed 1), or as tokenizer.json's
 * post-processor says. Other pipelines run in {@link JsonTokenizer}.
 */
public final class WordPieceTokenizer extends AbstractTextTokenizer {
    static final Charset UTF8 = Charset.forName("UTF-8");

    private final TokenizerSettings settings;
    private final Map<String, Integer> vocab;
    private final BertNormalizer normalizer;
    private final List<String> specials;       // longest first, so the longest match at a position wins
    private final int[] specialIds;
    private final int clsId;
    private final int sepId;
    private final int unkId;
    private volatile Map<Integer, String> tokensById;   // built on first use of tokens()

    public WordPieceTokenizer(Map<String, Integer> vocab, TokenizerSettings settings) {
        this(vocab, settings, longestFirst(settings.specialTokens));
    }

    private WordPieceTokenizer(Map<String, Integer> vocab, TokenizerSettings settings, List<String> specials) {
        super(postProcessor(vocab, settings, specials), settings.maxLen, settings.truncation);
        this.settings = settings;
        this.vocab = vocab;
        this.normalizer = new BertNormalizer(settings);
        this.specials = specials;
        this.specialIds = new int[specials.size()];
        for (int k = 0; k < specials.size(); k++) {
            specialIds[k] = id(vocab, specials.get(k));
        }
        this.clsId = id(vocab, settings.clsToken);
        this.sepId = id(vocab, settings.sepToken);
        this.unkId = id(vocab, settings.unkToken);
    }

    /** The distinct non-empty special tokens, longest first. */
    private static List<String> longestFirst(List<String> tokens) {
        List<String> sp = new ArrayList<String>();
        for (String s : tokens) {
            if (!s.isEmpty() && !sp.contains(s)) {
                sp.add(s);
            }
        }
        Collections.sort(sp, new Comparator<String>() {
            @Override
            public int compare(String a, String b) {
                return b.length() - a.length();
            }
        });
        return sp;
    }

    /**
     * tokenizer.json's post-processor, else [CLS] $A [SEP]; read only once the vocabulary is known to hold
     * every special token (longest first), then [CLS], [SEP] and [UNK], so a bad bundle fails on the first of these.
     */
    private static PostProcessor postProcessor(Map<String, Integer> vocab, TokenizerSettings settings, List<String> specials) {
        for (String s : specials) {
            id(vocab, s);
        }
        int cls = id(vocab, settings.clsToken);
        int sep = id(vocab, settings.sepToken);
        id(vocab, settings.unkToken);
        return settings.postProcessorJson != null ? PostProcessor.fromJson(settings.postProcessorJson)
                : PostProcessor.bert(settings.clsToken, cls, settings.sepToken, sep);
    }

    private static int id(Map<String, Integer> vocab, String token) {
        Integer v = vocab.get(token);
        if (v == null) {
            throw new BundleException("the vocabulary has no '" + token + "' token; the bundle's vocab.txt does not match its tokenizer settings");
        }
        return v;
    }

    /** Reads vocab.txt: one token per line, the line number is the id. */
    public static Map<String, Integer> readVocab(InputStream in) throws IOException {
        String text = new String(readAll(in), UTF8);
        Map<String, Integer> vocab = new HashMap<String, Integer>(text.length() / 6);
        int id = 0;
        int start = 0;
        while (start < text.length()) {
            int nl = text.indexOf('\n', start);
            int end = nl < 0 ? text.length() : nl;
            String token = text.substring(start, end);
            if (token.endsWith("\r")) {
                token = token.substring(0, token.length() - 1);
            }
            vocab.put(token, id++);
            start = end + 1;
        }
        return vocab;
    }

    static byte[] readAll(InputStream in) throws IOException {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }

    public TokenizerSettings settings() {
        return settings;
    }

    @Override
    public int vocabSize() {
        return vocab.size();
    }

    /** Ids of one text, cut to max_len by the truncation strategy, with [CLS] and [SEP]. */
    @Override
    public Encoding encode(String text) {
        int budget = settings.maxLen - 2;
        if (!settings.truncation.isHead() || budget < 1 || post.addedTokens(false) != 2) {
            int[] content = contentIds(text);
            int keep = contentLen();
            return wrap(settings.truncation.cut(content, keep), content.length > keep);
        }
        // head: the tokenizer's own truncation, stopping once max_len pieces are known
        List<Integer> pieces = new ArrayList<Integer>();
        int pos = 0;
        int k = 0;
        // budget + 1 pieces are enough to know both the kept ids and whether anything was cut
        while (k < text.length() && pieces.size() <= budget) {
            int match = specialAt(text, k);
            if (match < 0) {
                k++;
                continue;
            }
            encodePlain(text.substring(pos, k), pieces, budget + 1);
            if (pieces.size() <= budget) {
                pieces.add(specialIds[match]);
            }
            k += specials.get(match).length();
            pos = k;
        }
        if (pieces.size() <= budget && pos < text.length()) {
            encodePlain(text.substring(pos), pieces, budget + 1);
        }
        boolean truncated = pieces.size() > budget;
        int kept = Math.min(pieces.size(), budget);
        int[] ids = new int[kept + 2];
        ids[0] = clsId;
        for (int j = 0; j < kept; j++) {
            ids[j + 1] = pieces.get(j);
        }
        ids[kept + 1] = sepId;
        return new Encoding(ids, truncated);
    }

    /** All the word pieces of one text (the reference cuts a pair, longest first, by the full lengths). */
    @Override
    IntList sequence(String text) {
        List<Integer> pieces = allPieces(text);
        IntList out = new IntList(pieces.size());
        for (int id : pieces) {
            out.add(id);
        }
        return out;
    }

    @Override
    public int padId() {
        return settings.padId;
    }

    @Override
    public int tokenToId(String token) {
        Integer v = vocab.get(token);
        return v == null ? -1 : v;
    }

    @Override
    public String modelType() {
        return "WordPiece";
    }

    /** The word pieces of a text as strings, without [CLS]/[SEP] or truncation (for display and debugging). */
    public List<String> tokens(String text) {
        Map<Integer, String> byId = tokensById;
        if (byId == null) {
            byId = new HashMap<Integer, String>(vocab.size() * 2);
            for (Map.Entry<String, Integer> e : vocab.entrySet()) {
                byId.put(e.getValue(), e.getKey());
            }
            tokensById = byId;
        }
        List<Integer> pieces = allPieces(text);
        List<String> out = new ArrayList<String>(pieces.size());
        for (int id : pieces) {
            out.add(byId.get(id));
        }
        return out;
    }

    /** The ids of every special token and word piece of a text, in order, without truncation or framing. */
    private List<Integer> allPieces(String text) {
        List<Integer> pieces = new ArrayList<Integer>();
        int pos = 0;
        for (int k = 0; k < text.length(); ) {
            int match = specialAt(text, k);
            if (match < 0) {
                k++;
                continue;
            }
            encodePlain(text.substring(pos, k), pieces, Integer.MAX_VALUE);
            pieces.add(specialIds[match]);
            k += specials.get(match).length();
            pos = k;
        }
        encodePlain(text.substring(Math.min(pos, text.length())), pieces, Integer.MAX_VALUE);
        return pieces;
    }

    private int specialAt(String text, int k) {
        for (int j = 0; j < specials.size(); j++) {
            if (text.startsWith(specials.get(j), k)) {
                return j;
            }
        }
        return -1;
    }

    private void encodePlain(String piece, List<Integer> out, int limit) {
        if (piece.isEmpty()) {
            return;
        }
        for (String word : BertPreTokenizer.split(normalizer.normalize(piece))) {
            if (out.size() >= limit) {
                return;
            }
            wordPieces(word, out);
        }
    }

    /** Greedy longest-match-first, as the reference: a word with any unmatched rest is one [UNK]. */
    private void wordPieces(String word, List<Integer> out) {
        IntList ids = new IntList(8);
        SubwordModel.WordPiece.wordPieces(word, vocab, settings.subwordPrefix, settings.maxInputCharsPerWord, unkId, ids);
        for (int k = 0; k < ids.size(); k++) {
            out.add(ids.get(k));
        }
    }
}
