package org.edgedistill.demo;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.edgedistill.core.BundleManifest;
import org.edgedistill.core.ModelInputs;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * ExecuTorch (org.pytorch.executorch, XNNPACK delegate) on the CPU, run like edge_runtime.executorch.ExecuTorchRunner
 * on the host. A .pte written by export.executorch holds either one method "forward" with dynamic batch and sequence
 * (Transformers: the row is fed at its own width) or one method "seq&lt;N&gt;" per sequence-length bucket at batch 1
 * (LSTM / GRU students: the smallest bucket that holds the text, right-padded with the pad id and mask 0). Which one
 * the file is, and its buckets, come from the manifest entry's metadata (edgedistill.executorch.shapes,
 * edgedistill.buckets), the same JSON the file returns from its constant method "edgedistill_metadata".
 * Inputs are int64 in the order edgedistill.inputs lists them; the output is (1, C) float32 logits.
 */
final class ExecuTorchModelRunner implements ModelRunner {
    static final String SHAPES_KEY = "edgedistill.executorch.shapes";
    static final String BUCKETS_KEY = "edgedistill.buckets";
    static final String INPUTS_KEY = "edgedistill.inputs";

    private final Module module;
    private final String fileName;
    private final boolean dynamic;
    private final int maxLength;
    private final List<String> inputNames = new ArrayList<String>();
    private final TreeMap<Integer, String> methodByBucket = new TreeMap<Integer, String>();

    ExecuTorchModelRunner(File modelFile, BundleManifest.Model entry, int threads) {
        // the XNNPACK threadpool is process-wide in the ExecuTorch Android library (it sizes it to the big cores);
        // `threads` is recorded by the benchmark, not applied here
        this.module = Module.load(modelFile.getPath());
        this.fileName = entry.file;
        this.dynamic = "dynamic".equals(entry.meta(SHAPES_KEY));
        String inputs = entry.meta(INPUTS_KEY);
        if (inputs != null && !inputs.isEmpty()) {
            for (String name : inputs.split(",")) {
                inputNames.add(name);
            }
        } else {
            for (BundleManifest.Tensor t : entry.inputs) {
                inputNames.add(t.name);
            }
        }
        String buckets = entry.meta(BUCKETS_KEY);
        if (buckets == null || buckets.isEmpty()) {
            throw new IllegalArgumentException(entry.file + " records no " + BUCKETS_KEY + "; re-export it with edgedistill export --format executorch");
        }
        for (String b : buckets.split(",")) {
            int length = Integer.parseInt(b.trim());
            methodByBucket.put(length, "seq" + length);
        }
        this.maxLength = methodByBucket.lastKey();
    }

    @Override
    public float[] run(ModelInputs inputs) {
        // a siamese pair's rows are as wide as its longer side: the bucket holds both
        int width;
        String method;
        if (dynamic) {
            if (inputs.width() > maxLength) {
                throw new IllegalArgumentException("a text of " + inputs.width() + " tokens is longer than " + fileName + " takes ("
                        + maxLength + "); benchmark a shorter seq_len or re-export with a larger bucket");
            }
            width = Math.max(2, inputs.width());   // the program's sequence axis starts at 2
            method = "forward";
        } else {
            Map.Entry<Integer, String> bucket = methodByBucket.ceilingEntry(inputs.width());
            if (bucket == null) {
                throw new IllegalArgumentException("a text of " + inputs.width() + " tokens does not fit the largest bucket ("
                        + maxLength + ") of " + fileName + "; benchmark a shorter seq_len or re-export with a larger bucket");
            }
            width = bucket.getKey();
            method = bucket.getValue();
        }
        EValue[] args = new EValue[inputNames.size()];
        for (int i = 0; i < args.length; i++) {
            String name = inputNames.get(i);
            long[] src;
            try {
                src = inputs.get(name);   // token_type_ids: the encoding's, 1 over a joint pair's second text
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(fileName + ": " + e.getMessage());
            }
            long pad = inputs.padValue(name);
            long[] row = new long[width];
            for (int k = 0; k < width; k++) {
                row[k] = k < src.length ? src[k] : pad;
            }
            args[i] = EValue.from(Tensor.fromBlob(row, new long[] {1, width}));
        }
        EValue[] out = module.execute(method, args);
        return out[0].toTensor().getDataAsFloatArray();
    }

    @Override
    public String runtime() {
        return "executorch";
    }

    @Override
    public String runtimeVersion() {
        // app/build.gradle: from executorchVersion in gradle.properties
        return BuildConfig.EXECUTORCH_VERSION;
    }

    @Override
    public void close() {
        module.destroy();
    }
}
