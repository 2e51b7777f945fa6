package org.edgedistill.core;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * manifest.json of an edgedistill bundle (format "edgedistill-bundle", version 1): labels, tokenizer
 * settings, the task (single- or multi-label, single texts or joint / siamese pairs: {@link Task}),
 * models with their IO, and every file with its sha256 and size.
 */
public final class BundleManifest {
    public static final String FORMAT = "edgedistill-bundle";
    public static final int VERSION = 1;

    private final Map<String, Object> raw;
    private final String name;
    private final List<String> labels;
    private final List<Model> models;
    private final List<FileEntry> files;
    private final Task task;

    /** One model file of the bundle. */
    public static final class Model {
        public final String file;
        public final String format;
        public final String precision;
        public final String sha256;
        public final boolean isDefault;
        public final List<Tensor> inputs;
        public final List<Tensor> outputs;
        /** What the exporter wrote into the file's metadata (e.g. "edgedistill.tflite.reset_variables"). */
        public final Map<String, Object> metadata;

        Model(String file, String format, String precision, String sha256, boolean isDefault, List<Tensor> inputs, List<Tensor> outputs,
              Map<String, Object> metadata) {
            this.file = file;
            this.format = format;
            this.precision = precision;
            this.sha256 = sha256;
            this.isDefault = isDefault;
            this.inputs = inputs;
            this.outputs = outputs;
            this.metadata = metadata;
        }

        /** A metadata value as a string, or null. */
        public String meta(String key) {
            Object v = metadata.get(key);
            return v == null ? null : String.valueOf(v);
        }
    }

    /** A model input or output: name, dtype ("int64", "float32", ...) and shape (-1 or a name for dynamic axes). */
    public static final class Tensor {
        public final String name;
        public final String dtype;
        public final List<Object> shape;

        Tensor(String name, String dtype, List<Object> shape) {
            this.name = name;
            this.dtype = dtype;
            this.shape = shape;
        }
    }

    /** A file listed in the manifest with the hash and size it had at export. */
    public static final class FileEntry {
        public final String path;
        public final String sha256;
        public final long size;

        FileEntry(String path, String sha256, long size) {
            this.path = path;
            this.sha256 = sha256;
            this.size = size;
        }
    }

    @SuppressWarnings("unchecked")
    private BundleManifest(Map<String, Object> raw) {
        this.raw = raw;
        this.name = raw.get("name") instanceof String ? (String) raw.get("name") : "model";
        List<String> l = new ArrayList<String>();
        for (Object o : list(raw, "labels")) {
            l.add(String.valueOf(o));
        }
        if (l.size() < 2) {
            throw new BundleException("manifest.json lists " + l.size() + " label(s); a classifier bundle needs at least two; re-export it");
        }
        this.labels = Collections.unmodifiableList(l);
        List<Model> ms = new ArrayList<Model>();
        for (Object o : list(raw, "models")) {
            Map<String, Object> m = (Map<String, Object>) o;
            ms.add(new Model((String) m.get("file"), (String) m.get("format"), (String) m.get("precision"), (String) m.get("sha256"),
                    Boolean.TRUE.equals(m.get("default")), tensors(m.get("inputs")), tensors(m.get("outputs")),
                    m.get("metadata") instanceof Map ? Collections.unmodifiableMap((Map<String, Object>) m.get("metadata"))
                            : Collections.<String, Object>emptyMap()));
        }
        if (ms.isEmpty()) {
            throw new BundleException("manifest.json lists no models; re-export the bundle");
        }
        this.models = Collections.unmodifiableList(ms);
        List<FileEntry> fs = new ArrayList<FileEntry>();
        for (Object o : list(raw, "files")) {
            Map<String, Object> f = (Map<String, Object>) o;
            fs.add(new FileEntry((String) f.get("path"), (String) f.get("sha256"), ((Number) f.get("size")).longValue()));
        }
        this.files = Collections.unmodifiableList(fs);
        this.task = Task.from(raw.get("task"), labels, models);
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v instanceof List ? (List<Object>) v : Collections.<Object>emptyList();
    }

    @SuppressWarnings("unchecked")
    private static List<Tensor> tensors(Object v) {
        List<Tensor> out = new ArrayList<Tensor>();
        if (v instanceof List) {
            for (Object o : (List<Object>) v) {
                Map<String, Object> t = (Map<String, Object>) o;
                out.add(new Tensor((String) t.get("name"), (String) t.get("dtype"),
                        t.get("shape") instanceof List ? (List<Object>) t.get("shape") : Collections.<Object>emptyList()));
            }
        }
        return Collections.unmodifiableList(out);
    }

    /** Parses manifest.json; throws BundleException if it is not an edgedistill bundle manifest. */
    public static BundleManifest parse(String json) {
        Map<String, Object> raw;
        try {
            raw = Json.parseObject(json);
        } catch (IllegalArgumentException e) {
            throw new BundleException("manifest.json is not valid JSON (" + e.getMessage() + "); re-export the bundle");
        }
        if (!FORMAT.equals(raw.get("format"))) {
            throw new BundleException("manifest.json has format '" + raw.get("format") + "', expected '" + FORMAT + "'");
        }
        Object version = raw.get("version");
        if (!(version instanceof Number) || ((Number) version).intValue() != VERSION) {
            throw new BundleException.Unsupported("manifest.json is version " + version + "; this app reads version " + VERSION
                    + "; rebuild the app from the edgedistill version that wrote the bundle");
        }
        try {
            return new BundleManifest(raw);
        } catch (ClassCastException | NullPointerException e) {
            throw new BundleException("manifest.json is malformed (" + e + "); re-export the bundle");
        }
    }

    public static BundleManifest read(BundleSource source) throws IOException {
        if (!source.exists("manifest.json")) {
            throw new BundleException(source.describe() + " is not a bundle (no manifest.json); copy in a folder written by `edgedistill export` or the demo");
        }
        return parse(new String(WordPieceTokenizer.readAll(source.open("manifest.json")), WordPieceTokenizer.UTF8));
    }

    public String name() {
        return name;
    }

    public List<String> labels() {
        return labels;
    }

    public List<Model> models() {
        return models;
    }

    public List<FileEntry> files() {
        return files;
    }

    /** The task block, checked against the labels and the models' inputs when the manifest was read. */
    public Task task() {
        return task;
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> tokenizer() {
        Object t = raw.get("tokenizer");
        if (!(t instanceof Map)) {
            throw new BundleException("manifest.json has no tokenizer settings; re-export the bundle");
        }
        return (Map<String, Object>) t;
    }

    public Map<String, Object> raw() {
        return raw;
    }

    /** The model an app loads by default: the one marked default, else the first. */
    public Model defaultModel() {
        for (Model m : models) {
            if (m.isDefault) {
                return m;
            }
        }
        return models.get(0);
    }

    /** The model with this precision and/or format (null: any); the default one if both are null. */
    public Model model(String precision, String format) {
        if (precision == null && format == null) {
            return defaultModel();
        }
        for (Model m : models) {
            if ((precision == null || precision.equals(m.precision)) && (format == null || format.equals(m.format))) {
                return m;
            }
        }
        StringBuilder have = new StringBuilder();
        for (Model m : models) {
            have.append(have.length() > 0 ? ", " : "").append(m.format).append('/').append(m.precision);
        }
        throw new BundleException.Unsupported("the bundle has no " + (format == null ? "any format" : format) + "/"
                + (precision == null ? "any precision" : precision) + " model; it has " + have);
    }

    /**
     * Checks every listed file against its recorded size and sha256; throws BundleException.Integrity
     * naming the first file that is missing, resized, modified or outside the bundle.
     */
    public void verify(BundleSource source) throws IOException {
        for (FileEntry f : files) {
            if (f.path == null || f.path.startsWith("/") || f.path.contains("\\") || ("/" + f.path + "/").contains("/../")) {
                throw new BundleException.Integrity("manifest entry '" + f.path + "' points outside the bundle; refusing it");
            }
            if (!source.exists(f.path)) {
                throw new BundleException.Integrity(f.path + " is listed in manifest.json but missing from " + source.describe()
                        + "; re-export the bundle");
            }
            long[] size = new long[1];
            String digest = sha256(source.open(f.path), size);
            if (size[0] != f.size || !digest.equals(f.sha256)) {
                throw new BundleException.Integrity(f.path + " in " + source.describe()
                        + " was modified after export (sha256 mismatch); re-export the bundle");
            }
        }
    }

    /** Hex sha256 of a stream (closed afterwards); the byte count goes to size[0] if size is not null. */
    public static String sha256(InputStream in, long[] size) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
        long total = 0;
        try {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
                total += n;
            }
        } finally {
            in.close();
        }
        if (size != null) {
            size[0] = total;
        }
        StringBuilder hex = new StringBuilder(64);
        for (byte b : md.digest()) {
            hex.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return hex.toString();
    }
}
