package org.edgedistill.core;

import java.io.ByteArrayOutputStream;

/** Standard base64 (RFC 4648, with padding) decoding; java.util.Base64 needs Android API 26, the app's minSdk is 24. */
final class Base64 {
    private Base64() {}

    static byte[] decode(String s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length() * 3 / 4);
        int buffer = 0;
        int bits = 0;
        int padding = 0;
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            int v;
            if (c >= 'A' && c <= 'Z') {
                v = c - 'A';
            } else if (c >= 'a' && c <= 'z') {
                v = c - 'a' + 26;
            } else if (c >= '0' && c <= '9') {
                v = c - '0' + 52;
            } else if (c == '+') {
                v = 62;
            } else if (c == '/') {
                v = 63;
            } else if (c == '=') {
                padding++;
                continue;
            } else {
                throw new IllegalArgumentException("invalid base64 character at " + k);
            }
            if (padding > 0) {
                throw new IllegalArgumentException("base64 data after padding at " + k);
            }
            buffer = (buffer << 6) | v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out.write((buffer >> bits) & 0xFF);
            }
        }
        if ((s.length() - padding) % 4 == 1 || padding > 2) {
            throw new IllegalArgumentException("truncated base64 data");
        }
        return out.toByteArray();
    }
}
