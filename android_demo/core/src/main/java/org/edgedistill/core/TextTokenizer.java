package org.edgedistill.core;

/**
 * Text to model inputs, equal to the reference (Hugging Face tokenizers with no padding and truncation
 * to max_len) id for id: {@link WordPieceTokenizer} for the BERT pipeline, {@link JsonTokenizer} for
 * any pipeline of tokenizer.json the core supports (BPE, Unigram, WordPiece, WordLevel models).
 *
 * <p>Get one from {@link EdgeBundle#textTokenizer()}.
 */
public interface TextTokenizer {
    /** Ids and type ids of one text with its special tokens, truncated to {@link #maxLen()}. */
    Encoding encode(String text);

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
