package org.edgedistill.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * min / mean / p50 / p90 / p99 / max / std of latency samples, computed exactly as
 * edge_runtime.benchmark.latency_stats does with numpy: linear-interpolated percentiles
 * (numpy's "linear" method, including its lerp), numpy's pairwise summation for mean and std,
 * population std (ddof 0). So a phone's figures and a laptop's are the same statistic.
 */
public final class LatencyStats {
    public final int count;
    public final double min;
    public final double mean;
    public final double p50;
    public final double p90;
    public final double p99;
    public final double max;
    public final double std;

    private LatencyStats(int count, double min, double mean, double p50, double p90, double p99, double max, double std) {
        this.count = count;
        this.min = min;
        this.mean = mean;
        this.p50 = p50;
        this.p90 = p90;
        this.p99 = p99;
        this.max = max;
        this.std = std;
    }

    public static LatencyStats of(double[] samples) {
        if (samples.length == 0) {
            throw new IllegalArgumentException("no latency samples to summarise");
        }
        double[] sorted = samples.clone();
        Arrays.sort(sorted);
        int n = samples.length;
        double mean = pairwiseSum(samples, 0, n) / n;
        double[] sq = new double[n];
        for (int k = 0; k < n; k++) {
            double d = samples[k] - mean;
            sq[k] = d * d;
        }
        double std = Math.sqrt(pairwiseSum(sq, 0, n) / n);
        return new LatencyStats(n, sorted[0], mean, percentile(sorted, 50), percentile(sorted, 90), percentile(sorted, 99),
                sorted[n - 1], std);
    }

    /** numpy.percentile(a, q) with the default linear method, on an ascending array. */
    public static double percentile(double[] sorted, double q) {
        int n = sorted.length;
        double virtual = (n - 1) * (q / 100.0);
        if (virtual >= n - 1) {
            return sorted[n - 1];
        }
        if (virtual <= 0) {
            return sorted[0];
        }
        int lo = (int) Math.floor(virtual);
        double gamma = virtual - lo;
        double a = sorted[lo];
        double b = sorted[lo + 1];
        double diff = b - a;
        // numpy's _lerp: from the nearer end, so the result is monotone in gamma
        return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
    }

    /** numpy's pairwise summation (PW_BLOCKSIZE 128, 8-way unrolled leaves), so sums agree to the bit. */
    static double pairwiseSum(double[] a, int off, int n) {
        if (n < 8) {
            double res = 0.;
            for (int k = 0; k < n; k++) {
                res += a[off + k];
            }
            return res;
        } else if (n <= 128) {
            double[] r = new double[8];
            for (int j = 0; j < 8; j++) {
                r[j] = a[off + j];
            }
            int k;
            for (k = 8; k < n - (n % 8); k += 8) {
                for (int j = 0; j < 8; j++) {
                    r[j] += a[off + k + j];
                }
            }
            double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; k < n; k++) {
                res += a[off + k];
            }
            return res;
        } else {
            int n2 = n / 2;
            n2 -= n2 % 8;
            return pairwiseSum(a, off, n2) + pairwiseSum(a, off + n2, n - n2);
        }
    }

    /** The keys of edge_runtime.benchmark.latency_stats, in its order. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("min", min);
        m.put("mean", mean);
        m.put("p50", p50);
        m.put("p90", p90);
        m.put("p99", p99);
        m.put("max", max);
        m.put("std", std);
        return m;
    }
}
