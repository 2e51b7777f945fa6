package org.edgedistill.core;

import java.util.List;

/** A model's logits for one text turned into probabilities (softmax) and a label from the bundle's labels. */
public final class Prediction {
    private final double[] probabilities;
    private final int index;
    private final String label;

    private Prediction(double[] probabilities, int index, String label) {
        this.probabilities = probabilities;
        this.index = index;
        this.label = label;
    }

    /**
     * The label is that of the largest logit (the first on ties, like numpy.argmax), decided on the
     * logits rather than the probabilities so that rounding in exp cannot create or break a tie.
     */
    public static Prediction of(float[] logits, List<String> labels) {
        double[] x = new double[logits.length];
        for (int k = 0; k < logits.length; k++) {
            x[k] = logits[k];
        }
        return of(x, labels);
    }

    public static Prediction of(double[] logits, List<String> labels) {
        if (logits.length != labels.size()) {
            throw new IllegalArgumentException("the model gave " + logits.length + " logits but the bundle has "
                    + labels.size() + " labels " + labels + "; the model and manifest.json do not belong together");
        }
        int best = argmax(logits);
        return new Prediction(softmax(logits), best, labels.get(best));
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

    static int argmax(double[] x) {
        int best = 0;
        for (int k = 1; k < x.length; k++) {
            if (x[k] > x[best] || (Double.isNaN(x[k]) && !Double.isNaN(x[best]))) {
                best = k;   // numpy.argmax treats NaN as the maximum
            }
        }
        return best;
    }

    public double[] probabilities() {
        return probabilities.clone();
    }

    public double probability() {
        return probabilities[index];
    }

    public int index() {
        return index;
    }

    public String label() {
        return label;
    }
}
