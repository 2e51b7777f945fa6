package org.edgedistill.core;

import java.util.Arrays;

/** A growable int array: token ids without boxing. */
final class IntList {
    int[] a;
    int n;

    IntList(int capacity) {
        a = new int[Math.max(4, capacity)];
    }

    void add(int v) {
        if (n == a.length) {
            a = Arrays.copyOf(a, n * 2);
        }
        a[n++] = v;
    }

    void addAll(int[] v) {
        for (int x : v) {
            add(x);
        }
    }

    int size() {
        return n;
    }

    int get(int k) {
        return a[k];
    }

    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
