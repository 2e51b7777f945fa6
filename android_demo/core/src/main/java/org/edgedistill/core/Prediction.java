package org.edgedistill.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A model's logits for one input turned into probabilities and the bundle's labels.
 *
 * <ul>
 *   <li>single-label ({@link #of}): softmax probabilities, and the one label of the largest logit;</li>
 *   <li>multi-label ({@link #multiLabel}): each label's sigmoid probability, and every label whose
 *       probability is at least its threshold (possibly none).</li>
 * </ul>
 *
 * {@link Task#predict(float[])} picks the right one from the manifest.
 */
public final class Prediction {
    private final double[] probabilities;
    private final int index;
    private final String label;
    private final boolean multiLabel;
    private final List<Integer> predictedIndices;
    private final List<String> predictedLabels;

    private Prediction(double[] probabilities, int index, List<String> labels, boolean multiLabel, List<Integer> predicted) {
        this.probabilities = probabilities;
        this.index = index;
        this.label = labels.get(index);
        this.multiLabel = multiLabel;
        this.predictedIndices = Collections.unmodifiableList(predicted);
        List<String> names = new ArrayList<String>(predicted.size());
        for (int k : predicted) {
            names.add(labels.get(k));
        }
        this.predictedLabels = Collections.unmodifiableList(names);
    }

    /**
     * Single-label: softmax, and the label of the largest logit (the first on ties, like numpy.argmax),
     * decided on the logits rather than the probabilities so that rounding in exp cannot create or
     * break a tie.
     */
    public static Prediction of(float[] logits, List<String> labels) {
        return of(widen(logits), labels);
    }

    public static Prediction of(double[] logits, List<String> labels) {
        checkCount(logits, labels);
        int best = argmax(logits);
        return new Prediction(softmax(logits), best, labels, false, Collections.singletonList(best));
    }

    /**
     * Multi-label: label k is predicted when sigmoid(logits[k]) >= thresholds[k] (compared in double,
     * as numpy compares float64 probabilities). No label over its threshold is a valid answer.
     */
    public static Prediction multiLabel(float[] logits, List<String> labels, double[] thresholds) {
        return multiLabel(widen(logits), labels, thresholds);
    }

    public static Prediction multiLabel(double[] logits, List<String> labels, double[] thresholds) {
        checkCount(logits, labels);
        if (thresholds.length != labels.size()) {
            throw new IllegalArgumentException(thresholds.length + " thresholds for " + labels.size() + " labels; give one per label");
        }
        double[] p = sigmoid(logits);
        List<Integer> predicted = new ArrayList<Integer>();
        for (int k = 0; k < p.length; k++) {
            if (p[k] >= thresholds[k]) {    // false for a NaN probability
                predicted.add(k);
            }
        }
        return new Prediction(p, argmax(logits), labels, true, predicted);
    }

    private static double[] widen(float[] logits) {
        double[] x = new double[logits.length];
        for (int k = 0; k < logits.length; k++) {
            x[k] = logits[k];
        }
        return x;
    }

    private static void checkCount(double[] logits, List<String> labels) {
        if (logits.length != labels.size()) {
            throw new IllegalArgumentException("the model gave " + logits.length + " logits but the bundle has "
                    + labels.size() + " labels " + labels + "; the model and manifest.json do not belong together");
        }
    }

    /** exp(x - max) / sum, in double: stable for any finite logits. */
    public static double[] softmax(double[] logits) {
        if (logits.length == 0) {
            throw new IllegalArgumentException("softmax of no logits");
        }
        double max = logits[argmax(logits)];
        double[] e = new double[logits.length];
        double sum = 0;
        for (int k = 0; k < logits.length; k++) {
            e[k] = Math.exp(logits[k] - max);
            sum += e[k];
        }
        for (int k = 0; k < e.length; k++) {
            e[k] /= sum;
        }
        return e;
    }

    /**
     * 1 / (1 + exp(-x)), computed from exp(-|x|) so that it never overflows: exactly 0.5 at 0, exactly
     * 1.0 from x = 36.8 or so, tiny but positive down to x = -745 or so, then 0; NaN stays NaN.
     */
    public static double sigmoid(double x) {
        double e = Math.exp(-Math.abs(x));
        return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    }

    /** {@link #sigmoid(double)} of each logit. */
    public static double[] sigmoid(double[] logits) {
        double[] p = new double[logits.length];
        for (int k = 0; k < logits.length; k++) {
            p[k] = sigmoid(logits[k]);
        }
        return p;
    }

    static int argmax(double[] x) {
        int best = 0;
        for (int k = 1; k < x.length; k++) {
            if (x[k] > x[best] || (Double.isNaN(x[k]) && !Double.isNaN(x[best]))) {
                best = k;   // numpy.argmax treats NaN as the maximum
            }
        }
        return best;
    }

    /** Softmax probabilities (they sum to 1) or, multi-label, each label's own sigmoid probability. */
    public double[] probabilities() {
        return probabilities.clone();
    }

    /** The probability of {@link #label()}. */
    public double probability() {
        return probabilities[index];
    }

    /**
     * The index of the largest logit: the prediction of a single-label model; for a multi-label one its
     * most probable label, which is predicted only if it is in {@link #predictedIndices()}.
     */
    public int index() {
        return index;
    }

    /** The label at {@link #index()}. */
    public String label() {
        return label;
    }

    /** True for a multi-label prediction (sigmoid and thresholds). */
    public boolean isMultiLabel() {
        return multiLabel;
    }

    /** The decision: single-label, the one index; multi-label, every index over its threshold in label order (maybe none). */
    public List<Integer> predictedIndices() {
        return predictedIndices;
    }

    /** The labels of {@link #predictedIndices()}. */
    public List<String> predictedLabels() {
        return predictedLabels;
    }
}
