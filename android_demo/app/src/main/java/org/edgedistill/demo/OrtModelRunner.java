package org.edgedistill.demo;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.File;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.edgedistill.core.BundleManifest;
import org.edgedistill.core.ModelInputs;

/**
 * onnxruntime-android on the CPU, set up like edge_runtime.runners.OnnxRunner on the host: intra-op
 * threads as asked, one inter-op thread, sequential execution, and the graph optimization level
 * the exporter recorded in the file's metadata (fp16 recurrent models need "extended").
 */
final class OrtModelRunner implements ModelRunner {
    static final String LEVEL_KEY = "edgedistill.session.graph_optimization_level";

    private final OrtEnvironment env;
    private final OrtSession.SessionOptions options;   // must outlive the session
    private final OrtSession session;
    private final List<String> inputNames;
    private final Map<String, String> dtypes = new HashMap<String, String>();

    OrtModelRunner(File modelFile, BundleManifest.Model entry, int threads) throws OrtException {
        env = OrtEnvironment.getEnvironment();
        String level = "all";
        // read the recorded level from a session built without optimizations: an optimized build
        // of a model that needs a lower level could itself fail
        try (OrtSession.SessionOptions probeOptions = new OrtSession.SessionOptions()) {
            probeOptions.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            try (OrtSession probe = env.createSession(modelFile.getPath(), probeOptions)) {
                String recorded = probe.getMetadata().getCustomMetadata().get(LEVEL_KEY);
                if (recorded != null) {
                    level = recorded;
                }
            }
        }
        options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(threads);
        options.setInterOpNumThreads(1);
        options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
        options.setOptimizationLevel("extended".equals(level) ? OrtSession.SessionOptions.OptLevel.EXTENDED_OPT
                : "basic".equals(level) ? OrtSession.SessionOptions.OptLevel.BASIC_OPT : OrtSession.SessionOptions.OptLevel.ALL_OPT);
        session = env.createSession(modelFile.getPath(), options);
        inputNames = new ArrayList<String>(session.getInputNames());
        for (BundleManifest.Tensor t : entry.inputs) {
            dtypes.put(t.name, t.dtype);
        }
    }

    @Override
    public float[] run(ModelInputs inputs) throws OrtException {
        long[] shape = {1, inputs.width()};
        Map<String, OnnxTensor> feeds = new LinkedHashMap<String, OnnxTensor>();
        try {
            for (String name : inputNames) {
                // token_type_ids are the encoding's (1 over a joint pair's second text); an input the
                // feed lacks is refused by name
                long[] data = inputs.get(name);
                if ("int32".equals(dtypes.get(name))) {
                    int[] narrow = new int[data.length];
                    for (int k = 0; k < data.length; k++) {
                        narrow[k] = (int) data[k];
                    }
                    feeds.put(name, OnnxTensor.createTensor(env, IntBuffer.wrap(narrow), shape));
                } else {
                    feeds.put(name, OnnxTensor.createTensor(env, LongBuffer.wrap(data), shape));
                }
            }
            try (OrtSession.Result result = session.run(feeds)) {
                float[][] logits = (float[][]) result.get(0).getValue();
                return logits[0];
            }
        } finally {
            for (OnnxTensor t : feeds.values()) {
                t.close();
            }
        }
    }

    @Override
    public String runtime() {
        return "onnxruntime-android";
    }

    @Override
    public String runtimeVersion() {
        return BuildConfig.ORT_VERSION;
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            // closing a session that already failed: nothing left to free
        }
        options.close();
    }
}
