package org.edgedistill.demo;

import java.io.Closeable;
import java.io.File;
import org.edgedistill.core.BundleException;
import org.edgedistill.core.BundleManifest;

/** One forward pass at batch 1: ids and mask of one text in, that text's logits out. */
interface ModelRunner extends Closeable {
    float[] run(long[] inputIds, long[] attentionMask) throws Exception;

    /** "onnxruntime-android" or "litert". */
    String runtime();

    String runtimeVersion();

    /** Opens the model file with the runtime its format needs. */
    final class Factory {
        private Factory() {}

        static ModelRunner open(File modelFile, BundleManifest.Model entry, int threads, int padId) throws Exception {
            if ("onnx".equals(entry.format)) {
                return new OrtModelRunner(modelFile, entry, threads);
            }
            if ("tflite".equals(entry.format)) {
                return new LiteRtModelRunner(modelFile, entry, threads, padId);
            }
            throw new BundleException.Unsupported("this app runs onnx (onnxruntime-android) and tflite (LiteRT) models; "
                    + entry.file + " is " + entry.format + "; export the bundle with --format onnx");
        }
    }
}
