package org.edgedistill.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * How a document longer than the model is read: the manifest's task.long_text
 * ({"mode": "truncate" | "windows", "stride": S, "aggregate": "mean" | "max", "max_windows": N}),
 * ported token for token from edgecore.longtext.
 *
 * <ul>
 *   <li>truncate (the default): one sequence, cut by tokenizer.truncation ({@link Truncation});</li>
 *   <li>windows: the text's content ids (no special tokens, no truncation) read as windows of
 *       {@link TextTokenizer#contentLen()} tokens starting every S tokens (absent: half the content
 *       length), the last window ending at the document's end, each wrapped with the single-text
 *       template ({@link #windows}); more than N windows (default 16): N evenly spaced ones are kept,
 *       first and last included ({@link #pickWindows}). An empty text is one window of the special
 *       tokens alone. The windows' logits become one answer ({@link #aggregate}): mean, their mean;
 *       max, the logits of the window whose top softmax probability is highest (first on ties), or for
 *       a multi-label model the highest logit of each label.</li>
 * </ul>
 */
public final class LongText {
    public static final String TRUNCATE = "truncate";
    public static final String WINDOWS = "windows";
    public static final String MEAN = "mean";
    public static final String MAX = "max";
    public static final int MAX_WINDOWS = 16;
    static final List<String> MODES = Arrays.asList(TRUNCATE, WINDOWS);
    static final List<String> AGGREGATES = Arrays.asList(MEAN, MAX);

    /** What an absent task.long_text means: truncate. */
    public static final LongText DEFAULT = new LongText(TRUNCATE, null, MEAN, MAX_WINDOWS);

    private final String mode;
    private final Integer stride;
    private final String aggregate;
    private final int maxWindows;

    private LongText(String mode, Integer stride, String aggregate, int maxWindows) {
        this.mode = mode;
        this.stride = stride;
        this.aggregate = aggregate;
        this.maxWindows = maxWindows;
    }

    /**
     * mode truncate or windows, stride (null: half the content length), aggregate mean or max, max_windows.
     *
     * @throws IllegalArgumentException for an unknown mode or aggregate, a stride or max_windows below 1
     */
    public static LongText of(String mode, Integer stride, String aggregate, int maxWindows) {
        if (!MODES.contains(mode) || !AGGREGATES.contains(aggregate)) {
            throw new IllegalArgumentException("long_text mode " + mode + " / aggregate " + aggregate + ": choose truncate or windows, mean or max");
        }
        if ((stride != null && stride < 1) || maxWindows < 1) {
            throw new IllegalArgumentException("stride and max_windows must be >= 1 (got " + stride + ", " + maxWindows + ")");
        }
        return new LongText(mode, stride, aggregate, maxWindows);
    }

    /**
     * A manifest's task.long_text record (null: truncate).
     *
     * @throws BundleException with one line naming the field if it is malformed
     */
    static LongText from(Object record) {
        if (record == null) {
            return DEFAULT;
        }
        if (!(record instanceof Map)) {
            throw new BundleException("manifest.json task.long_text must be an object {\"mode\", \"stride\", \"aggregate\", \"max_windows\"}, got "
                    + Json.write(record) + "; re-export the bundle");
        }
        Map<?, ?> m = (Map<?, ?>) record;
        Object mode = m.containsKey("mode") ? m.get("mode") : TRUNCATE;
        if (!MODES.contains(mode)) {
            throw new BundleException.Unsupported("manifest.json task.long_text mode " + Json.write(mode)
                    + " is not supported; supported: truncate, windows (truncate when absent)");
        }
        Object aggregate = m.containsKey("aggregate") ? m.get("aggregate") : MEAN;
        if (!AGGREGATES.contains(aggregate)) {
            throw new BundleException.Unsupported("manifest.json task.long_text aggregate " + Json.write(aggregate)
                    + " is not supported; supported: mean, max (mean when absent)");
        }
        Object stride = m.get("stride");
        if (stride != null && !(stride instanceof Long && (Long) stride >= 1 && (Long) stride <= Integer.MAX_VALUE)) {
            throw new BundleException("manifest.json task.long_text stride is " + Json.write(stride)
                    + "; it must be a whole number of tokens >= 1 (e.g. half the max length); re-export the bundle");
        }
        Object limit = m.containsKey("max_windows") ? m.get("max_windows") : Long.valueOf(MAX_WINDOWS);
        if (!(limit instanceof Long && (Long) limit >= 1 && (Long) limit <= Integer.MAX_VALUE)) {
            throw new BundleException("manifest.json task.long_text max_windows is " + Json.write(limit)
                    + "; it must be a whole number >= 1 (e.g. " + MAX_WINDOWS + "); re-export the bundle");
        }
        return new LongText((String) mode, stride == null ? null : ((Long) stride).intValue(), (String) aggregate, ((Long) limit).intValue());
    }

    public String mode() {
        return mode;
    }

    /** True when the text is read as windows whose logits are aggregated. */
    public boolean isWindows() {
        return WINDOWS.equals(mode);
    }

    /** The recorded stride, or null (half the content length). */
    public Integer stride() {
        return stride;
    }

    public String aggregate() {
        return aggregate;
    }

    public int maxWindows() {
        return maxWindows;
    }

    /**
     * The stride over windows of {@code content} tokens: the recorded one, or half the content (at least 1).
     *
     * @throws BundleException if it is longer than a window (tokens between windows would be skipped)
     */
    public int strideTokens(int content) {
        int s = stride != null ? stride : Math.max(1, content / 2);
        if (s > content) {
            throw new BundleException("manifest.json task.long_text stride " + s + " is longer than a window's " + content
                    + " content tokens, so tokens between windows would be skipped; re-export with a stride <= " + content);
        }
        return s;
    }

    /**
     * Start offsets of the windows of {@code size} content tokens over {@code n}: 0, stride, 2 * stride,
     * ... while a window ends before the document does, then one ending at its end; [0] when n <= size.
     */
    public static int[] windowStarts(int n, int size, int stride) {
        if (n <= size) {
            return new int[] {0};
        }
        int count = (n - size + stride - 1) / stride;   // len(range(0, n - size, stride))
        boolean last = (long) (count - 1) * stride != n - size;
        int[] out = new int[count + (last ? 1 : 0)];
        for (int k = 0; k < count; k++) {
            out[k] = k * stride;
        }
        if (last) {
            out[count] = n - size;
        }
        return out;
    }

    /**
     * Indices of the windows kept of {@code count} when at most {@code limit} are: all of them, or limit
     * evenly spaced ones, first and last included: i * (count - 1) / (limit - 1) rounded half up in
     * integers (limit 1: the first).
     */
    public static int[] pickWindows(int count, int limit) {
        int n = Math.min(count, limit);
        int[] out = new int[n];
        if (count <= limit) {
            for (int k = 0; k < n; k++) {
                out[k] = k;
            }
            return out;
        }
        if (limit == 1) {
            return out;   // {0}
        }
        for (int i = 0; i < limit; i++) {
            out[i] = (int) ((2L * i * (count - 1) + (limit - 1)) / (2L * (limit - 1)));
        }
        return out;
    }

    /**
     * The windows of one text, each wrapped with the single-text template, in document order (what
     * edge_runtime.bundle.Bundle.windows gives for it). A window's {@link Encoding#truncated()} is true
     * when it holds only part of the document.
     *
     * @throws BundleException if the stride is longer than a window
     */
    public List<Encoding> windows(TextTokenizer tokenizer, String text) {
        int size = tokenizer.contentLen();
        int step = strideTokens(size);
        int[] content = tokenizer.contentIds(text);
        int[] starts = windowStarts(content.length, size, step);
        List<Encoding> out = new ArrayList<Encoding>();
        for (int i : pickWindows(starts.length, maxWindows)) {
            int from = starts[i];
            int to = Math.min(content.length, from + size);
            out.add(tokenizer.wrap(Arrays.copyOfRange(content, from, to), content.length > size));
        }
        return Collections.unmodifiableList(out);
    }

    /** {@link #aggregate(double[][], String, boolean)} by this record's aggregate. */
    public double[] aggregate(double[][] logits, boolean multiLabel) {
        return aggregate(logits, aggregate, multiLabel);
    }

    /**
     * One row of logits from the windows' (W, C): "mean", their mean (in double, window by window, then
     * divided by W as numpy's mean); "max", the logits of the window whose top softmax probability is
     * highest (first on ties), or, multi-label, the highest logit of each label.
     *
     * @throws IllegalArgumentException with no window, rows of different lengths, or an unknown aggregate
     */
    public static double[] aggregate(double[][] logits, String how, boolean multiLabel) {
        if (logits.length == 0) {
            throw new IllegalArgumentException("aggregate needs the logits of at least one window");
        }
        int c = logits[0].length;
        for (double[] row : logits) {
            if (row.length != c) {
                throw new IllegalArgumentException("the windows' logits differ in length (" + c + " and " + row.length + ")");
            }
        }
        if (MEAN.equals(how)) {
            double[] sum = new double[c];
            for (double[] row : logits) {
                for (int k = 0; k < c; k++) {
                    sum[k] += row[k];
                }
            }
            for (int k = 0; k < c; k++) {
                sum[k] /= logits.length;
            }
            return sum;
        }
        if (!MAX.equals(how)) {
            throw new IllegalArgumentException("aggregate " + how + " is unknown; choose mean or max");
        }
        if (multiLabel) {
            double[] out = logits[0].clone();
            for (double[] row : logits) {
                for (int k = 0; k < c; k++) {
                    if (row[k] > out[k] || Double.isNaN(row[k])) {
                        out[k] = row[k];   // numpy's max propagates NaN
                    }
                }
            }
            return out;
        }
        int best = 0;
        double bestTop = Double.NaN;
        double[] shifted = new double[c];
        for (int w = 0; w < logits.length; w++) {
            double[] row = logits[w];
            double m = row[Prediction.argmax(row)];
            for (int k = 0; k < c; k++) {
                shifted[k] = Math.exp(row[k] - m);
            }
            double top = 1.0 / pairwiseSum(shifted, 0, c);   // the top class's softmax probability, summed as numpy sums a row
            if (w == 0 || top > bestTop || (Double.isNaN(top) && !Double.isNaN(bestTop))) {
                best = w;   // numpy.argmax: the first maximum, NaN counting as the maximum
                bestTop = top;
            }
        }
        return logits[best].clone();
    }

    /** {@link #aggregate(double[][], String, boolean)} of float logits (widened to double, as numpy reads float32 rows). */
    public static double[] aggregate(float[][] logits, String how, boolean multiLabel) {
        double[][] x = new double[logits.length][];
        for (int w = 0; w < logits.length; w++) {
            x[w] = new double[logits[w].length];
            for (int k = 0; k < x[w].length; k++) {
                x[w][k] = logits[w][k];
            }
        }
        return aggregate(x, how, multiLabel);
    }

    /** numpy's pairwise summation of a contiguous row (the order np.sum(axis=-1) adds in), so ties fall alike. */
    static double pairwiseSum(double[] a, int from, int n) {
        if (n < 8) {
            double res = 0.0;
            for (int i = 0; i < n; i++) {
                res += a[from + i];
            }
            return res;
        }
        if (n <= 128) {
            double[] r = new double[8];
            for (int j = 0; j < 8; j++) {
                r[j] = a[from + j];
            }
            int i;
            for (i = 8; i < n - (n % 8); i += 8) {
                for (int j = 0; j < 8; j++) {
                    r[j] += a[from + i + j];
                }
            }
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) {
                res += a[from + i];
            }
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return pairwiseSum(a, from, n2) + pairwiseSum(a, from + n2, n - n2);
    }

    @Override
    public String toString() {
        return isWindows() ? "windows(stride " + (stride == null ? "half" : stride) + ", " + aggregate + ", max " + maxWindows + ")" : mode;
    }
}
