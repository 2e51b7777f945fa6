package org.edgedistill.demo;

import java.io.Closeable;
import java.io.File;
import org.edgedistill.core.BundleException;
import org.edgedistill.core.BundleManifest;
import org.edgedistill.core.ModelInputs;

/**
 * One forward pass at batch 1: the model inputs of one text or pair in (each input the model names is fed
 * its row: input_ids, attention_mask, token_type_ids, and pair_input_ids / pair_attention_mask for a
 * siamese model), its logits out.
 */
interface ModelRunner extends Closeable {
    float[] run(ModelInputs inputs) throws Exception;

    /** "onnxruntime-android", "litert" or "executorch". */
    String runtime();

    String runtimeVersion();

    /** Opens the model file with the runtime its format needs. */
    final class Factory {
        private Factory() {}

        static ModelRunner open(File modelFile, BundleManifest.Model entry, int threads) throws Exception {
            if ("onnx".equals(entry.format)) {
                return new OrtModelRunner(modelFile, entry, threads);
            }
            if ("tflite".equals(entry.format)) {
                return new LiteRtModelRunner(modelFile, entry, threads);
            }
            if ("executorch".equals(entry.format)) {
                return new ExecuTorchModelRunner(modelFile, entry, threads);
            }
            throw new BundleException.Unsupported("this app runs onnx (onnxruntime-android), tflite (LiteRT) and executorch "
                    + "(ExecuTorch, XNNPACK) models; " + entry.file + " is " + entry.format + "; export the bundle with --format onnx");
        }
    }
}
