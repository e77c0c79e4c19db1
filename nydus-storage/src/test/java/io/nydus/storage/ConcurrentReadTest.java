package io.nydus.storage;

import static io.nydus.storage.StorageFixture.blobGets;
import static io.nydus.storage.StorageFixture.bytes;
import static io.nydus.storage.StorageFixture.config;
import static io.nydus.storage.StorageFixture.fileCache;
import static io.nydus.storage.StorageFixture.registryBackend;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.registry.RegistryServer;
import io.nydus.registry.RegistryServer.AccessLogEntry;
import io.nydus.storage.config.StorageConfig;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Many threads reading the same small files at once, each chunk fetched once. */
class ConcurrentReadTest {
    private static final int THREADS = 32;

    private static TempDir images;
    private static TestImage image;

    private TempDir dir;
    private RegistryServer registry;

    @BeforeAll
    static void buildImage() throws IOException {
        images = TempDirs.create("storage-many");
        image = TestImage.build(images.path(), TestImage.generate(1000, 1, 4096, 5),
                64 << 10);
    }

    @AfterAll
    static void removeImage() throws IOException {
        images.close();
    }

    @BeforeEach
    void startRegistry() throws Exception {
        dir = TempDirs.create("storage-concurrent");
        registry = RegistryServer.startWithAccessLog(dir);
        image.push(registry.repository(StorageFixture.REPO));
        image.installBlobMeta(dir.resolve("cache"));
    }

    @AfterEach
    void stopRegistry() throws IOException {
        registry.close();
        dir.close();
    }

    @ParameterizedTest(name = "amplify {0}")
    @ValueSource(ints = {0, 1 << 20})
    void threadsShareEachFetch(int amplify) throws Exception {
        StorageConfig config = config(registryBackend(registry, 0),
                fileCache(dir.resolve("cache")), amplify, false, null);
        List<String> names = new ArrayList<>(image.files.keySet());
        List<String> failures = Collections.synchronizedList(new ArrayList<>());
        try (ImageStorage storage = ImageStorage.open(config, image.blobs, image.chunkTable)) {
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            List<Future<?>> tasks = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                List<String> order = new ArrayList<>(names);
                Collections.shuffle(order, new Random(t));
                tasks.add(pool.submit(() -> readEach(storage, order, failures)));
            }
            for (Future<?> task : tasks) {
                task.get();
            }
            pool.shutdown();
        }
        List<AccessLogEntry> gets = blobGets(registry, image.blobId());

        assertEquals(List.of(), failures);
        assertEquals(image.chunkDataSize(), bytes(gets));
        if (amplify == 0) {
            assertEquals(image.distinctChunks().size(), gets.size());
        }
    }

    private static void readEach(ImageStorage storage, List<String> names,
            List<String> failures) {
        for (String name : names) {
            try {
                byte[] read = image.read(storage, name);
                if (!java.util.Arrays.equals(image.files.get(name), read)) {
                    failures.add(name + ": wrong bytes");
                }
            } catch (IOException e) {
                failures.add(name + ": " + e.getMessage());
            }
        }
    }

    @org.junit.jupiter.api.Test
    void bandwidthRateBoundsPrefetchRequests() throws Exception {
        int rate = 256 << 10;
        String prefetch = """
                {"enable": true, "threads_count": 2, "merging_size": 1048576,
                 "bandwidth_rate": %d, "prefetch_all": true}""".formatted(rate);
        StorageConfig config = config(registryBackend(registry, 0),
                fileCache(dir.resolve("cache")), 0, false, prefetch);
        long start = System.nanoTime();
        try (ImageStorage storage = ImageStorage.open(config, image.blobs, image.chunkTable)) {
            storage.prefetch(List.of()).get();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        List<AccessLogEntry> gets = blobGets(registry, image.blobId());
        long total = bytes(gets);
        long first = gets.stream().mapToLong(AccessLogEntry::bytes).max().orElse(0);

        assertEquals(image.chunkDataSize(), total);
        assertEquals(true, gets.stream().allMatch(g -> g.bytes() <= rate), gets.toString());
        // A lower bound only: the limiter cannot let the data through faster than the rate.
        assertEquals(true, seconds >= (total - first) / (double) rate * 0.95,
                "prefetch of " + total + " bytes took " + seconds + " s");
    }
}
