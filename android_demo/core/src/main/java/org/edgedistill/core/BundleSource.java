package org.edgedistill.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Where a bundle's files come from: a folder on disk here, the APK's assets on a phone (the app
 * implements this over AssetManager), so the same reading and verifying code serves both.
 */
public interface BundleSource {
    /** Opens a file by its path relative to the bundle root ("vocab.txt"); throws if it is absent. */
    InputStream open(String path) throws IOException;

    /** True if the bundle holds this file. */
    boolean exists(String path);

    /** A human-readable name of the bundle's location, for messages. */
    String describe();

    /** A bundle folder on the file system. */
    final class Directory implements BundleSource {
        private final File root;

        public Directory(File root) {
            this.root = root;
        }

        public File root() {
            return root;
        }

        public File file(String path) throws IOException {
            File canonicalRoot = root.getCanonicalFile();
            File f = new File(root, path).getCanonicalFile();
            String prefix = canonicalRoot.getPath() + File.separator;
            if (!f.getPath().startsWith(prefix)) {
                throw new BundleException.Integrity("manifest entry '" + path + "' points outside the bundle; refusing it");
            }
            return f;
        }

        @Override
        public InputStream open(String path) throws IOException {
            return new FileInputStream(file(path));
        }

        @Override
        public boolean exists(String path) {
            try {
                return file(path).isFile();
            } catch (IOException e) {
                return false;
            }
        }

        @Override
        public String describe() {
            return root.getPath();
        }
    }
}
