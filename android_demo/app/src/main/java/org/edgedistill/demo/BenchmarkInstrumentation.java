package org.edgedistill.demo;

import android.app.Activity;
import android.app.Instrumentation;
import android.os.Bundle;
import android.os.SystemClock;
import android.util.Log;
import java.io.File;
import org.edgedistill.core.BenchInput;
import org.edgedistill.core.BenchReport;
import org.edgedistill.core.BundleManifest;
import org.edgedistill.core.BundleSource;
import org.edgedistill.core.EdgeBundle;
import org.edgedistill.core.ModelInputs;

/**
 * The on-device benchmark. Started over adb (edge_runtime/adb.py does this for you):
 *
 * <pre>
 * adb shell am instrument -w -e bundle /data/local/tmp/edgedistill/tiny -e runs 100 -e warmup 10 \
 *     -e threads 1 -e seq_len 64 [-e model tiny.int8.onnx] [-e ids 101,1996,...] \
 *     org.edgedistill.demo/.BenchmarkInstrumentation
 * </pre>
 *
 * Without -e bundle it times the bundle packed in the APK. It verifies every file's sha256, loads
 * the model (load time measured), runs warm-up then timed runs at batch 1 on a fixed feed (the ids
 * given, else the default passage tokenized to seq_len), and prints exactly one JSON line
 * (org.edgedistill.core.BenchReport), also on failure ({"error": ...}).
 */
public final class BenchmarkInstrumentation extends Instrumentation {
    static final String TAG = "edgedistill";

    private Bundle arguments = new Bundle();

    @Override
    public void onCreate(Bundle arguments) {
        super.onCreate(arguments);
        if (arguments != null) {
            this.arguments = arguments;
        }
        start();
    }

    @Override
    public void onStart() {
        super.onStart();
        String line;
        int code = Activity.RESULT_OK;
        try {
            line = run();
        } catch (Throwable t) {
            Log.e(TAG, "benchmark failed", t);
            String message = t.getMessage() == null ? t.getClass().getSimpleName() : t.getClass().getSimpleName() + ": " + t.getMessage();
            line = BenchReport.errorLine(message);
            code = Activity.RESULT_CANCELED;
        }
        Log.i(TAG, line);
        Bundle results = new Bundle();
        results.putString(REPORT_KEY_STREAMRESULT, line + "\n");   // `am instrument -w` prints just this
        results.putString("edgedistill_json", line);                 // and -r (raw) mode prints it as a key
        finish(code, results);
    }

    private int intArg(String key, int dflt, int min) {
        String v = arguments.getString(key);
        if (v == null) {
            return dflt;
        }
        int n;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-e " + key + " must be an integer, got '" + v + "'");
        }
        if (n < min) {
            throw new IllegalArgumentException("-e " + key + " must be >= " + min + ", got " + n);
        }
        return n;
    }

    private String run() throws Exception {
        int runs = intArg("runs", 100, 1);
        int warmup = intArg("warmup", 10, 0);
        int threads = intArg("threads", 1, 1);
        int seqLen = intArg("seq_len", 64, 2);
        String bundlePath = arguments.getString("bundle");
        File dir = bundlePath != null ? new File(bundlePath) : AssetBundle.extract(getTargetContext());
        if (!dir.isDirectory()) {
            throw new IllegalArgumentException("no bundle folder at " + dir + " (push one with `adb push BUNDLE " + dir
                    + "`; if it is there, this device may not let apps read it: push under /sdcard/Android/data/"
                    + getTargetContext().getPackageName() + "/files instead)");
        }
        EdgeBundle bundle = EdgeBundle.open(new BundleSource.Directory(dir), true);
        BundleManifest.Model entry = pickModel(bundle.manifest(), arguments.getString("model"));

        long[] ids = arguments.getString("ids") != null ? BenchInput.parseIds(arguments.getString("ids"))
                : BenchInput.fixedLength(bundle.textTokenizer(), BenchInput.DEFAULT_TEXT, seqLen);
        // mask 1, type ids 0, and the same ids as a siamese model's second text, as edge_runtime.benchmark feeds them
        ModelInputs feed = ModelInputs.ofIds(ids, bundle.padId());

        long t0 = SystemClock.elapsedRealtimeNanos();
        ModelRunner runner = ModelRunner.Factory.open(new File(dir, entry.file), entry, threads);
        double loadMs = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6;
        double[] samples = new double[runs];
        try {
            float[] logits = runner.run(feed);
            if (logits.length != bundle.labels().size()) {
                throw new IllegalStateException(entry.file + " gives " + logits.length + " logits but the bundle has "
                        + bundle.labels().size() + " labels; re-export the bundle");
            }
            for (int i = 0; i < warmup; i++) {
                runner.run(feed);
            }
            for (int i = 0; i < runs; i++) {
                long start = System.nanoTime();
                runner.run(feed);
                samples[i] = (System.nanoTime() - start) / 1e6;
            }
        } finally {
            runner.close();
        }

        BenchReport.Run report = new BenchReport.Run();
        report.name = bundle.manifest().name() + "/" + entry.precision;
        report.warmup = warmup;
        report.threads = threads;
        report.seqLen = ids.length;
        report.loadMs = loadMs;
        report.peakRssMb = BenchReport.peakRssMb(DeviceInfo.procSelfStatus());
        report.model.put("file", entry.file);
        report.model.put("format", entry.format);
        report.model.put("precision", entry.precision);
        report.model.put("runtime", runner.runtime());
        report.model.put("runtime_version", runner.runtimeVersion());
        report.device.putAll(DeviceInfo.describe());
        return BenchReport.successLine(report, samples);
    }

    private static BundleManifest.Model pickModel(BundleManifest manifest, String file) {
        if (file == null) {
            return manifest.defaultModel();
        }
        StringBuilder have = new StringBuilder();
        for (BundleManifest.Model m : manifest.models()) {
            if (m.file.equals(file)) {
                return m;
            }
            have.append(have.length() > 0 ? ", " : "").append(m.file);
        }
        throw new IllegalArgumentException("the bundle has no model " + file + "; it has " + have);
    }
}
