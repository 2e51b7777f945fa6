package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The instrumentation's JSON line and its fixed-length input, as the host (edge_runtime.adb) expects them. */
class BenchReportTest {
    @Test
    @SuppressWarnings("unchecked")
    void fixedLengthInputMatchesThePythonBenchmark() throws Exception {
        Map<String, Object> want = Json.parseObject(new String(Files.readAllBytes(new File(TestData.vectors(), "bench_inputs.json").toPath()),
                Charset.forName("UTF-8")));
        assertEquals(want.get("text"), BenchInput.DEFAULT_TEXT, "the Java default benchmark text drifted from edge_runtime's");
        EdgeBundle bundle = EdgeBundle.open(new BundleSource.Directory(TestData.bundle()), false);
        for (Map<String, Object> c : (List<Map<String, Object>>) want.get("cases")) {
            int seqLen = ((Number) c.get("seq_len")).intValue();
            assertArrayEquals(TestData.longs(c.get("input_ids")), BenchInput.fixedLength(bundle.tokenizer(), BenchInput.DEFAULT_TEXT, seqLen),
                    "seq_len " + seqLen);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void successLineCarriesStatsAndSamples() throws Exception {
        BenchReport.Run run = new BenchReport.Run();
        run.name = "tiny/int8";
        run.warmup = 2;
        run.threads = 1;
        run.seqLen = 64;
        run.loadMs = 12.5;
        run.peakRssMb = BenchReport.peakRssMb("Name:\tbench\nVmPeak:\t  100 kB\nVmHWM:\t  20480 kB\nVmRSS:\t 1000 kB\n");
        run.model.put("file", "tiny.int8.onnx");
        run.model.put("format", "onnx");
        run.model.put("precision", "int8");
        run.model.put("runtime", "onnxruntime-android");
        run.device.put("model", "Pixel \"7\" \u00e9");
        run.device.put("sdk", 34);
        double[] samples = {1.25, 1.5, 1.0, 2.0, 1.75};
        String line = BenchReport.successLine(run, samples);
        assertTrue(!line.contains("\n"));
        Map<String, Object> m = Json.parseObject(line);
        assertEquals("edgedistill-bench", m.get("format"));
        assertEquals(5L, m.get("runs"));
        assertEquals(20.0, m.get("peak_rss_mb"));
        assertEquals(1.5, ((Map<String, Object>) m.get("latency_ms")).get("p50"));
        assertEquals(1e3 / 1.5, m.get("throughput_per_s"));
        assertEquals(5, ((List<Object>) m.get("latencies_ms")).size());
        Files.write(new File(TestData.out(), "bench_line.json").toPath(), line.getBytes(Charset.forName("UTF-8")));
        String error = BenchReport.errorLine("model.onnx is missing\nsecond line");
        assertEquals("model.onnx is missing second line", Json.parseObject(error).get("error"));
        Files.write(new File(TestData.out(), "bench_error_line.json").toPath(), error.getBytes(Charset.forName("UTF-8")));
    }

    @Test
    void idsFromTheCommandLine() {
        assertArrayEquals(new long[] {101, 2023, 102}, BenchInput.parseIds(" 101, 2023,102 "));
        assertThrows(IllegalArgumentException.class, () -> BenchInput.parseIds("101 2023"));
        assertThrows(IllegalArgumentException.class, () -> BenchInput.parseIds("101"));
        assertThrows(IllegalArgumentException.class, () -> BenchInput.parseIds("101,-1"));
    }

    @Test
    void peakRssIsAbsentWhenProcSaysNothing() {
        assertEquals(-1.0, BenchReport.peakRssMb("Name:\tx\n"), 0.0);
    }
}
