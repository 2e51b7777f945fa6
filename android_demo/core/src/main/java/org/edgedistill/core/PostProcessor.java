package org.edgedistill.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * tokenizer.json's post-processor with the truncation before it, as the reference runs them: the
 * sequences are cut to max_len minus the special tokens the post-processor adds (LongestFirst for a
 * pair, from the right), then framed.
 *
 * <p>Supported: BertProcessing ([CLS] A [SEP] B [SEP], B typed 1), RobertaProcessing
 * (&lt;s&gt; A &lt;/s&gt; &lt;/s&gt; B &lt;/s&gt;, all typed 0), TemplateProcessing (single and pair
 * templates with type ids), ByteLevel (offsets only: no change to ids), Sequence of these, or none.
 */
final class PostProcessor {
    static final String SUPPORTED = "BertProcessing, RobertaProcessing, TemplateProcessing, ByteLevel, Sequence";

    /** One step: "bert", "roberta", "template", "bytelevel". */
    private static final class Step {
        String kind;
        int clsId;
        int sepId;
        String clsToken;
        String sepToken;
        int[][] single;     // template pieces: {0 = A, 1 = B, 2 = special index, type id}
        int[][] pair;
        List<int[]> specialIds = new ArrayList<int[]>();
    }

    private final List<Step> steps;
    private final int addedSingle;
    private final int addedPair;

    private PostProcessor(List<Step> steps) {
        this.steps = steps;
        int s = 0;
        int p = 0;
        for (Step step : steps) {
            s += added(step, false);
            p += added(step, true);
        }
        this.addedSingle = s;
        this.addedPair = p;
    }

    /** [CLS] A [SEP] / [CLS] A [SEP] B [SEP]: the BERT framing, for a tokenizer without tokenizer.json. */
    static PostProcessor bert(String cls, int clsId, String sep, int sepId) {
        Step step = new Step();
        step.kind = "bert";
        step.clsToken = cls;
        step.clsId = clsId;
        step.sepToken = sep;
        step.sepId = sepId;
        List<Step> steps = new ArrayList<Step>();
        steps.add(step);
        return new PostProcessor(steps);
    }

    static PostProcessor fromJson(Object spec) {
        List<Step> steps = new ArrayList<Step>();
        if (spec != null) {
            collect(spec, steps);
        }
        int framing = 0;
        for (Step s : steps) {
            framing += "bytelevel".equals(s.kind) ? 0 : 1;
        }
        if (framing > 1) {
            throw new BundleException.Unsupported("tokenizer.json post_processor 'Sequence' frames the sequences more than once, "
                    + "which the Java core does not support");
        }
        return new PostProcessor(steps);
    }

    @SuppressWarnings("unchecked")
    private static void collect(Object spec, List<Step> steps) {
        Map<String, Object> m = JsonTokenizer.stepObject(spec, "post_processor");
        String type = String.valueOf(m.get("type"));
        Step step = new Step();
        if ("Sequence".equals(type)) {
            for (Object o : JsonTokenizer.sequenceSteps(m, "processors", "post_processor")) {
                collect(o, steps);
            }
            return;
        } else if ("ByteLevel".equals(type)) {
            step.kind = "bytelevel";
        } else if ("BertProcessing".equals(type) || "RobertaProcessing".equals(type)) {
            step.kind = "BertProcessing".equals(type) ? "bert" : "roberta";
            List<Object> cls = pairOf(m.get("cls"), type, "cls");
            List<Object> sep = pairOf(m.get("sep"), type, "sep");
            step.clsToken = (String) cls.get(0);
            step.clsId = ((Number) cls.get(1)).intValue();
            step.sepToken = (String) sep.get(0);
            step.sepId = ((Number) sep.get(1)).intValue();
        } else if ("TemplateProcessing".equals(type)) {
            step.kind = "template";
            Object specials = m.get("special_tokens");
            Map<String, Object> sp = specials instanceof Map ? (Map<String, Object>) specials : new java.util.HashMap<String, Object>();
            List<String> names = new ArrayList<String>();
            step.single = template(m.get("single"), "single", sp, names, step.specialIds);
            step.pair = template(m.get("pair"), "pair", sp, names, step.specialIds);
        } else {
            throw JsonTokenizer.unsupportedType("post_processor", type, SUPPORTED);
        }
        steps.add(step);
    }

    @SuppressWarnings("unchecked")
    private static List<Object> pairOf(Object o, String type, String field) {
        if (!(o instanceof List) || ((List<Object>) o).size() != 2 || !(((List<Object>) o).get(0) instanceof String)
                || !(((List<Object>) o).get(1) instanceof Number)) {
            throw new BundleException("tokenizer.json post_processor '" + type + "' has no [token, id] " + field + "; re-export the bundle");
        }
        return (List<Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static int[][] template(Object o, String which, Map<String, Object> specials, List<String> names, List<int[]> ids) {
        if (!(o instanceof List)) {
            throw new BundleException("tokenizer.json TemplateProcessing has no '" + which + "' template; re-export the bundle");
        }
        List<Object> pieces = (List<Object>) o;
        int[][] out = new int[pieces.size()][];
        for (int k = 0; k < out.length; k++) {
            Map<String, Object> piece = (Map<String, Object>) pieces.get(k);
            if (piece.get("Sequence") instanceof Map) {
                Map<String, Object> s = (Map<String, Object>) piece.get("Sequence");
                int type = ((Number) s.get("type_id")).intValue();
                out[k] = new int[] {"B".equals(s.get("id")) ? 1 : 0, type};
            } else if (piece.get("SpecialToken") instanceof Map) {
                Map<String, Object> s = (Map<String, Object>) piece.get("SpecialToken");
                String name = (String) s.get("id");
                Object def = specials.get(name);
                int[] tokenIds = def instanceof Map ? SubwordModel.ints(((Map<String, Object>) def).get("ids")) : null;
                if (tokenIds == null) {
                    throw new BundleException("tokenizer.json TemplateProcessing uses special token '" + name
                            + "' without ids in special_tokens; re-export the bundle");
                }
                int index = names.indexOf(name);
                if (index < 0) {
                    names.add(name);
                    ids.add(tokenIds);
                    index = names.size() - 1;
                }
                out[k] = new int[] {2, ((Number) s.get("type_id")).intValue(), index};
            } else {
                throw new BundleException("tokenizer.json TemplateProcessing '" + which + "' piece " + k
                        + " is neither Sequence nor SpecialToken; re-export the bundle");
            }
        }
        return out;
    }

    private static int added(Step s, boolean pair) {
        if ("bert".equals(s.kind)) {
            return pair ? 3 : 2;
        }
        if ("roberta".equals(s.kind)) {
            return pair ? 4 : 2;
        }
        if ("template".equals(s.kind)) {
            int n = 0;
            for (int[] piece : pair ? s.pair : s.single) {
                if (piece[0] == 2) {
                    n += s.specialIds.get(piece[2]).length;
                }
            }
            return n;
        }
        return 0;
    }

    /** How many special tokens are added to one text (pair false) or to a pair. */
    int addedTokens(boolean pair) {
        return pair ? addedPair : addedSingle;
    }

    /**
     * How many tokens of each sequence the reference keeps: {@code lengths} are the sequences' lengths
     * (one or two), {@code maxLen} the truncation max_length before the special tokens are reserved.
     */
    int[] keep(int[] lengths, int maxLen) {
        int added = addedTokens(lengths.length == 2);
        int max = maxLen - added;
        if (max < 0) {
            throw new IllegalArgumentException("max_len " + maxLen + " leaves no room for the " + added + " special tokens of a "
                    + (lengths.length == 2 ? "pair" : "single text"));
        }
        if (max == 0) {
            return lengths.length == 2 ? new int[] {0, 0} : new int[] {0};
        }
        int total = 0;
        for (int n : lengths) {
            total += n;
        }
        if (total <= max) {
            return lengths.clone();
        }
        if (lengths.length == 1) {
            return new int[] {max};
        }
        int n1 = lengths[0];
        int n2 = lengths[1];
        boolean swap = false;
        if (n1 > n2) {
            swap = true;
            int t = n1;
            n1 = n2;
            n2 = t;
        }
        if (n1 > max) {
            n2 = n1;
        } else {
            n2 = Math.max(n1, max - n1);
        }
        if (n1 + n2 > max) {
            n1 = max / 2;
            n2 = n1 + max % 2;
        }
        if (swap) {
            int t = n1;
            n1 = n2;
            n2 = t;
        }
        return new int[] {Math.min(n1, lengths[0]), Math.min(n2, lengths[1])};
    }

    /** The framed ids and type ids of the (already truncated) sequences a and, if not null, b. */
    int[][] process(int[] a, int[] b) {
        List<int[][]> encodings = new ArrayList<int[][]>();
        encodings.add(new int[][] {a, new int[a.length]});
        if (b != null) {
            int[] types = new int[b.length];
            java.util.Arrays.fill(types, 1);
            encodings.add(new int[][] {b, types});
        }
        for (Step s : steps) {
            encodings = apply(s, encodings);
        }
        IntList ids = new IntList(64);
        IntList types = new IntList(64);
        for (int[][] e : encodings) {
            ids.addAll(e[0]);
            types.addAll(e[1]);
        }
        return new int[][] {ids.toArray(), types.toArray()};
    }

    private static List<int[][]> apply(Step s, List<int[][]> in) {
        List<int[][]> out = new ArrayList<int[][]>();
        if ("bytelevel".equals(s.kind)) {
            return in;
        }
        if ("template".equals(s.kind)) {
            if (in.size() > 2) {
                throw new IllegalStateException("TemplateProcessing got " + in.size() + " sequences");
            }
            for (int[] piece : in.size() == 2 ? s.pair : s.single) {
                if (piece[0] == 2) {
                    int[] ids = s.specialIds.get(piece[2]);
                    int[] types = new int[ids.length];
                    java.util.Arrays.fill(types, piece[1]);
                    out.add(new int[][] {ids, types});
                } else {
                    int[] ids = in.get(Math.min(piece[0], in.size() - 1))[0];
                    int[] types = new int[ids.length];
                    java.util.Arrays.fill(types, piece[1]);
                    out.add(new int[][] {ids, types});
                }
            }
            return out;
        }
        boolean roberta = "roberta".equals(s.kind);
        for (int i = 0; i < in.size(); i++) {
            int[] ids = in.get(i)[0];
            int[] types = roberta ? new int[ids.length] : in.get(i)[1];
            IntList x = new IntList(ids.length + 3);
            IntList t = new IntList(ids.length + 3);
            if (i == 0) {
                x.add(s.clsId);
                t.add(0);
            } else if (roberta) {
                x.add(s.sepId);
                t.add(0);
            }
            x.addAll(ids);
            t.addAll(types);
            x.add(s.sepId);
            t.add(i == 0 || roberta ? 0 : 1);
            out.add(new int[][] {x.toArray(), t.toArray()});
        }
        return out;
    }
}
