package org.edgedistill.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one JSON line the on-device benchmark prints, read back by edge_runtime.adb on the host.
 *
 * <p>Success: {"format": "edgedistill-bench", "version": 1, "name", "runs", "warmup", "threads",
 * "batch", "seq_len", "latency_ms": {min, mean, p50, p90, p99, max, std}, "throughput_per_s",
 * "peak_rss_mb", "load_ms", "model": {...}, "device": {...}, "latencies_ms": [...]}.
 * Failure: {"format": "edgedistill-bench", "version": 1, "error": "one line"}.
 */
public final class BenchReport {
    public static final String FORMAT = "edgedistill-bench";
    public static final int VERSION = 1;

    private BenchReport() {}

    /** What was timed and how. */
    public static final class Run {
        public String name = "model";
        public int warmup;
        public int threads = 1;
        public int seqLen;
        public double loadMs;
        public double peakRssMb = -1;
        public Map<String, Object> model = new LinkedHashMap<String, Object>();
        public Map<String, Object> device = new LinkedHashMap<String, Object>();
    }

    public static Map<String, Object> success(Run run, double[] samplesMs) {
        LatencyStats stats = LatencyStats.of(samplesMs);
        Map<String, Object> m = header();
        m.put("name", run.name);
        m.put("runs", samplesMs.length);
        m.put("warmup", run.warmup);
        m.put("threads", run.threads);
        m.put("batch", 1);
        m.put("seq_len", run.seqLen);
        m.put("latency_ms", stats.toMap());
        m.put("throughput_per_s", 1e3 / stats.mean);
        m.put("peak_rss_mb", run.peakRssMb >= 0 ? run.peakRssMb : null);
        m.put("load_ms", run.loadMs);
        m.put("model", run.model);
        m.put("device", run.device);
        List<Object> samples = new ArrayList<Object>(samplesMs.length);
        for (double s : samplesMs) {
            samples.add(s);
        }
        m.put("latencies_ms", samples);
        return m;
    }

    public static String successLine(Run run, double[] samplesMs) {
        return Json.write(success(run, samplesMs));
    }

    /** The failure line; the message is flattened to one line. */
    public static String errorLine(String message) {
        Map<String, Object> m = header();
        m.put("error", message == null ? "unknown error" : message.replace('\n', ' ').replace('\r', ' ').trim());
        return Json.write(m);
    }

    private static Map<String, Object> header() {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("format", FORMAT);
        m.put("version", VERSION);
        return m;
    }

    /** VmHWM (the process's peak resident set) in MB from the text of /proc/self/status; -1 if absent. */
    public static double peakRssMb(String procSelfStatus) {
        for (String line : procSelfStatus.split("\n")) {
            if (line.startsWith("VmHWM:")) {
                String[] parts = line.substring(6).trim().split("\\s+");
                try {
                    return Long.parseLong(parts[0]) / 1024.0;
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }
}
