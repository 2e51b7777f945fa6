package org.edgedistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {
    @Test
    void parsesWhatPythonWrites() {
        Map<String, Object> m = Json.parseObject("{\"a\": [1, -2, 3.5, 1e-3, -1E+2], \"b\": {\"c\": null, \"d\": true, \"e\": false},"
                + " \"s\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\\t\", \"big\": 12345678901234567890}");
        List<?> a = (List<?>) m.get("a");
        assertEquals(1L, a.get(0));
        assertEquals(-2L, a.get(1));
        assertEquals(3.5, a.get(2));
        assertEquals(1e-3, a.get(3));
        assertEquals(-100.0, a.get(4));
        assertNull(((Map<?, ?>) m.get("b")).get("c"));
        assertEquals(true, ((Map<?, ?>) m.get("b")).get("d"));
        assertEquals("café \ud83d\ude00 \"q\" \\ / \n\t", m.get("s"));
        assertEquals(1.2345678901234567e19, m.get("big"));
    }

    @Test
    void writesOneAsciiLineThatRoundTrips() {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("text", "line\nbreak \u00e9 \ud83d\ude00 \u0000 \"");
        m.put("xs", Arrays.asList(1L, 2.5, null, true));
        m.put("nan", Double.NaN);
        m.put("arr", new double[] {0.1, 1e-7});
        String line = Json.write(m);
        assertTrue(line.chars().allMatch(c -> c >= 0x20 && c < 0x7f), line);
        Map<String, Object> back = Json.parseObject(line);
        assertEquals(m.get("text"), back.get("text"));
        assertEquals(Arrays.asList(1L, 2.5, null, true), back.get("xs"));
        assertNull(back.get("nan"));
        assertEquals(Arrays.asList(0.1, 1e-7), back.get("arr"));
    }

    @Test
    void rejectsBrokenJson() {
        for (String bad : new String[] {"", "{", "[1,", "{\"a\" 1}", "tru", "\"open", "{} x", "[1 2]"}) {
            assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
        }
    }
}
