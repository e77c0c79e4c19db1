package io.nydus.storage;

import io.nydus.registry.RegistryServer;
import io.nydus.registry.RegistryServer.AccessLogEntry;
import io.nydus.storage.config.StorageConfig;
import io.nydus.registry.Digest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Configurations and access-log counts shared by the storage tests. */
final class StorageFixture {
    static final String REPO = "storage/test";

    private StorageFixture() {
    }

    /** Returns a registry backend section for {@code registry}. */
    static String registryBackend(RegistryServer registry, int retryLimit) {
        return """
                {"type": "registry", "config": {"scheme": "http", "host": "%s", "repo": "%s",
                 "timeout": 5, "connect_timeout": 5, "retry_limit": %d}}"""
                .formatted(registry.address(), REPO, retryLimit);
    }

    static String localFsBackend(Path dir) {
        return """
                {"type": "localfs", "config": {"dir": "%s"}}""".formatted(dir);
    }

    static String fileCache(Path workDir) {
        return """
                {"type": "blobcache", "config": {"work_dir": "%s"}}""".formatted(workDir);
    }

    /** Returns a parsed configuration; {@code cache} null means no cache. */
    static StorageConfig config(String backend, String cache, int amplifyIo, boolean validate,
            String prefetch) {
        String json = """
                {"device": {"backend": %s, "cache": %s},
                 "mode": "direct", "digest_validate": %b, "amplify_io": %d,
                 "fs_prefetch": %s}"""
                .formatted(backend, cache == null ? "{\"type\": \"\"}" : cache, validate,
                        amplifyIo, prefetch == null ? "{\"enable\": false}" : prefetch);
        return StorageConfig.parse(json, Map.of());
    }

    /** Returns the successful range GETs of {@code blobId} in the access log. */
    static List<AccessLogEntry> blobGets(RegistryServer registry, String blobId)
            throws IOException, InterruptedException {
        return registry.accessLog().stream()
                .filter(e -> e.method().equals("GET") && e.path().contains(blobId)
                        && e.status() == 206)
                .toList();
    }

    /** Returns how many chunks of the image's first blob are in the cache. */
    static long readyChunks(ImageStorage storage) {
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> blobs =
                (List<Map<String, Object>>) storage.cacheMetrics().get("blobs");
        return ((Number) blobs.getFirst().get("chunks_ready")).longValue();
    }

    /** Flips bits of the byte at {@code offset} of the blob the registry stores. */
    static void flipStoredByte(RegistryServer registry, Digest blob, long offset)
            throws IOException {
        try (RandomAccessFile file = new RandomAccessFile(registry.blobFile(blob).toFile(),
                "rw")) {
            file.seek(offset);
            int value = file.read();
            file.seek(offset);
            file.write(value ^ 0x40);
        }
    }

    static long bytes(List<AccessLogEntry> entries) {
        return entries.stream().mapToLong(AccessLogEntry::bytes).sum();
    }
}
