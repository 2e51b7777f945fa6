package org.edgedistill.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The "task" block of manifest.json: what the model's inputs are and how its logits become labels.
 *
 * <ul>
 *   <li>{@code inputs}: ["text"] (default) or ["text", "text_pair"] for a sentence-pair classifier;</li>
 *   <li>{@code problem_type}: "single_label_classification" (default: softmax, one label) or
 *       "multi_label_classification" (sigmoid per label, every label whose probability is at least its
 *       threshold);</li>
 *   <li>{@code thresholds}: multi-label only, one number in [0, 1] per label, required;</li>
 *   <li>{@code pair_encoding}: "joint" (default: both texts in one sequence with the tokenizer's pair
 *       template and token type ids) or "siamese" (each text encoded alone as a single text, fed as
 *       input_ids / attention_mask and pair_input_ids / pair_attention_mask).</li>
 *   <li>{@code long_text}: how a document longer than the model is read ({@link LongText}): truncated
 *       (default) or as windows whose logits are aggregated ({@link #windowInputs}, {@link #aggregate});
 *       windows read single texts only.</li>
 * </ul>
 *
 * Anything else is refused when the manifest is read, with one line naming the field.
 */
public final class Task {
    public static final String SINGLE_LABEL = "single_label_classification";
    public static final String MULTI_LABEL = "multi_label_classification";
    public static final String JOINT = "joint";
    public static final String SIAMESE = "siamese";
    static final List<String> PROBLEM_TYPES = Collections.unmodifiableList(Arrays.asList(SINGLE_LABEL, MULTI_LABEL));
    static final List<String> PAIR_ENCODINGS = Collections.unmodifiableList(Arrays.asList(JOINT, SIAMESE));
    static final List<String> INPUTS = Collections.unmodifiableList(Arrays.asList("text", "text_pair"));

    private final List<String> inputs;
    private final List<String> labels;
    private final String problemType;
    private final double[] thresholds;
    private final String pairEncoding;
    private final LongText longText;

    private Task(List<String> inputs, List<String> labels, String problemType, double[] thresholds, String pairEncoding, LongText longText) {
        this.inputs = inputs;
        this.labels = labels;
        this.problemType = problemType;
        this.thresholds = thresholds;
        this.pairEncoding = pairEncoding;
        this.longText = longText;
    }

    /**
     * Reads and checks a manifest's task block (null: a single-text, single-label classifier) against
     * its labels and its models' declared inputs.
     *
     * @throws BundleException with one line naming the field and what would work
     */
    @SuppressWarnings("unchecked")
    static Task from(Object block, List<String> labels, List<BundleManifest.Model> models) {
        if (block != null && !(block instanceof Map)) {
            throw new BundleException("manifest.json task must be an object, got " + Json.write(block) + "; re-export the bundle");
        }
        Map<String, Object> task = block == null ? Collections.<String, Object>emptyMap() : (Map<String, Object>) block;

        List<String> inputs = Collections.singletonList("text");
        Object in = task.get("inputs");
        if (in != null) {
            if (!(in instanceof List) || ((List<Object>) in).isEmpty()) {
                throw new BundleException("manifest.json task.inputs is " + Json.write(in) + "; expected [\"text\"] or [\"text\", \"text_pair\"]");
            }
            List<String> l = new ArrayList<String>();
            for (Object o : (List<Object>) in) {
                if (!INPUTS.contains(o) || l.contains(o)) {
                    throw new BundleException.Unsupported("manifest.json task.inputs has " + Json.write(o)
                            + (l.contains(o) ? " twice" : "") + "; this app reads [\"text\"] or [\"text\", \"text_pair\"]");
                }
                l.add((String) o);
            }
            if (!l.contains("text")) {
                throw new BundleException("manifest.json task.inputs is " + Json.write(in) + " without \"text\"; expected [\"text\"] or [\"text\", \"text_pair\"]");
            }
            inputs = Collections.unmodifiableList(l);
        }

        String problemType = choice(task, "problem_type", PROBLEM_TYPES, SINGLE_LABEL);
        double[] thresholds = null;
        Object t = task.get("thresholds");
        if (MULTI_LABEL.equals(problemType)) {
            if (t == null) {
                throw new BundleException("manifest.json task.thresholds is missing; a " + MULTI_LABEL + " bundle needs one threshold in [0, 1] per label ("
                        + labels.size() + " labels, e.g. 0.5 each); re-export it");
            }
            if (!(t instanceof List)) {
                throw new BundleException("manifest.json task.thresholds is " + Json.write(t) + "; it must be a list of " + labels.size()
                        + " numbers in [0, 1], one per label; re-export the bundle");
            }
            List<Object> l = (List<Object>) t;
            if (l.size() != labels.size()) {
                throw new BundleException("manifest.json task.thresholds has " + l.size() + " value(s) but there are " + labels.size()
                        + " labels; give one threshold in [0, 1] per label, in the labels' order; re-export the bundle");
            }
            thresholds = new double[l.size()];
            for (int k = 0; k < thresholds.length; k++) {
                Object v = l.get(k);
                double d = v instanceof Number ? ((Number) v).doubleValue() : Double.NaN;
                if (!(v instanceof Number) || Double.isNaN(d) || Double.isInfinite(d) || d < 0 || d > 1) {
                    throw new BundleException("manifest.json task.thresholds[" + k + "] (label '" + labels.get(k) + "') is " + show(v)
                            + "; each threshold must be a finite number in [0, 1] (the label is predicted when its sigmoid probability is at least it); re-export the bundle");
                }
                thresholds[k] = d;
            }
        } else if (t != null) {
            throw new BundleException("manifest.json task.thresholds is given but task.problem_type is " + SINGLE_LABEL
                    + " (softmax, one label); thresholds belong to " + MULTI_LABEL + " bundles; re-export it");
        }

        String pairEncoding = choice(task, "pair_encoding", PAIR_ENCODINGS, JOINT);
        boolean pairs = inputs.contains("text_pair");
        LongText longText = LongText.from(task.get("long_text"));
        if (longText.isWindows() && pairs) {
            throw new BundleException("manifest.json task.long_text mode is windows but task.inputs is " + Json.write(inputs)
                    + "; windows read single texts (a sentence pair is cut by the tokenizer): re-export with --long-text truncate");
        }
        if (SIAMESE.equals(pairEncoding) && !pairs) {
            throw new BundleException("manifest.json task.pair_encoding is siamese but task.inputs is " + Json.write(inputs)
                    + "; a siamese bundle classifies pairs: inputs [\"text\", \"text_pair\"]; re-export it");
        }
        for (BundleManifest.Model m : models) {
            List<String> names = new ArrayList<String>();
            for (BundleManifest.Tensor x : m.inputs) {
                names.add(x.name);
            }
            if (names.isEmpty()) {
                continue;   // the model's inputs are not listed: the runtime reads them from the file
            }
            boolean takesPairInputs = names.contains(ModelInputs.PAIR_INPUT_IDS) || names.contains(ModelInputs.PAIR_ATTENTION_MASK);
            if (SIAMESE.equals(pairEncoding) && !(names.contains(ModelInputs.PAIR_INPUT_IDS) && names.contains(ModelInputs.PAIR_ATTENTION_MASK))) {
                throw new BundleException("manifest.json task.pair_encoding is siamese but " + m.file + " takes " + names
                        + "; a siamese model takes input_ids, attention_mask, pair_input_ids and pair_attention_mask; re-export the bundle");
            }
            if (!SIAMESE.equals(pairEncoding) && takesPairInputs) {
                throw new BundleException(m.file + " takes " + names + " (a siamese model) but manifest.json task.pair_encoding is "
                        + (task.get("pair_encoding") == null ? "absent (joint)" : JOINT) + "; set it to siamese, with inputs [\"text\", \"text_pair\"]; re-export the bundle");
            }
        }
        return new Task(inputs, labels, problemType, thresholds, pairEncoding, longText);
    }

    private static String choice(Map<String, Object> task, String field, List<String> allowed, String absent) {
        Object v = task.get(field);
        if (v == null) {
            return absent;
        }
        if (!allowed.contains(v)) {
            String have = v instanceof String ? "'" + v + "'" : Json.write(v);
            throw new BundleException.Unsupported("manifest.json task." + field + " " + have + " is not supported by this app; supported: "
                    + allowed.toString().replaceAll("^\\[|\\]$", "") + " (" + absent + " when absent)");
        }
        return (String) v;
    }

    private static String show(Object v) {
        if (v instanceof Double) {
            double d = (Double) v;
            return Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : String.valueOf(d);
        }
        return Json.write(v);
    }

    /** The task of a plain single-text, single-label classifier with these labels (what an absent block means). */
    public static Task singleLabel(List<String> labels) {
        return new Task(Collections.singletonList("text"), labels, SINGLE_LABEL, null, JOINT, LongText.DEFAULT);
    }

    /** ["text"] or ["text", "text_pair"]. */
    public List<String> inputs() {
        return inputs;
    }

    /** True if the model classifies a pair of texts (task.inputs has "text_pair"). */
    public boolean takesPairs() {
        return inputs.contains("text_pair");
    }

    /** {@link #SINGLE_LABEL} or {@link #MULTI_LABEL}. */
    public String problemType() {
        return problemType;
    }

    public boolean isMultiLabel() {
        return MULTI_LABEL.equals(problemType);
    }

    /** A copy of the per-label thresholds of a multi-label task; null for a single-label one. */
    public double[] thresholds() {
        return thresholds == null ? null : thresholds.clone();
    }

    /** {@link #JOINT} or {@link #SIAMESE}. */
    public String pairEncoding() {
        return pairEncoding;
    }

    public boolean isSiamese() {
        return SIAMESE.equals(pairEncoding);
    }

    /** The model's logits for one input as this task decides them: softmax and argmax, or sigmoid and thresholds. */
    public Prediction predict(float[] logits) {
        return isMultiLabel() ? Prediction.multiLabel(logits, labels, thresholds) : Prediction.of(logits, labels);
    }

    public Prediction predict(double[] logits) {
        return isMultiLabel() ? Prediction.multiLabel(logits, labels, thresholds) : Prediction.of(logits, labels);
    }

    /**
     * The model inputs of one text. In a siamese bundle the text is both sides, as
     * edge_runtime.bundle.Bundle.encode reads a single text there (and the host benchmark feeds it).
     */
    public ModelInputs inputs(TextTokenizer tokenizer, String text) {
        if (isSiamese()) {
            return inputs(tokenizer, text, text);
        }
        return ModelInputs.of(tokenizer.encode(text), tokenizer.padId());
    }

    /**
     * The model inputs of a pair: siamese, each text encoded alone (see {@link ModelInputs#encodeSiamese});
     * otherwise one sequence from the tokenizer's pair template, with its token type ids (as
     * edge_runtime.bundle.Bundle.encode encodes a (text, text_pair) row).
     */
    public ModelInputs inputs(TextTokenizer tokenizer, String text, String pair) {
        if (isSiamese()) {
            Encoding[] sides = ModelInputs.encodeSiamese(tokenizer, text, pair);
            return ModelInputs.siamese(sides[0], sides[1], tokenizer.padId());
        }
        return ModelInputs.of(tokenizer.encode(text, pair), tokenizer.padId());
    }

    /** task.long_text: truncate (the default) or windows with their stride, aggregate and max_windows. */
    public LongText longText() {
        return longText;
    }

    /** True if a text is read as windows whose logits are aggregated (task.long_text mode windows). */
    public boolean readsWindows() {
        return longText.isWindows();
    }

    /**
     * The model inputs of one text as the manifest says to read it: one row of inputs per window (windows
     * mode, at most max_windows of them, in document order), or the text's single truncated input
     * (truncate mode, also in a siamese bundle). Run each and give the logits to {@link #predictWindows}.
     */
    public List<ModelInputs> windowInputs(TextTokenizer tokenizer, String text) {
        if (!longText.isWindows()) {
            return Collections.singletonList(inputs(tokenizer, text));
        }
        List<ModelInputs> out = new ArrayList<ModelInputs>();
        for (Encoding e : longText.windows(tokenizer, text)) {
            out.add(ModelInputs.of(e, tokenizer.padId()));
        }
        return Collections.unmodifiableList(out);
    }

    /**
     * The windows' logits (one row per window, in the order {@link #windowInputs} gave them) as one row:
     * mean, or max (the window with the highest top softmax probability; multi-label, each label's highest logit).
     */
    public double[] aggregate(float[][] windowLogits) {
        return LongText.aggregate(windowLogits, longText.aggregate(), isMultiLabel());
    }

    public double[] aggregate(double[][] windowLogits) {
        return longText.aggregate(windowLogits, isMultiLabel());
    }

    /** The windows' logits aggregated, then decided as {@link #predict(double[])} does (one row: that row's prediction). */
    public Prediction predictWindows(float[][] windowLogits) {
        return predict(aggregate(windowLogits));
    }
}
