package io.nydus.storage;

import static io.nydus.storage.StorageFixture.blobGets;
import static io.nydus.storage.StorageFixture.config;
import static io.nydus.storage.StorageFixture.fileCache;
import static io.nydus.storage.StorageFixture.flipStoredByte;
import static io.nydus.storage.StorageFixture.readyChunks;
import static io.nydus.storage.StorageFixture.registryBackend;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.rafs.blob.CiEntry;
import io.nydus.rafs.tree.Chunk;
import io.nydus.registry.RegistryServer;
import io.nydus.storage.config.StorageConfig;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The blob's own chunk table: read from the cache's {@code .blob.meta} file or fetched from the
 * blob and kept there, and checked against the bootstrap before any chunk is fetched.
 */
class BlobChunkTableTest {
    private static final int CHUNK_SIZE = 64 << 10;
    /** The CI table with its header. */
    private static final int TABLE_REQUESTS = 1;

    private static TempDir images;
    private static TestImage image;

    private TempDir dir;
    private RegistryServer registry;
    private Path workDir;
    private Path metaFile;

    @BeforeAll
    static void buildImage() throws IOException {
        images = TempDirs.create("storage-table-images");
        image = TestImage.build(images.path(), TestImage.generate(12, 1, 200_000, 5),
                CHUNK_SIZE);
    }

    @AfterAll
    static void removeImage() throws IOException {
        images.close();
    }

    @BeforeEach
    void startRegistry() throws Exception {
        dir = TempDirs.create("storage-table");
        registry = RegistryServer.startWithAccessLog(dir);
        image.push(registry.repository(StorageFixture.REPO));
        workDir = dir.resolve("cache");
        metaFile = workDir.resolve(image.blobId() + BlobMetaFile.SUFFIX);
    }

    @AfterEach
    void stopRegistry() throws IOException {
        registry.close();
        dir.close();
    }

    private ImageStorage open() throws IOException {
        StorageConfig config = config(registryBackend(registry, 0), fileCache(workDir), 0,
                false, null);
        return ImageStorage.open(config, image.blobs, image.chunkTable);
    }

    @Test
    void missingTableIsFetchedOnceAndKept() throws Exception {
        List<String> names = List.copyOf(image.files.keySet());
        try (ImageStorage storage = open()) {
            image.read(storage, names.get(0));
            image.read(storage, names.get(1));
        }
        int firstMount = blobGets(registry, image.blobId()).size();
        try (ImageStorage storage = open()) {
            assertArrayEquals(image.files.get(names.get(2)), image.read(storage, names.get(2)));
        }
        int secondMount = blobGets(registry, image.blobId()).size() - firstMount;

        assertEquals(TABLE_REQUESTS + chunkCount(names.get(0)) + chunkCount(names.get(1)),
                firstMount);
        assertEquals(chunkCount(names.get(2)), secondMount);
        assertEquals(image.blob().chunkCount(), tableOf(metaFile).size());
    }

    @Test
    void flippedTableByteNamesBlobAndChunk() throws Exception {
        String name = image.files.keySet().iterator().next();
        Chunk first = image.chunks.get(name).getFirst();
        flipStoredByte(registry, image.digest, image.blob().ciOffset() + 1);
        try (ImageStorage storage = open()) {
            IOException e = assertThrows(IOException.class, () -> image.read(storage, name));

            assertTrue(e.getMessage().contains("blob " + image.blobId() + " chunk "
                    + first.index()), e.getMessage());
            assertTrue(e.getMessage().contains("chunk table"), e.getMessage());
            assertEquals(0L, readyChunks(storage));
        }
        assertFalse(Files.exists(metaFile), "a corrupt table was kept");
    }

    @Test
    void disagreeingTableFileIsReplaced() throws Exception {
        image.installBlobMeta(workDir);
        Chunk moved = image.distinctChunks().getLast();
        rewriteEntry(moved.index());
        String victim = fileWith(moved);
        try (ImageStorage storage = open()) {
            assertArrayEquals(image.files.get(victim), image.read(storage, victim));
        }

        assertEquals(TABLE_REQUESTS + chunkCount(victim), blobGets(registry, image.blobId())
                .size());
        assertEquals(moved.compressedSize(), tableOf(metaFile).get(moved.index())
                .compressedSize());
    }

    @Test
    void invalidTableFileIsReplaced() throws Exception {
        Files.createDirectories(workDir);
        Files.write(metaFile, new byte[100]);
        String name = image.files.keySet().iterator().next();
        try (ImageStorage storage = open()) {
            assertArrayEquals(image.files.get(name), image.read(storage, name));
        }

        assertEquals(TABLE_REQUESTS + chunkCount(name), blobGets(registry, image.blobId())
                .size());
        assertEquals(image.blob().chunkCount(), tableOf(metaFile).size());
    }

    private static int chunkCount(String name) {
        return (int) image.chunks.get(name).stream().distinct().count();
    }

    private static String fileWith(Chunk chunk) {
        return image.files.keySet().stream().filter(n -> image.chunks.get(n).contains(chunk))
                .findFirst().orElseThrow();
    }

    private List<CiEntry> tableOf(Path file) throws IOException {
        return BlobMetaFile.decode(Files.readAllBytes(file), file.toString()).entries("test");
    }

    /** Makes the cached table give chunk {@code index} one byte less of compressed data. */
    private void rewriteEntry(int index) throws IOException {
        BlobMetaFile file = BlobMetaFile.decode(Files.readAllBytes(metaFile), "test");
        CiEntry e = file.entries("test").get(index);
        CiEntry shorter = new CiEntry(e.compressedOffset(), e.compressedSize() - 1,
                e.uncompressedOffset(), e.uncompressedSize());
        byte[] table = file.table().clone();
        shorter.encode(table, index * CiEntry.SIZE);
        Files.write(metaFile, new BlobMetaFile(file.header(), table).encode());
    }
}
