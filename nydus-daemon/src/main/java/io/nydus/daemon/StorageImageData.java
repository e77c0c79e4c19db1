package io.nydus.daemon;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.storage.BlobBackend;
import io.nydus.storage.ImageStorage;
import io.nydus.storage.backend.BackendMetrics;
import io.nydus.storage.backend.Backends;
import io.nydus.storage.config.RuntimeSettings;
import io.nydus.storage.config.StorageConfig;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The data side of a mount on the project's blob cache and backends. */
public final class StorageImageData implements ImageData {
    private static final Logger LOG = LoggerFactory.getLogger(StorageImageData.class);

    private final ImageStorage storage;

    private StorageImageData(ImageStorage storage) {
        this.storage = storage;
    }

    /**
     * Opens the storage that the configuration's {@code device} section describes, for the
     * blobs and chunk table of {@code image}. {@code IMAGE_PULL_AUTH} in the environment
     * overrides the registry credentials, and the API's {@code registry_auth} in
     * {@code settings} overrides both.
     */
    public static ImageData open(DaemonConfig config, DecodedBootstrap image,
            RuntimeSettings.Scope settings) throws IOException {
        StorageConfig storageConfig = StorageConfig.parse(config.json().toString(),
                System.getenv());
        Optional<Path> workDir = storageConfig.cache().workDir();
        if (workDir.isPresent()) {
            createWorkDir(workDir.get());
        }
        BackendMetrics metrics = new BackendMetrics();
        BlobBackend backend = Backends.open(storageConfig.backend(), metrics, settings);
        return new StorageImageData(ImageStorage.open(storageConfig, backend, metrics,
                image.bootstrap().blobs(), image.chunkTable()));
    }

    /**
     * Creates the blob cache's directory before the storage does, so that a failure names the
     * configuration field that sets it.
     */
    private static void createWorkDir(Path dir) throws IOException {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IOException("cannot create the blob cache's work_dir " + dir
                    + " (device.cache.config.work_dir): " + reason(e) + "; give a directory"
                    + " that nydusd can create and write", e);
        }
    }

    private static String reason(IOException e) {
        return switch (e) {
            case NoSuchFileException missing -> "no such file or directory";
            case FileAlreadyExistsException exists -> "it exists and is not a directory";
            case AccessDeniedException denied -> "permission denied";
            case FileSystemException other when other.getReason() != null -> other.getReason();
            default -> String.valueOf(e.getMessage());
        };
    }

    @Override
    public void read(Chunk chunk, int offsetInChunk, MemorySegment target) throws IOException {
        storage.read(chunk, offsetInChunk, target);
    }

    @Override
    public void prefetch(List<Chunk> chunks, boolean yielding) {
        storage.prefetch(chunks, yielding).whenComplete((done, failure) -> {
            if (failure != null) {
                LOG.warn("prefetch of {} listed chunks ended early: {}", chunks.size(),
                        failure.getMessage());
            }
        });
    }

    @Override
    public void prefetchAll() {
        storage.prefetchAll().whenComplete((done, failure) -> {
            if (failure != null) {
                LOG.warn("background fetch of whole blobs ended early: {}",
                        failure.getMessage());
            }
        });
    }

    @Override
    public String backend() {
        return storage.backend().describe();
    }

    @Override
    public Map<String, Object> backendMetrics() {
        return storage.backendMetrics();
    }

    @Override
    public Map<String, Object> cacheMetrics() {
        return storage.cacheMetrics();
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }
}
