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
import java.util.List;
import java.util.Map;
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
        BackendMetrics metrics = new BackendMetrics();
        BlobBackend backend = Backends.open(storageConfig.backend(), metrics, settings);
        return new StorageImageData(ImageStorage.open(storageConfig, backend, metrics,
                image.bootstrap().blobs(), image.chunkTable()));
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
