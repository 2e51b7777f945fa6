package org.edgedistill.demo;

import android.app.Activity;
import android.os.Bundle;
import android.os.SystemClock;
import android.util.Log;
import android.view.View;
import android.widget.Button;
import android.widget.EditText;
import android.widget.TextView;
import java.io.File;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.edgedistill.core.BundleManifest;
import org.edgedistill.core.BundleSource;
import org.edgedistill.core.EdgeBundle;
import org.edgedistill.core.ModelInputs;
import org.edgedistill.core.Prediction;
import org.edgedistill.core.Task;

/**
 * Type a sentence (two for a sentence-pair bundle), see the label (every label over its threshold for a
 * multi-label bundle), every label's probability, the token count and the latency.
 *
 * <p>Loads the bundle packed under assets/bundle, or a pushed one given with
 * {@code adb shell am start -n org.edgedistill.demo/.MainActivity --es bundle /data/local/tmp/edgedistill/tiny}.
 */
public final class MainActivity extends Activity {
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private TextView status;
    private TextView result;
    private EditText input;
    private EditText inputPair;
    private Button classify;
    private volatile EdgeBundle bundle;
    private volatile ModelRunner runner;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        status = (TextView) findViewById(R.id.status);
        result = (TextView) findViewById(R.id.result);
        input = (EditText) findViewById(R.id.input);
        inputPair = (EditText) findViewById(R.id.input_pair);
        classify = (Button) findViewById(R.id.classify);
        classify.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                // the second box is shown only when the bundle's task takes pairs (task.inputs has text_pair)
                classify(input.getText().toString(), inputPair.getVisibility() == View.VISIBLE ? inputPair.getText().toString() : null);
            }
        });
        final String pushed = getIntent().getStringExtra("bundle");
        worker.execute(new Runnable() {
            @Override
            public void run() {
                load(pushed);
            }
        });
    }

    private void load(String pushedPath) {
        try {
            long t0 = SystemClock.elapsedRealtimeNanos();
            File dir = pushedPath != null ? new File(pushedPath) : AssetBundle.extract(this);
            final EdgeBundle b = EdgeBundle.open(new BundleSource.Directory(dir), true);
            final BundleManifest.Model entry = b.manifest().defaultModel();
            runner = ModelRunner.Factory.open(new File(dir, entry.file), entry, 1);
            bundle = b;
            final double ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6;
            runOnUiThread(new Runnable() {
                @Override
                public void run() {
                    Task task = b.task();
                    status.setText(String.format(Locale.US, "%s: %s %s on %s %s, %slabels %s, %smax %d tokens (loaded and verified in %.0f ms)",
                            b.manifest().name(), entry.format, entry.precision, runner.runtime(), runner.runtimeVersion(),
                            task.isMultiLabel() ? "multi-label " : "", b.labels(),
                            task.takesPairs() ? "sentence pairs (" + task.pairEncoding() + "), " : "", b.maxLen(), ms));
                    if (task.takesPairs()) {
                        inputPair.setVisibility(View.VISIBLE);
                    }
                    classify.setEnabled(true);
                }
            });
        } catch (final Exception e) {
            Log.e(BenchmarkInstrumentation.TAG, "cannot load the bundle", e);
            runOnUiThread(new Runnable() {
                @Override
                public void run() {
                    status.setText("Cannot load the bundle: " + e.getMessage()
                            + "\n\nCopy a bundle folder's files into android_demo/app/src/main/assets/bundle and rebuild (see android_demo/README.md).");
                }
            });
        }
    }

    /** pair: the second text of a pair bundle, else null. */
    private void classify(final String text, final String pair) {
        classify.setEnabled(false);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String shown;
                try {
                    EdgeBundle b = bundle;
                    long t0 = System.nanoTime();
                    // one text: its one truncated input, or every window of it when the manifest says task.long_text windows;
                    // a pair: joint (pair template, token type ids) or siamese (each text alone), as the manifest says
                    List<ModelInputs> ins = pair == null ? b.windowInputs(text) : Collections.singletonList(b.inputs(text, pair));
                    long t1 = System.nanoTime();
                    float[][] logits = new float[ins.size()][];
                    for (int w = 0; w < logits.length; w++) {
                        logits[w] = runner.run(ins.get(w));   // batch 1 per window
                    }
                    long t2 = System.nanoTime();
                    // windows aggregated (mean, or max) then softmax + argmax, or sigmoid + per-label thresholds
                    Prediction p = b.predict(logits);
                    shown = describe(p, b.labels(), b.task(), ins, b.textTokenizer().truncation().toString(), (t1 - t0) / 1e6, (t2 - t1) / 1e6);
                } catch (Exception ex) {
                    Log.e(BenchmarkInstrumentation.TAG, "classification failed", ex);
                    shown = "error: " + ex.getMessage();
                }
                final String shownText = shown;
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        result.setText(shownText);
                        classify.setEnabled(true);
                    }
                });
            }
        });
    }

    private static String describe(Prediction p, List<String> labels, Task task, List<ModelInputs> ins, String truncation, double tokenizeMs,
                                   double inferMs) {
        ModelInputs in = ins.get(0);
        StringBuilder b = new StringBuilder();
        double[] probs = p.probabilities();
        if (p.isMultiLabel()) {
            // every label at or over its threshold, maybe none; then each label's own probability and threshold
            StringBuilder chosen = new StringBuilder();
            for (String label : p.predictedLabels()) {
                chosen.append(chosen.length() > 0 ? ", " : "").append(label.toUpperCase(Locale.ROOT));
            }
            b.append(chosen.length() > 0 ? chosen.toString() : "NO LABEL (none reaches its threshold)").append(String.format(Locale.US, "%n%n"));
            double[] thresholds = task.thresholds();
            for (int k = 0; k < probs.length; k++) {
                b.append(String.format(Locale.US, "%s %-12s %6.2f%%  (threshold %.2f%%)%n", p.predictedIndices().contains(k) ? "+" : " ",
                        labels.get(k), 100 * probs[k], 100 * thresholds[k]));
            }
        } else {
            b.append(p.label().toUpperCase(Locale.ROOT)).append(String.format(Locale.US, "  %.1f%%%n%n", 100 * p.probability()));
            for (int k = 0; k < probs.length; k++) {
                b.append(String.format(Locale.US, "%-12s %6.2f%%%n", labels.get(k), 100 * probs[k]));
            }
        }
        if (task.readsWindows()) {
            b.append(String.format(Locale.US, "%n%d window(s) of up to %d tokens, logits aggregated by %s%s%ntokenize %.2f ms, model %.2f ms",
                    ins.size(), in.width(), task.longText().aggregate(),
                    ins.size() == task.longText().maxWindows() && in.truncated() ? " (at most " + ins.size() + " windows: evenly spaced)" : "",
                    tokenizeMs, inferMs));
            return b.toString();
        }
        b.append(String.format(Locale.US, "%n%d tokens%s%s%ntokenize %.2f ms, model %.2f ms", in.tokens(),
                in.has(ModelInputs.PAIR_INPUT_IDS) ? " (two texts, each encoded alone)" : "",
                in.truncated() ? " (cut to max_len: " + truncation + ")" : "", tokenizeMs, inferMs));
        return b.toString();
    }

    @Override
    protected void onDestroy() {
        // closed on the worker, after any classification still running there
        worker.execute(new Runnable() {
            @Override
            public void run() {
                try {
                    if (runner != null) {
                        runner.close();
                    }
                } catch (Exception e) {
                    Log.w(BenchmarkInstrumentation.TAG, "closing the model failed", e);
                }
            }
        });
        worker.shutdown();
        super.onDestroy();
    }
}
