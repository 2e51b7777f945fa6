package org.edgedistill.core;

/**
 * Text to model inputs, equal to the reference (Hugging Face tokenizers with no padding and truncation
 * to max_len) id for id: {@link WordPieceTokenizer} for the BERT pipeline, {@link JsonTokenizer} for
 * any pipeline of tokenizer.json the core supports (BPE, Unigram, WordPiece, WordLevel models).
 *
 * <p>Get one from {@link EdgeBundle#textTokenizer()}.
 */
public interface TextTokenizer {
    /**
     * Ids and type ids of one text with its special tokens, cut to {@link #maxLen()} by the manifest's
     * tokenizer.truncation ({@link #truncation()}: head, tail or head_tail on the content ids, then the
     * single-text template's special tokens).
     */
    Encoding encode(String text);

    /** The text's token ids without special tokens and without truncation (every token of a long document). */
    int[] contentIds(String text);

    /** Content ids (already cut) with the single-text template's special tokens around them. */
    Encoding wrap(int[] content, boolean truncated);

    /** Content tokens one sequence holds: max_len less the single-text template's special tokens, at least 1. */
    int contentLen();

    /** Which content tokens a text longer than {@link #contentLen()} keeps (manifest tokenizer.truncation). */
    Truncation truncation();

    /**
     * Ids and type ids of a pair of texts (e.g. premise and hypothesis) with their special tokens, cut
     * to {@link #maxLen()} longest sequence first, as the reference does.
     */
    Encoding encode(String text, String pair);

    /** The most ids an encoding has, special tokens included (the manifest's max_len). */
    int maxLen();

    /** The id input_ids are padded with. */
    int padId();

    /** The vocabulary size, added tokens included (the reference's get_vocab_size()). */
    int vocabSize();

    /** The id of a token (vocabulary or added token), or -1. */
    int tokenToId(String token);

    /** The model type of tokenizer.json: "WordPiece", "BPE", "Unigram" or "WordLevel". */
    String modelType();
}
