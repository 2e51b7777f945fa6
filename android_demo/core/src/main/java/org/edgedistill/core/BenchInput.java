package org.edgedistill.core;

/** The ids a benchmark feeds the model: given by the host, or real tokens of a text at a fixed length. */
public final class BenchInput {
    /** The passage edge_runtime.benchmark uses when no data set is given (BENCH_TEXT). */
    public static final String DEFAULT_TEXT = "The film is a quiet, patient study of grief that never tips into sentimentality, and its two leads "
            + "carry long scenes with little more than glances. It is too long by half an hour, and the score "
            + "insists on feelings the images already earn, but the final scene lands with real force.";

    private BenchInput() {}

    /**
     * Real tokens, no padding, seqLen wide (or max_len if that is smaller): the text is doubled until
     * it tokenizes to seqLen tokens, as edge_runtime.benchmark.fixed_length_feeds does.
     */
    public static long[] fixedLength(TextTokenizer tokenizer, String text, int seqLen) {
        String joined = text;
        Encoding e;
        while (true) {
            e = tokenizer.encode(joined);
            if (e.length() >= seqLen || joined.length() > 100000) {
                break;
            }
            joined = joined + " " + joined;
        }
        int width = Math.min(seqLen, e.length());
        return e.inputIds(width, tokenizer.padId());
    }

    /** Ids given on the command line as "101,2023,102". */
    public static long[] parseIds(String csv) {
        String[] parts = csv.trim().split(",");
        long[] ids = new long[parts.length];
        for (int k = 0; k < parts.length; k++) {
            try {
                ids[k] = Long.parseLong(parts[k].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("ids must be comma-separated integers like 101,2023,102; got '" + parts[k] + "'");
            }
            if (ids[k] < 0) {
                throw new IllegalArgumentException("ids must not be negative; got " + ids[k]);
            }
        }
        if (ids.length < 2) {
            throw new IllegalArgumentException("need at least two ids ([CLS] ... [SEP]); got " + ids.length);
        }
        return ids;
    }
}
