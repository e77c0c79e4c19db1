package io.nydus.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.posix.Posix;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class BlobCacheTest {
    private static final String OLDEST = "aa".repeat(32);
    private static final String MIDDLE = "bb".repeat(32);
    private static final String NEWEST = "cc".repeat(32);

    private TempDir dir;

    @BeforeEach
    void createDir() throws Exception {
        dir = TempDirs.create("blob-cache");
    }

    @AfterEach
    void removeDir() throws Exception {
        dir.close();
    }

    private Path blob(String id, int size, long usedAtMillis) throws Exception {
        Path data = dir.resolve(id + ".blob.data");
        Files.write(data, new byte[size]);
        FileTime time = FileTime.fromMillis(usedAtMillis);
        Files.setLastModifiedTime(data, time);
        Files.setAttribute(data, "lastAccessTime", time);
        return data;
    }

    private static BlobCache.Usage usage(Set<String> referenced, Set<String> mounted) {
        return new BlobCache.Usage(referenced, mounted);
    }

    /** Returns the disk space allocated to {@code file}, which the cache counts. */
    private static long allocated(Path file) throws Exception {
        return Posix.lstat(BytePath.of(file)).blocks() * 512;
    }

    @Test
    void limitEvictsLeastRecentlyUsed() throws Exception {
        Path oldest = blob(OLDEST, 1000, 1_000_000);
        Path middle = blob(MIDDLE, 1000, 2_000_000);
        Path newest = blob(NEWEST, 1000, 3_000_000);
        BlobCache cache = new BlobCache(dir.path(), allocated(middle) + allocated(newest));
        long oldestBytes = allocated(oldest);

        long freed = cache.collect(() -> usage(Set.of(OLDEST, MIDDLE, NEWEST), Set.of()));

        assertEquals(oldestBytes, freed);
        assertFalse(Files.exists(oldest));
        assertTrue(Files.exists(middle));
        assertTrue(Files.exists(newest));
    }

    @Test
    void limitSparesMountedBlobs() throws Exception {
        Path oldest = blob(OLDEST, 1000, 1_000_000);
        Path middle = blob(MIDDLE, 1000, 2_000_000);
        BlobCache cache = new BlobCache(dir.path(), allocated(oldest) + allocated(middle));

        cache.collect(() -> usage(Set.of(OLDEST, MIDDLE, NEWEST), Set.of(OLDEST)));
        blob(NEWEST, 1000, 3_000_000);
        cache.collect(() -> usage(Set.of(OLDEST, MIDDLE, NEWEST), Set.of(OLDEST)));

        assertTrue(Files.exists(oldest));
        assertFalse(Files.exists(middle));
    }

    @Test
    void unreferencedBlobsGoFirst() throws Exception {
        BlobCache cache = new BlobCache(dir.path(), 0);
        Path kept = blob(OLDEST, 10, 1_000_000);
        Path unused = blob(MIDDLE, 10, 2_000_000);
        Path unusedMeta = dir.resolve(MIDDLE + ".blob.meta");
        Files.write(unusedMeta, new byte[10]);
        Path other = dir.resolve("not-a-blob.txt");
        Files.writeString(other, "left alone");
        long unusedBytes = allocated(unused) + allocated(unusedMeta);

        long freed = cache.collect(() -> usage(Set.of(OLDEST), Set.of()));

        assertEquals(unusedBytes, freed);
        assertTrue(Files.exists(kept));
        assertFalse(Files.exists(unused));
        assertFalse(Files.exists(unusedMeta));
        assertTrue(Files.exists(other));
    }

    @Test
    void sparseBlobCountsAllocatedBlocks() throws Exception {
        Path data = dir.resolve(OLDEST + ".blob.data");
        try (RandomAccessFile file = new RandomAccessFile(data.toFile(), "rw")) {
            file.setLength(16 << 20);
            file.write(new byte[4096]);
        }
        BlobCache cache = new BlobCache(dir.path(), 0);

        long size = cache.sizeBytes();

        assertEquals(allocated(data), size);
        assertTrue(size < 1 << 20, "a blob with one written block counts " + size + " bytes");
    }

    @Test
    void blobCachedDuringScanIsKept() throws Exception {
        BlobCache cache = new BlobCache(dir.path(), 0);
        Path unused = blob(OLDEST, 10, 1_000_000);
        Path[] cachedMeanwhile = new Path[1];

        // The usage is read after the scan, as a snapshot created meanwhile would appear.
        cache.collect(() -> {
            try {
                cachedMeanwhile[0] = blob(MIDDLE, 10, 2_000_000);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return usage(Set.of(), Set.of());
        });

        assertFalse(Files.exists(unused));
        assertTrue(Files.exists(cachedMeanwhile[0]));
    }

    @Test
    void releaseRejectsPathLikeIds() throws Exception {
        BlobCache cache = new BlobCache(dir.path(), 0);

        assertThrows(IllegalArgumentException.class, () -> cache.release("../../etc/passwd"));
    }
}
