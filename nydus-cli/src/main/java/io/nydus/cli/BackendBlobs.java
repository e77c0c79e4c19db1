package io.nydus.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.builder.ExitCleanup;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.storage.BlobBackend;
import io.nydus.storage.BlobDownloads;
import io.nydus.storage.backend.BackendMetrics;
import io.nydus.storage.backend.Backends;
import io.nydus.storage.config.BackendConfig;
import io.nydus.storage.config.RegistryConfig;
import io.nydus.storage.config.RuntimeSettings;
import io.nydus.storage.config.StorageConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The blobs of an image in a storage backend, for commands that read whole blobs from local
 * files: they copy the blobs into a temporary directory first.
 */
final class BackendBlobs {
    private static final Logger LOG = LoggerFactory.getLogger(BackendBlobs.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String NYDUSD_FIELD = "device.backend.config";

    private BackendBlobs() {}

    /**
     * Parses {@code text} as a JSON object.
     *
     * @param source names the text in errors, such as an option or a file
     * @param example a JSON object of the expected form, for the error
     * @throws IllegalArgumentException if the text is not a JSON object
     */
    static JsonNode parseObject(String text, String source, String example) {
        JsonNode node;
        try {
            node = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + " is not valid JSON (line "
                    + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr()
                    + ")");
        }
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(source + " must be a JSON object, such as "
                    + example);
        }
        return node;
    }

    /**
     * Returns the backend of {@code type} with {@code config}, the config object of nydusd's
     * {@code device.backend}, checked as nydusd checks it.
     *
     * @param field the path of {@code config} in its file, which errors name in place of
     *     nydusd's {@code device.backend.config}
     * @throws IllegalArgumentException naming {@code source} if the configuration is invalid
     */
    static BackendConfig backend(String type, JsonNode config, String source, String field) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode node = root.putObject("device").putObject("backend");
        node.put("type", type);
        node.set("config", config);
        try {
            BackendConfig backend = StorageConfig.parse(root.toString(), System.getenv())
                    .backend();
            if (backend instanceof RegistryConfig registry && registry.auth().isPresent()) {
                RuntimeSettings.decodeAuth(registry.auth().get(), NYDUSD_FIELD + ".auth");
            }
            return backend;
        } catch (RuntimeException e) {
            String message = String.valueOf(e.getMessage()).replace(NYDUSD_FIELD, field);
            throw new IllegalArgumentException(source + ": " + message, e);
        }
    }

    /**
     * Blobs copied into a temporary directory, which {@link #close} deletes, and a JVM shutdown
     * (SIGTERM, Ctrl-C) too if it comes first.
     */
    static final class Copies implements AutoCloseable {
        private final Path dir;

        private Copies(Path dir) throws IOException {
            this.dir = ExitCleanup.deleteAtExit(dir);
        }

        Path dir() {
            return dir;
        }

        @Override
        public void close() throws IOException {
            deleteTree(dir);
            ExitCleanup.unregister(dir);
        }
    }

    /**
     * Copies the blobs of {@code bootstrap} that {@code wanted} accepts by id from
     * {@code backend} into a new temporary directory beside {@code output}.
     *
     * @param command names the command in the directory's name, such as "unpack"
     */
    static Copies download(BackendConfig backend, Path bootstrap, Predicate<String> wanted,
            Path output, String command) throws IOException {
        Path parent = output.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Copies copies = new Copies(Files.createTempDirectory(parent,
                ".nydus-" + command + "-blobs-"));
        try (BlobBackend source = Backends.open(backend, new BackendMetrics())) {
            for (BlobInfo blob : BootstrapReader.decode(bootstrap).bootstrap().blobs()) {
                if (wanted.test(blob.blobId())) {
                    copy(source, blob.blobId(), copies);
                    // A ZRAN blob's chunk table is in its ref blob, beside the gzip layer.
                    if (blob.has(BlobFeatures.SEPARATE)
                            && !blob.metaDigest().equals(BlobInfo.ZERO_DIGEST)) {
                        copy(source, blob.metaDigest(), copies);
                    }
                }
            }
            return copies;
        } catch (IOException | RuntimeException e) {
            copies.close();
            throw e;
        }
    }

    /**
     * Copies blob {@code blobId} of {@code backend} into a new temporary directory, where it
     * has the blob id as its name.
     *
     * @param command names the command in the directory's name, such as "stat"
     * @throws java.nio.file.NoSuchFileException if the backend has no such blob
     */
    static Copies downloadBlob(BackendConfig backend, String blobId, String command)
            throws IOException {
        Copies copies = new Copies(Files.createTempDirectory(".nydus-" + command + "-blobs-"));
        try (BlobBackend source = Backends.open(backend, new BackendMetrics())) {
            copy(source, blobId, copies);
            return copies;
        } catch (IOException | RuntimeException e) {
            copies.close();
            throw e;
        }
    }

    private static void copy(BlobBackend source, String blobId, Copies copies)
            throws IOException {
        long size = BlobDownloads.download(source, blobId, copies.dir().resolve(blobId));
        LOG.info("copied blob {} ({} bytes) from {}", blobId, size, source.describe());
    }

    /** Deletes {@code dir} and everything in it. */
    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
