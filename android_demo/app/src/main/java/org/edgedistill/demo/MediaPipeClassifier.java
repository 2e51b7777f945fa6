package org.edgedistill.demo;

import android.content.Context;
import com.google.mediapipe.tasks.components.containers.Category;
import com.google.mediapipe.tasks.components.containers.Classifications;
import com.google.mediapipe.tasks.core.BaseOptions;
import com.google.mediapipe.tasks.text.textclassifier.TextClassifier;
import com.google.mediapipe.tasks.text.textclassifier.TextClassifier.TextClassifierOptions;
import com.google.mediapipe.tasks.text.textclassifier.TextClassifierResult;
import java.io.Closeable;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.List;
import java.util.Map;
import org.edgedistill.core.BundleException;
import org.edgedistill.core.BundleManifest;

/**
 * Raw text in, one score per label out: a bundle's MediaPipe model ({@code <name>.fp32.mediapipe.tflite}, manifest
 * entry {@code "input": "text", "runtime": "mediapipe-tasks"}) run by MediaPipe Tasks' TextClassifier. The file
 * carries its WordPiece vocabulary and labels as TFLite metadata, so no tokenizer runs in the app: MediaPipe's BERT
 * preprocessor tokenizes (ASCII lowercasing, no accent stripping: see docs/export.md for the measured difference).
 *
 * <p>Scores are in the manifest's label order: softmax probabilities for a single-label bundle, per-label sigmoids
 * for a multi-label one (compare them with the manifest's task.thresholds). Source only: it is not built in this
 * repository's CI.
 */
final class MediaPipeClassifier implements Closeable {
    private final TextClassifier classifier;
    private final List<String> labels;

    private MediaPipeClassifier(TextClassifier classifier, List<String> labels) {
        this.classifier = classifier;
        this.labels = labels;
    }

    /** Opens the bundle's MediaPipe model; throws BundleException.Unsupported if the bundle has none. */
    @SuppressWarnings("unchecked")
    static MediaPipeClassifier open(Context context, File bundleDir, BundleManifest manifest) throws IOException {
        String file = null;
        Object models = manifest.raw().get("models");
        for (Object o : models instanceof List ? (List<Object>) models : java.util.Collections.emptyList()) {
            Map<String, Object> e = o instanceof Map ? (Map<String, Object>) o : java.util.Collections.<String, Object>emptyMap();
            if ("mediapipe-tasks".equals(e.get("runtime")) && e.get("file") instanceof String) {
                file = (String) e.get("file");
                break;
            }
        }
        if (file == null) {
            throw new BundleException.Unsupported("the bundle has no MediaPipe model; export it with `edgedistill export --format tflite --mediapipe`");
        }
        // setModelAssetPath reads APK assets; a bundle copied to storage is handed over as a (direct) mapped buffer
        MappedByteBuffer buffer;
        try (FileInputStream in = new FileInputStream(new File(bundleDir, file)); FileChannel channel = in.getChannel()) {
            buffer = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size());
        }
        TextClassifierOptions options = TextClassifierOptions.builder()
                .setBaseOptions(BaseOptions.builder().setModelAssetBuffer(buffer).build())
                .setMaxResults(-1)
                .build();
        return new MediaPipeClassifier(TextClassifier.createFromOptions(context, options), manifest.labels());
    }

    /** One score per label, in the manifest's label order. */
    float[] classify(String text) {
        TextClassifierResult result = classifier.classify(text);
        Classifications head = result.classificationResult().classifications().get(0);
        float[] scores = new float[labels.size()];
        for (Category c : head.categories()) {
            if (c.index() >= 0 && c.index() < scores.length) {
                scores[c.index()] = c.score();
            }
        }
        return scores;
    }

    /** The label with the highest score. */
    String top(String text) {
        float[] scores = classify(text);
        int best = 0;
        for (int i = 1; i < scores.length; i++) {
            if (scores[i] > scores[best]) {
                best = i;
            }
        }
        return labels.get(best);
    }

    @Override
    public void close() {
        classifier.close();
    }
}
