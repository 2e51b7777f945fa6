package org.edgedistill.core;

import java.util.ArrayList;
import java.util.List;

/** An immutable set of code points held as sorted, disjoint ranges; membership by binary search. */
final class CodePointSet {
    private final int[] starts;
    private final int[] ends;

    private CodePointSet(int[] starts, int[] ends) {
        this.starts = starts;
        this.ends = ends;
    }

    /** Parses "A-B,C,..." (hexadecimal, ascending, disjoint), the format of {@link UnicodeTables}. */
    static CodePointSet parse(String spec) {
        List<int[]> ranges = new ArrayList<int[]>();
        int previousEnd = -1;
        for (String item : spec.split(",")) {
            String s = item.trim();
            if (s.isEmpty()) {
                continue;
            }
            int dash = s.indexOf('-');
            int a = Integer.parseInt(dash < 0 ? s : s.substring(0, dash), 16);
            int b = dash < 0 ? a : Integer.parseInt(s.substring(dash + 1), 16);
            if (b < a || a <= previousEnd) {
                throw new IllegalArgumentException("code point ranges must ascend and not overlap: " + s);
            }
            ranges.add(new int[] {a, b});
            previousEnd = b;
        }
        int[] starts = new int[ranges.size()];
        int[] ends = new int[ranges.size()];
        for (int i = 0; i < starts.length; i++) {
            starts[i] = ranges.get(i)[0];
            ends[i] = ranges.get(i)[1];
        }
        return new CodePointSet(starts, ends);
    }

    boolean contains(int cp) {
        int lo = 0;
        int hi = starts.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (cp < starts[mid]) {
                hi = mid - 1;
            } else if (cp > ends[mid]) {
                lo = mid + 1;
            } else {
                return true;
            }
        }
        return false;
    }
}
