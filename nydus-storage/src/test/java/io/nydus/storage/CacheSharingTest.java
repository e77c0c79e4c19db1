package io.nydus.storage;

import static io.nydus.storage.StorageFixture.blobGets;
import static io.nydus.storage.StorageFixture.config;
import static io.nydus.storage.StorageFixture.fileCache;
import static io.nydus.storage.StorageFixture.registryBackend;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.RegistryServer;
import io.nydus.storage.config.StorageConfig;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Two processes filling one blob cache at the same time. */
class CacheSharingTest {

    @Test
    void twoProcessesShareWorkDir() throws Exception {
        try (TempDir dir = TempDirs.create("storage-sharing");
                RegistryServer registry = RegistryServer.startWithAccessLog(dir)) {
            TestImage image = TestImage.build(dir.resolve("image"),
                    TestImage.generate(300, 1, 20_000, 21), 16 << 10);
            image.push(registry.repository(StorageFixture.REPO));
            Path workDir = dir.resolve("cache");
            String backend = registryBackend(registry, 0);
            String json = """
                    {"device": {"backend": %s, "cache": %s}, "amplify_io": 0}"""
                    .formatted(backend, fileCache(workDir));
            Path configFile = dir.resolve("config.json");
            Files.writeString(configFile, json);
            StorageConfig config = StorageConfig.parse(json, Map.of());

            Process child = startChild(configFile, image, dir.resolve("child.log"));
            List<String> names = new ArrayList<>(image.files.keySet());
            Collections.reverse(names);
            try (ImageStorage storage = ImageStorage.open(config, image.blobs,
                    image.chunkTable)) {
                for (String name : names) {
                    assertArrayEquals(image.files.get(name), image.read(storage, name), name);
                }
            }
            assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the child process timed out");
            String output = Files.readString(dir.resolve("child.log"), StandardCharsets.UTF_8);
            assertEquals(0, child.exitValue(), output);
            long fetched = blobGets(registry, image.blobId()).size();

            Map<String, Object> metrics = readAll(config, image);

            assertEquals(fetched, blobGets(registry, image.blobId()).size());
            assertEquals(metrics.get("total"), metrics.get("whole_hits"));
            assertTrue(fetched <= 2L * image.distinctChunks().size(), "fetched " + fetched);
        }
    }

    private static Process startChild(Path configFile, TestImage image, Path log)
            throws IOException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = List.of(java.toString(), "--add-modules",
                "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), CacheSharingMain.class.getName(),
                configFile.toString(), image.bootstrapFile.toString(), image.blobId());
        return new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
    }

    private static Map<String, Object> readAll(StorageConfig config, TestImage image)
            throws IOException {
        try (ImageStorage storage = ImageStorage.open(config, image.blobs, image.chunkTable)) {
            for (Map.Entry<String, byte[]> file : image.files.entrySet()) {
                assertArrayEquals(file.getValue(), image.read(storage, file.getKey()),
                        file.getKey());
            }
            return storage.cacheMetrics();
        }
    }
}
