package org.edgedistill.demo;

import android.content.Context;
import android.content.res.AssetManager;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import org.edgedistill.core.BundleManifest;
import org.edgedistill.core.BundleSource;

/**
 * The bundle packed in the APK under assets/bundle/. Runtimes load models from files, so the
 * listed files are copied once into app storage; EdgeBundle.open then verifies the copies' sha256.
 */
final class AssetBundle {
    static final String ASSET_DIR = "bundle";

    private AssetBundle() {}

    /** The APK's assets/bundle as a BundleSource (for reading manifest.json before anything is copied). */
    static BundleSource source(final AssetManager assets) {
        return new BundleSource() {
            @Override
            public InputStream open(String path) throws IOException {
                return assets.open(ASSET_DIR + "/" + path);
            }

            @Override
            public boolean exists(String path) {
                try {
                    assets.open(ASSET_DIR + "/" + path).close();
                    return true;
                } catch (IOException e) {
                    return false;
                }
            }

            @Override
            public String describe() {
                return "the app's assets/" + ASSET_DIR + " (android_demo/app/src/main/assets/" + ASSET_DIR + ")";
            }
        };
    }

    /** Copies every file manifest.json lists (and manifest.json) into filesDir/bundle; returns that folder. */
    static File extract(Context context) throws IOException {
        BundleSource assets = source(context.getAssets());
        BundleManifest manifest = BundleManifest.read(assets);   // throws a clear message if no bundle was copied in
        File dir = new File(context.getFilesDir(), ASSET_DIR);
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File manifestCopy = new File(dir, "manifest.json");
        // the same manifest as on an earlier start means the same files: keep the copies (EdgeBundle.open
        // re-checks their sha256); a new APK with another bundle copies everything again
        boolean sameBundle = manifestCopy.isFile() && Arrays.equals(readAll(new FileInputStream(manifestCopy)),
                readAll(assets.open("manifest.json")));
        for (BundleManifest.FileEntry f : manifest.files()) {
            File target = new File(dir, f.path);
            if (sameBundle && target.isFile() && target.length() == f.size) {
                continue;
            }
            File parent = target.getParentFile();
            if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
                throw new IOException("cannot create " + parent);
            }
            copy(assets, f.path, target);
        }
        copy(assets, "manifest.json", manifestCopy);   // last: a copy interrupted before this is redone next time
        return dir;
    }

    private static byte[] readAll(InputStream in) throws IOException {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }

    private static void copy(BundleSource source, String path, File target) throws IOException {
        File tmp = new File(target.getPath() + ".part");
        try (InputStream in = source.open(path); OutputStream out = new FileOutputStream(tmp)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
        }
        if (!tmp.renameTo(target)) {
            throw new IOException("cannot move " + tmp + " to " + target);
        }
    }
}
