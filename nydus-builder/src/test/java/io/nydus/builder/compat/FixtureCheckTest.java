package io.nydus.builder.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.ImageChecker;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Checks the upstream v6 images whose blobs are available: {@code rafs-v6-2.2.boot} with its
 * blob, and the bootstrap inlined in the ToC fixture blob with that blob. Every chunk is read,
 * decompressed and checked against its digest.
 */
class FixtureCheckTest {
    private TempDir dir;

    @BeforeEach
    void createTempDir() throws IOException {
        dir = TempDirs.create("fixture-check-");
    }

    @AfterEach
    void removeTempDir() throws IOException {
        dir.close();
    }

    /** The bootstrap and a blob directory holding its blob under the id the bootstrap records. */
    private record Image(Path bootstrap, Path blobDir, Path blob) {
    }

    private Image v6Image() throws IOException {
        Path bootstrap = FixtureImages.bootstrap(FixtureImages.V6_BOOT, dir.path());
        Path blobDir = Files.createDirectories(dir.resolve("blobs"));
        Path blob = UpstreamFixtures.copy(UpstreamFixtures.V6_BLOB, blobDir);
        return new Image(bootstrap, blobDir, blob);
    }

    /**
     * The inlined bootstrap was written before the blob id was known, so it records another id
     * than the blob's file name. The blob is stored under the recorded id.
     */
    private Image inlinedImage() throws IOException {
        Path bootstrap = FixtureImages.bootstrap(FixtureImages.TOC_INLINED, dir.path());
        Path blobDir = Files.createDirectories(dir.resolve("blobs"));
        String recordedId = BootstrapReader.read(bootstrap).blobs().getFirst().blobId();
        Path blob = blobDir.resolve(recordedId);
        Files.copy(bootstrap.resolveSibling(UpstreamFixtures.TOC_BLOB_ID), blob);
        return new Image(bootstrap, blobDir, blob);
    }

    @Test
    void checkerPassesV6Image() throws IOException {
        Image image = v6Image();
        ImageChecker.Summary summary = ImageChecker.check(image.bootstrap(), image.blobDir());
        assertEquals(2, summary.chunksVerified());
        assertEquals(16931 + 13400, summary.bytesVerified());
    }

    @Test
    void checkerPassesInlinedBootstrap() throws IOException {
        Image image = inlinedImage();
        ImageChecker.Summary summary = ImageChecker.check(image.bootstrap(), image.blobDir());
        assertEquals(3, summary.chunksVerified());
        assertEquals(2816 + 678 + 3115, summary.bytesVerified());
    }

    @Test
    void everyChunkOfV6ImageVerifies() throws IOException {
        Image image = v6Image();
        assertEquals(16931 + 13400, readEveryChunk(image));
    }

    @Test
    void everyChunkOfInlinedBootstrapVerifies() throws IOException {
        Image image = inlinedImage();
        assertEquals(2816 + 678 + 3115, readEveryChunk(image));
    }

    @Test
    void checkerRejectsCorruptChunk() throws IOException {
        Image image = v6Image();
        try (RandomAccessFile blob = new RandomAccessFile(image.blob().toFile(), "rw")) {
            // Byte 100 lies inside the zstd data of chunk 0 (4828 stored bytes).
            blob.seek(100);
            int value = blob.read();
            blob.seek(100);
            blob.write(value ^ 0xFF);
        }
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> ImageChecker.check(image.bootstrap(), image.blobDir()));
        assertTrue(e.getMessage().contains(UpstreamFixtures.V6_BLOB_ID), e.getMessage());
    }

    /** Reads each chunk table entry and returns the bytes read. */
    private static long readEveryChunk(Image image) throws IOException {
        DecodedBootstrap decoded = BootstrapReader.decode(image.bootstrap());
        BlobInfo blob = decoded.bootstrap().blobs().getFirst();
        long bytes = 0;
        try (FileChannel channel = FileChannel.open(image.blob(), StandardOpenOption.READ)) {
            for (Chunk chunk : decoded.chunkTable()) {
                bytes += UpstreamFixtures.readChunk(channel, blob, chunk).length;
            }
        }
        return bytes;
    }

}
