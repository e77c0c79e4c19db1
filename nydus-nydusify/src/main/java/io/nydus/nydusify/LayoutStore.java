package io.nydus.nydusify;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.AtomicFiles;
import io.nydus.builder.ExitCleanup;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * An {@link ImageStore} over an OCI image layout directory: {@code oci-layout},
 * {@code index.json} and {@code blobs/sha256/<hex>}. Images are named in {@code index.json}
 * by the {@code org.opencontainers.image.ref.name} annotation, as skopeo and umoci name them.
 * Blobs and {@code index.json} are written under temporary names and renamed into place.
 */
class LayoutStore implements ImageStore {
    /** The annotation that names an image of a layout. */
    static final String REF_NAME = "org.opencontainers.image.ref.name";
    private static final String LAYOUT_FILE = "oci-layout";
    private static final String INDEX_FILE = "index.json";
    private static final byte[] LAYOUT_VERSION = "{\"imageLayoutVersion\":\"1.0.0\"}"
            .getBytes(StandardCharsets.UTF_8);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ImageLocation location;
    private final Path dir;

    LayoutStore(ImageLocation location, Path dir) {
        this.location = location;
        this.dir = dir;
    }

    /**
     * Opens the layout directory of {@code location} for reading.
     *
     * @throws IOException if it is not an OCI image layout
     */
    static LayoutStore openSource(ImageLocation location) throws IOException {
        LayoutStore store = new LayoutStore(location, location.path());
        store.checkLayout();
        return store;
    }

    /** Opens the layout directory of {@code location} for writing, creating it if missing. */
    static LayoutStore openTarget(ImageLocation location) throws IOException {
        LayoutStore store = new LayoutStore(location, location.path());
        store.create();
        return store;
    }

    /** Makes {@link #dir} an empty layout unless it is one already. */
    final void create() throws IOException {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new IOException("cannot write " + describe() + ": " + dir + " exists and is"
                    + " not a directory; name a directory for an OCI layout, or use"
                    + " oci-archive: for a tar file");
        }
        Files.createDirectories(dir.resolve("blobs/sha256"));
        if (!Files.exists(dir.resolve(LAYOUT_FILE))) {
            AtomicFiles.write(dir.resolve(LAYOUT_FILE), LAYOUT_VERSION);
        }
        if (!Files.exists(dir.resolve(INDEX_FILE))) {
            writeIndex(List.of());
        }
        checkLayout();
    }

    final void checkLayout() throws IOException {
        for (String name : List.of(LAYOUT_FILE, INDEX_FILE)) {
            if (!Files.isRegularFile(dir.resolve(name))) {
                throw new IOException(describe() + " is not an OCI image layout: " + name
                        + " is missing from " + dir);
            }
        }
        JsonNode layout = JSON.readTree(Files.readAllBytes(dir.resolve(LAYOUT_FILE)));
        String version = layout.path("imageLayoutVersion").asText("");
        if (!version.startsWith("1.")) {
            throw new IOException(describe() + ": " + dir.resolve(LAYOUT_FILE)
                    + " has imageLayoutVersion '" + version + "', expected 1.x");
        }
    }

    @Override
    public ImageLocation location() {
        return location;
    }

    @Override
    public ManifestContent manifest() throws IOException {
        Descriptor entry = chooseEntry(readIndex());
        byte[] bytes = readSmall(entry.digest(), entry.size(), "manifest");
        return new ManifestContent(bytes, entry.mediaType());
    }

    /** Returns the entry of index.json named by the location's tag, or the only entry. */
    private Descriptor chooseEntry(ImageIndex index) throws IOException {
        List<String> names = new ArrayList<>();
        List<Descriptor> matches = new ArrayList<>();
        for (Descriptor entry : index.manifests()) {
            String name = entry.annotations().get(REF_NAME);
            names.add(name == null ? "(no name)" : name);
            if (location.tag() == null || location.tag().equals(name)) {
                matches.add(entry);
            }
        }
        if (matches.size() == 1) {
            return matches.getFirst();
        }
        String listed = names.isEmpty() ? "no images" : String.join(", ", names);
        if (matches.isEmpty()) {
            throw new IOException("image " + describe() + " not found: " + dir.resolve(INDEX_FILE)
                    + " lists " + listed);
        }
        throw new IOException("image " + describe() + " is ambiguous: "
                + dir.resolve(INDEX_FILE) + " lists " + listed + "; name one with :NAME");
    }

    @Override
    public ManifestContent manifest(Digest digest, String description) throws IOException {
        if (!hasBlob(digest)) {
            throw new IOException(description + " not found: " + blobFile(digest)
                    + " is missing from " + describe());
        }
        byte[] bytes = readSmall(digest, -1, "manifest");
        return new ManifestContent(bytes, mediaTypeOf(bytes));
    }

    /** Returns a manifest's media type from its fields, as a layout stores no content type. */
    private static String mediaTypeOf(byte[] bytes) throws IOException {
        JsonNode json = JSON.readTree(bytes);
        String field = json.path("mediaType").asText("");
        if (!field.isEmpty()) {
            return field;
        }
        return json.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
    }

    private byte[] readSmall(Digest digest, long size, String what) throws IOException {
        long actual = sizeOf(digest);
        if (actual > RegistryClient.MAX_MANIFEST_BYTES) {
            throw new IOException(describe() + ": " + what + " " + digest + " has " + actual
                    + " bytes, more than the " + RegistryClient.MAX_MANIFEST_BYTES
                    + " accepted");
        }
        try (InputStream in = blob(digest, size)) {
            return in.readAllBytes();
        }
    }

    @Override
    public InputStream blob(Digest digest, long size) throws IOException {
        long actual = sizeOf(digest);
        if (size >= 0 && actual != size) {
            throw new IOException(describe() + ": blob " + digest + " has " + actual
                    + " bytes, but its descriptor says " + size);
        }
        return new CheckedStream(Files.newInputStream(blobFile(digest)), digest,
                blobFile(digest));
    }

    private long sizeOf(Digest digest) throws IOException {
        try {
            return Files.size(blobFile(digest));
        } catch (NoSuchFileException e) {
            throw new IOException(describe() + ": blob " + digest + " is missing ("
                    + blobFile(digest) + ")", e);
        }
    }

    @Override
    public OptionalLong blobSize(Digest digest) throws IOException {
        Path file = blobFile(digest);
        return Files.isRegularFile(file) ? OptionalLong.of(Files.size(file))
                : OptionalLong.empty();
    }

    @Override
    public BlobPushResult pushBlob(Digest digest, long size, BlobSource data)
            throws IOException {
        if (hasBlob(digest)) {
            return BlobPushResult.EXISTED;
        }
        Path target = blobFile(digest);
        Path temp = AtomicFiles.createTempBeside(target);
        try {
            MessageDigest hash = BootstrapLayer.sha256();
            long written;
            try (InputStream in = new DigestInputStream(data.open(), hash);
                    OutputStream out = Files.newOutputStream(temp)) {
                written = in.transferTo(out);
            }
            Digest actual = Digest.fromHash(hash.digest());
            if (!actual.equals(digest) || (size >= 0 && written != size)) {
                throw new IOException("blob written to " + describe() + " has digest " + actual
                        + " and " + written + " bytes, expected " + digest + " and " + size);
            }
            AtomicFiles.moveIntoPlace(temp, target);
        } finally {
            ExitCleanup.delete(temp);
        }
        return BlobPushResult.UPLOADED;
    }

    @Override
    public Digest putManifest(ManifestContent content) throws IOException {
        pushBlob(content.digest(), content.size(), BlobSource.of(content.bytes()));
        return content.digest();
    }

    /**
     * Stores the manifest and names it in {@code index.json} by the location's tag, replacing
     * the entry of that name; a location without a tag replaces the entries without a name.
     */
    @Override
    public Digest putImage(ManifestContent content) throws IOException {
        putManifest(content);
        List<Descriptor> entries = new ArrayList<>();
        for (Descriptor entry : readIndex().manifests()) {
            String name = entry.annotations().get(REF_NAME);
            if (location.tag() == null ? name != null : !location.tag().equals(name)) {
                entries.add(entry);
            }
        }
        Descriptor entry = content.descriptor();
        if (location.tag() != null) {
            entry = entry.withAnnotations(Map.of(REF_NAME, location.tag()));
        }
        entries.add(entry);
        writeIndex(entries);
        return content.digest();
    }

    private ImageIndex readIndex() throws IOException {
        Path file = dir.resolve(INDEX_FILE);
        if (Files.size(file) > RegistryClient.MAX_MANIFEST_BYTES) {
            throw new IOException(describe() + ": " + file + " is larger than "
                    + RegistryClient.MAX_MANIFEST_BYTES + " bytes");
        }
        try {
            return ImageIndex.parse(Files.readAllBytes(file), file.toString());
        } catch (IllegalArgumentException e) {
            throw new IOException(describe() + ": " + e.getMessage(), e);
        }
    }

    private void writeIndex(List<Descriptor> entries) throws IOException {
        ImageIndex index = new ImageIndex(2, MediaTypes.OCI_INDEX, null, entries, null,
                Map.of(), Map.of());
        AtomicFiles.write(dir.resolve(INDEX_FILE), index.toJson());
    }

    Path directory() {
        return dir;
    }

    private Path blobFile(Digest digest) {
        return dir.resolve("blobs/sha256").resolve(digest.hex());
    }

    @Override
    public void close() throws IOException {
    }

    /** A stream that checks the SHA-256 digest of a layout blob when it reaches the end. */
    private static final class CheckedStream extends FilterInputStream {
        private final Digest expected;
        private final Path file;
        private final MessageDigest hash;
        private boolean checked;

        CheckedStream(InputStream in, Digest expected, Path file) {
            this(in, expected, file, BootstrapLayer.sha256());
        }

        private CheckedStream(InputStream in, Digest expected, Path file, MessageDigest hash) {
            super(new DigestInputStream(in, hash));
            this.expected = expected;
            this.file = file;
            this.hash = hash;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b < 0) {
                check();
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = super.read(buffer, offset, length);
            if (n < 0) {
                check();
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            // Skipped bytes would bypass the digest, so they are read instead.
            return in.readNBytes((int) Math.min(n, 1 << 16)).length;
        }

        private void check() throws IOException {
            if (checked) {
                return;
            }
            checked = true;
            Digest actual = Digest.fromHash(hash.digest());
            if (!actual.equals(expected)) {
                throw new IOException("blob " + file + " has digest " + actual + ", not "
                        + expected + " as its name says");
            }
        }
    }
}
