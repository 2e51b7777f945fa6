package org.edgedistill.core;

/**
 * A bundle cannot be used: missing, malformed, modified after export, or asking for something this
 * runtime does not support. The message is one line that names the problem and what would work.
 */
public class BundleException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BundleException(String message) {
        super(message);
    }

    public BundleException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A file does not match the sha256 or size recorded in manifest.json, or escapes the bundle. */
    public static final class Integrity extends BundleException {
        private static final long serialVersionUID = 1L;

        public Integrity(String message) {
            super(message);
        }
    }

    /** The bundle is valid but asks for a tokenizer, format or setting this runtime does not support. */
    public static final class Unsupported extends BundleException {
        private static final long serialVersionUID = 1L;

        public Unsupported(String message) {
            super(message);
        }
    }
}
