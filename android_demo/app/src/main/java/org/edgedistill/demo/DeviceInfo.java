package org.edgedistill.demo;

import android.os.Build;
import java.io.BufferedReader;
import java.io.FileReader;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/** What the benchmark line says about the phone, and the process's peak memory. */
final class DeviceInfo {
    private DeviceInfo() {}

    static Map<String, Object> describe() {
        Map<String, Object> d = new LinkedHashMap<String, Object>();
        d.put("manufacturer", Build.MANUFACTURER);
        d.put("model", Build.MODEL);
        d.put("device", Build.DEVICE);
        d.put("hardware", Build.HARDWARE);
        if (Build.VERSION.SDK_INT >= 31) {
            d.put("soc", Build.SOC_MANUFACTURER + " " + Build.SOC_MODEL);
        }
        d.put("sdk", Build.VERSION.SDK_INT);
        d.put("release", Build.VERSION.RELEASE);
        d.put("abi", Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : "");
        d.put("cores", Runtime.getRuntime().availableProcessors());
        return d;
    }

    /** The contents of /proc/self/status (VmHWM is read from it by the core), or "" if unreadable. */
    static String procSelfStatus() {
        StringBuilder b = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new FileReader("/proc/self/status"))) {
            String line;
            while ((line = r.readLine()) != null) {
                b.append(line).append('\n');
            }
        } catch (IOException e) {
            return "";
        }
        return b.toString();
    }
}
