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
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.edgedistill.core.BundleManifest;
import org.edgedistill.core.BundleSource;
import org.edgedistill.core.EdgeBundle;
import org.edgedistill.core.Encoding;
import org.edgedistill.core.Prediction;

/**
 * Type a sentence, see the label, every label's probability, the token count and the latency.
 *
 * <p>Loads the bundle packed under assets/bundle, or a pushed one given with
 * {@code adb shell am start -n org.edgedistill.demo/.MainActivity --es bundle /data/local/tmp/edgedistill/tiny}.
 */
public final class MainActivity extends Activity {
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private TextView status;
    private TextView result;
    private EditText input;
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
        classify = (Button) findViewById(R.id.classify);
        classify.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                classify(input.getText().toString());
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
            runner = ModelRunner.Factory.open(new File(dir, entry.file), entry, 1, b.padId());
            bundle = b;
            final double ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6;
            runOnUiThread(new Runnable() {
                @Override
                public void run() {
                    status.setText(String.format(Locale.US, "%s: %s %s on %s %s, labels %s, max %d tokens (loaded and verified in %.0f ms)",
                            b.manifest().name(), entry.format, entry.precision, runner.runtime(), runner.runtimeVersion(), b.labels(),
                            b.maxLen(), ms));
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

    private void classify(final String text) {
        classify.setEnabled(false);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String shown;
                try {
                    EdgeBundle b = bundle;
                    long t0 = System.nanoTime();
                    Encoding e = b.textTokenizer().encode(text);
                    long[] ids = e.inputIds(e.length(), b.padId());
                    long[] mask = e.attentionMask(e.length());
                    long t1 = System.nanoTime();
                    float[] logits = runner.run(ids, mask);
                    long t2 = System.nanoTime();
                    Prediction p = Prediction.of(logits, b.labels());
                    shown = describe(p, b.labels(), e, (t1 - t0) / 1e6, (t2 - t1) / 1e6);
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

    private static String describe(Prediction p, List<String> labels, Encoding e, double tokenizeMs, double inferMs) {
        StringBuilder b = new StringBuilder();
        b.append(p.label().toUpperCase(Locale.ROOT)).append(String.format(Locale.US, "  %.1f%%%n%n", 100 * p.probability()));
        double[] probs = p.probabilities();
        for (int k = 0; k < probs.length; k++) {
            b.append(String.format(Locale.US, "%-12s %6.2f%%%n", labels.get(k), 100 * probs[k]));
        }
        b.append(String.format(Locale.US, "%n%d tokens%s%ntokenize %.2f ms, model %.2f ms", e.length(),
                e.truncated() ? " (truncated to max_len)" : "", tokenizeMs, inferMs));
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
