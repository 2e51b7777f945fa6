package org.edgedistill.demo;

import java.io.File;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.edgedistill.core.BundleManifest;
import org.edgedistill.core.ModelInputs;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;

/**
 * LiteRT (the TFLite interpreter) on the CPU, reading a file the way edge_runtime.litert does on the
 * host: one signature per sequence-length bucket ("seq16", "seq32", ...; batch 1, int32 inputs),
 * each text run in the smallest bucket that holds it, right-padded with the pad id and mask 0;
 * variable tensors reset before every run when the exporter says the file keeps LSTM state in them
 * ("edgedistill.tflite.reset_variables"); quantized logits mapped back with their scale and zero point.
 */
final class LiteRtModelRunner implements ModelRunner {
    static final String RESET_KEY = "edgedistill.tflite.reset_variables";

    private final Interpreter interpreter;
    private final String fileName;
    private final boolean resetVariables;
    private final TreeMap<Integer, String> signatureByBucket = new TreeMap<Integer, String>();

    LiteRtModelRunner(File modelFile, BundleManifest.Model entry, int threads) {
        Interpreter.Options options = new Interpreter.Options();
        options.setNumThreads(threads);
        this.interpreter = new Interpreter(modelFile, options);
        this.fileName = entry.file;
        this.resetVariables = "true".equals(entry.meta(RESET_KEY));
        for (String key : interpreter.getSignatureKeys()) {
            int[] shape = interpreter.getInputTensorFromSignature("input_ids", key).shape();
            if (shape.length != 2 || shape[0] != 1) {
                throw new IllegalArgumentException(entry.file + ": signature " + key + " takes input_ids of shape "
                        + java.util.Arrays.toString(shape) + "; expected [1, length] (export with edgedistill export --format tflite)");
            }
            signatureByBucket.put(shape[1], key);
        }
        if (signatureByBucket.isEmpty()) {
            throw new IllegalArgumentException(entry.file + " has no signatures; export it with edgedistill export --format tflite");
        }
        if (resetVariables) {
            // a signature's subgraph is allocated on its first run, and resetting needs every one allocated
            for (Map.Entry<Integer, String> e : signatureByBucket.entrySet()) {
                runSignature(e.getValue(), e.getKey(), null);
            }
        }
    }

    @Override
    public float[] run(ModelInputs inputs) {
        // a siamese pair's rows are as wide as its longer side: the bucket holds both
        Map.Entry<Integer, String> bucket = signatureByBucket.ceilingEntry(inputs.width());
        if (bucket == null) {
            throw new IllegalArgumentException("a text of " + inputs.width() + " tokens does not fit the largest bucket ("
                    + signatureByBucket.lastKey() + ") of " + fileName + "; benchmark a shorter seq_len or re-export with a larger bucket");
        }
        if (resetVariables) {
            interpreter.resetVariableTensors();
        }
        return runSignature(bucket.getValue(), bucket.getKey(), inputs);
    }

    /** One signature on the feed's rows right-padded to its width (pad id for ids, 0 for masks and type ids); null feeds zeros. */
    private float[] runSignature(String key, int width, ModelInputs feed) {
        Map<String, Object> inputs = new HashMap<String, Object>();
        for (String name : interpreter.getSignatureInputs(key)) {
            long[] src;
            try {
                src = feed == null ? null : feed.get(name);   // token_type_ids: the encoding's, 1 over a joint pair's second text
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(fileName + ": " + e.getMessage());
            }
            long pad = feed == null ? 0 : feed.padValue(name);
            Tensor t = interpreter.getInputTensorFromSignature(name, key);
            if (t.dataType() == DataType.INT64) {
                long[][] row = new long[1][width];
                for (int k = 0; k < width; k++) {
                    row[0][k] = src != null && k < src.length ? src[k] : pad;
                }
                inputs.put(name, row);
            } else {
                int[][] row = new int[1][width];
                for (int k = 0; k < width; k++) {
                    row[0][k] = (int) (src != null && k < src.length ? src[k] : pad);
                }
                inputs.put(name, row);
            }
        }
        String[] outputNames = interpreter.getSignatureOutputs(key);
        String outName = java.util.Arrays.asList(outputNames).contains("logits") ? "logits" : outputNames[0];
        Tensor out = interpreter.getOutputTensorFromSignature(outName, key);
        int classes = out.shape()[out.shape().length - 1];
        Map<String, Object> outputs = new HashMap<String, Object>();
        if (out.dataType() == DataType.FLOAT32) {
            float[][] logits = new float[1][classes];
            outputs.put(outName, logits);
            interpreter.runSignature(inputs, outputs, key);
            return logits[0];
        }
        // static int8 files may emit quantized logits
        byte[][] q = new byte[1][classes];
        outputs.put(outName, q);
        interpreter.runSignature(inputs, outputs, key);
        Tensor.QuantizationParams params = out.quantizationParams();
        float[] logits = new float[classes];
        for (int k = 0; k < classes; k++) {
            int v = out.dataType() == DataType.UINT8 ? (q[0][k] & 0xff) : q[0][k];
            logits[k] = params.getScale() == 0 ? v : (v - params.getZeroPoint()) * params.getScale();
        }
        return logits;
    }

    @Override
    public String runtime() {
        return "litert";
    }

    @Override
    public String runtimeVersion() {
        return BuildConfig.LITERT_VERSION;
    }

    @Override
    public void close() {
        interpreter.close();
    }
}
