package io.nydus.storage;

import static io.nydus.storage.StorageFixture.config;
import static io.nydus.storage.StorageFixture.fileCache;
import static io.nydus.storage.StorageFixture.localFsBackend;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.nydus.storage.config.StorageConfig;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Two images of one process that share a blob cache, where a thread that reads through one of
 * them is interrupted, as a prefetch worker is when its image is unmounted.
 */
class SharedCacheInterruptTest {

    @Test
    void interruptedReaderLeavesOtherImageReadable() throws Exception {
        try (TempDir dir = TempDirs.create("storage-interrupt")) {
            TestImage image = TestImage.build(dir.resolve("image"),
                    TestImage.generate(40, 1, 40_000, 5), 16 << 10);
            StorageConfig config = config(localFsBackend(image.blobFile.getParent()),
                    fileCache(dir.resolve("cache")), 0, false, null);
            try (ImageStorage unmounted = ImageStorage.open(config, image.blobs,
                    image.chunkTable);
                    ImageStorage other = ImageStorage.open(config, image.blobs,
                            image.chunkTable)) {
                // Nothing is cached yet, so the read checks the chunk map and stores chunks.
                readInterrupted(image, unmounted, "f0000");
                assertEveryFileReads(image, other);

                // Every chunk is cached now, so the read copies from the data file.
                readInterrupted(image, unmounted, "f0001");
                assertEveryFileReads(image, other);
            }
        }
    }

    /** Reads {@code name} on a thread that is interrupted, ignoring what the read does. */
    private static void readInterrupted(TestImage image, ImageStorage storage, String name)
            throws InterruptedException {
        Thread reader = Thread.ofPlatform().start(() -> {
            Thread.currentThread().interrupt();
            try {
                image.read(storage, name);
            } catch (IOException e) {
                // The interrupt may fail this read; only the other image matters here.
            }
        });
        reader.join();
    }

    private static void assertEveryFileReads(TestImage image, ImageStorage storage)
            throws IOException {
        for (Map.Entry<String, byte[]> file : image.files.entrySet()) {
            assertArrayEquals(file.getValue(), image.read(storage, file.getKey()),
                    file.getKey());
        }
    }
}
