package org.edgedistill.core;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Where the Python side put the bundle and the vectors (tests/android passes them as system
 * properties). Run outside pytest, the tests that need them are skipped with a message saying how
 * to run them; tests/android fails if any test was skipped.
 */
final class TestData {
    private TestData() {}

    static File dir(String property) {
        String v = System.getProperty(property);
        assumeTrue(v != null && new File(v).isDirectory(),
                "-D" + property + " is not set: run `pytest tests/android`, which writes the vectors from the Python reference and passes it");
        return new File(v);
    }

    static File bundle() {
        return dir("edgedistill.bundle");
    }

    static File vectors() {
        return dir("edgedistill.vectors");
    }

    static File out() {
        return dir("edgedistill.out");
    }

    static List<Map<String, Object>> jsonl(File f) throws IOException {
        List<Map<String, Object>> rows = new ArrayList<Map<String, Object>>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(new FileInputStream(f), "UTF-8"))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (!line.isEmpty()) {
                    rows.add(Json.parseObject(line));
                }
            }
        }
        return rows;
    }

    static List<String[]> tsv(File f) throws IOException {
        List<String[]> rows = new ArrayList<String[]>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(new FileInputStream(f), "UTF-8"))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (!line.isEmpty()) {
                    rows.add(line.split("\t"));
                }
            }
        }
        return rows;
    }

    static long[] longs(Object list) {
        List<?> l = (List<?>) list;
        long[] out = new long[l.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = ((Number) l.get(k)).longValue();
        }
        return out;
    }

    static double[] doubles(Object list) {
        List<?> l = (List<?>) list;
        double[] out = new double[l.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = ((Number) l.get(k)).doubleValue();
        }
        return out;
    }

    /** "41.301" -> "A\u0301", "-" -> "". */
    static String unhex(String h) {
        StringBuilder b = new StringBuilder();
        if (!h.equals("-")) {
            for (String cp : h.split("\\.")) {
                b.appendCodePoint(Integer.parseInt(cp, 16));
            }
        }
        return b.toString();
    }

    static String hex(String s) {
        StringBuilder b = new StringBuilder();
        for (int k = 0; k < s.length(); ) {
            int cp = s.codePointAt(k);
            k += Character.charCount(cp);
            b.append(b.length() > 0 ? "." : "").append(Integer.toHexString(cp).toUpperCase());
        }
        return b.length() == 0 ? "-" : b.toString();
    }
}
