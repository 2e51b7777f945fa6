package org.edgedistill.core;

import java.util.HashMap;
import java.util.Map;

/**
 * NFD, NFKD, NFC and NFKC exactly as the reference computes them (the Rust crate
 * unicode-normalization-alignments 0.1.12, Unicode 9), with the per-character changes it reports,
 * so that {@link NormText} keeps the reference's alignments.
 *
 * <p>The data comes from {@link UnicodeTables} (canonical decompositions, combining classes) and
 * {@link PipelineTables} (compatibility decompositions, compositions), never from
 * java.text.Normalizer, whose Unicode version is the JVM's or the phone's.
 */
final class UnicodeNorm {
    private static final BertNormalizer.CodePointMap COMPAT =
            new BertNormalizer.CodePointMap(String.join(",", PipelineTables.COMPAT_DECOMPOSITION));
    private static final Map<Long, Integer> COMPOSE = new HashMap<Long, Integer>(2048);

    static {
        for (String chunk : PipelineTables.COMPOSITION) {
            for (String item : chunk.split(",")) {
                String[] kv = item.split(">");
                String[] ab = kv[0].split("\\.");
                COMPOSE.put(pair(Integer.parseInt(ab[0], 16), Integer.parseInt(ab[1], 16)), Integer.parseInt(kv[1], 16));
            }
        }
    }

    private static final int S_BASE = 0xAC00;
    private static final int L_BASE = 0x1100;
    private static final int V_BASE = 0x1161;
    private static final int T_BASE = 0x11A7;
    private static final int L_COUNT = 19;
    private static final int V_COUNT = 21;
    private static final int T_COUNT = 28;
    private static final int N_COUNT = V_COUNT * T_COUNT;
    private static final int S_COUNT = L_COUNT * N_COUNT;

    private UnicodeNorm() {}

    private static long pair(int a, int b) {
        return ((long) a << 21) | b;
    }

    /** The reference's NFD/NFKD/NFC/NFKC applied to {@code t}, alignments included. */
    static void apply(NormText t, boolean compatible, boolean compose) {
        NormText.Builder d = decompose(t, compatible);
        t.transform(compose ? recompose(d) : d, 0);
    }

    /** Full decomposition, each run of non-starters stably sorted by combining class; change 0 for a character's first output, 1 after. */
    static NormText.Builder decompose(NormText t, boolean compatible) {
        NormText.Builder out = new NormText.Builder(t.n + 8);
        for (int k = 0; k < t.n; k++) {
            int c = t.cps[k];
            if (c <= 0x7F) {
                out.add(c, 0);
                continue;
            }
            int s = c - S_BASE;
            if (s >= 0 && s < S_COUNT) {
                out.add(L_BASE + s / N_COUNT, 0);
                out.add(V_BASE + (s % N_COUNT) / T_COUNT, 1);
                if (s % T_COUNT > 0) {
                    out.add(T_BASE + s % T_COUNT, 1);
                }
                continue;
            }
            String d = compatible ? COMPAT.get(c) : null;
            if (d == null) {
                d = BertNormalizer.DECOMPOSITION.get(c);
            }
            if (d == null) {
                out.add(c, 0);
                continue;
            }
            boolean first = true;
            for (int j = 0; j < d.length(); ) {
                int x = d.codePointAt(j);
                j += Character.charCount(x);
                out.add(x, first ? 0 : 1);
                first = false;
            }
        }
        // canonical ordering: stable insertion sort of each run of non-starters (changes travel with their characters)
        for (int k = 1; k < out.n; k++) {
            int ccc = BertNormalizer.combiningClass(out.cps[k]);
            if (ccc == 0) {
                continue;
            }
            int cp = out.cps[k];
            int ch = out.changes[k];
            int j = k;
            while (j > 0) {
                int before = BertNormalizer.combiningClass(out.cps[j - 1]);
                if (before == 0 || before <= ccc) {
                    break;
                }
                out.cps[j] = out.cps[j - 1];
                out.changes[j] = out.changes[j - 1];
                j--;
            }
            out.cps[j] = cp;
            out.changes[j] = ch;
        }
        return out;
    }

    /** Canonical composition of a decomposed stream: the crate's Recompositions iterator, step for step. */
    static NormText.Builder recompose(NormText.Builder in) {
        NormText.Builder out = new NormText.Builder(in.n);
        NormText.Builder buffer = new NormText.Builder(4);
        boolean hasComposee = false;
        int composee = 0;
        int composeeChange = 0;
        int lastCcc = -1;        // -1: None
        for (int k = 0; k < in.n; k++) {
            int ch = in.cps[k];
            int change = in.changes[k];
            int chClass = BertNormalizer.combiningClass(ch);
            if (!hasComposee) {
                if (chClass != 0) {
                    out.add(ch, change);
                    continue;
                }
                hasComposee = true;
                composee = ch;
                composeeChange = change;
                continue;
            }
            if (lastCcc < 0) {
                int r = compose(composee, ch);
                if (r >= 0) {
                    composee = r;
                    composeeChange = composeeChange + change - 1;
                    continue;
                }
                if (chClass == 0) {
                    out.add(composee, composeeChange);
                    composee = ch;
                    composeeChange = change;
                    continue;
                }
                buffer.add(ch, change);
                lastCcc = chClass;
            } else {
                if (lastCcc >= chClass) {
                    if (chClass == 0) {
                        // Purging: the composee, then the buffered non-starters, then go on composing
                        out.add(composee, composeeChange);
                        for (int j = 0; j < buffer.n; j++) {
                            out.add(buffer.cps[j], buffer.changes[j]);
                        }
                        buffer.n = 0;
                        composee = ch;
                        composeeChange = change;
                        lastCcc = -1;
                        continue;
                    }
                    buffer.add(ch, change);
                    lastCcc = chClass;
                    continue;
                }
                int r = compose(composee, ch);
                if (r >= 0) {
                    composee = r;
                    composeeChange = composeeChange + change - 1;
                    continue;
                }
                buffer.add(ch, change);
                lastCcc = chClass;
            }
        }
        // Finished: the composee, then the buffered non-starters
        if (hasComposee) {
            out.add(composee, composeeChange);
        }
        for (int j = 0; j < buffer.n; j++) {
            out.add(buffer.cps[j], buffer.changes[j]);
        }
        return out;
    }

    /** The primary composite of a and b, or -1. */
    static int compose(int a, int b) {
        if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT) {
            return S_BASE + (a - L_BASE) * N_COUNT + (b - V_BASE) * T_COUNT;
        }
        if (a >= S_BASE && a < S_BASE + S_COUNT && b > T_BASE && b < T_BASE + T_COUNT && (a - S_BASE) % T_COUNT == 0) {
            return a + (b - T_BASE);
        }
        Integer r = COMPOSE.get(pair(a, b));
        return r == null ? -1 : r;
    }
}
