package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Benchmark statistics against edge_runtime.benchmark.latency_stats (numpy). */
class LatencyStatsTest {
    @Test
    @SuppressWarnings("unchecked")
    void statsMatchNumpy() throws Exception {
        List<Map<String, Object>> rows = TestData.jsonl(new File(TestData.vectors(), "latency_vectors.jsonl"));
        double maxRel = 0;
        int exact = 0;
        int total = 0;
        for (Map<String, Object> row : rows) {
            Map<String, Object> want = (Map<String, Object>) row.get("stats");
            Map<String, Object> got = LatencyStats.of(TestData.doubles(row.get("samples"))).toMap();
            assertEquals(want.keySet(), got.keySet());
            for (String k : want.keySet()) {
                double w = ((Number) want.get(k)).doubleValue();
                double g = (Double) got.get(k);
                total++;
                exact += w == g ? 1 : 0;
                maxRel = Math.max(maxRel, Math.abs(w - g) / Math.max(Math.abs(w), 1e-300));
            }
        }
        System.out.println("PARITY latency_stats cases=" + rows.size() + " values=" + total + " bit_exact=" + exact + " max_rel_diff=" + maxRel);
        assertTrue(rows.size() >= 20);
        assertTrue(maxRel <= 1e-12, "latency statistics differ from numpy by a relative " + maxRel);
    }

    @Test
    void percentilesInterpolateLinearly() {
        LatencyStats s = LatencyStats.of(new double[] {4, 1, 3, 2});
        assertEquals(2.5, s.p50, 0.0);
        assertEquals(3.7, s.p90, 1e-15);
        assertEquals(1.0, s.min, 0.0);
        assertEquals(4.0, s.max, 0.0);
        assertEquals(Math.sqrt(1.25), s.std, 1e-15);
        assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[0]));
    }
}
