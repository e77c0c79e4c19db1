package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.blob.BlobSection;
import io.nydus.rafs.blob.TocEntry;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeGenerator;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The image checker on good images and on blobs with one flipped byte. */
class ImageCheckerTest {
    /** The superblock's s_inos, 64 bits at byte 16 of the superblock at 1024. */
    private static final long S_INOS_OFFSET = 1024 + 16;
    /** Offset of {@code i_nlink} in a 64-byte extended inode, which the builder writes. */
    private static final int EXTENDED_INODE_NLINK = 44;

    private TempDir work;
    private TestImage image;

    @BeforeEach
    void buildImage() throws IOException {
        work = TempDirs.create("image-checker-");
        Path source = work.resolve("source");
        TreeGenerator.createSmall(BytePath.of(source));
        image = TestImage.fromDirectory(source, Compressor.ZSTD, work.resolve("image"));
    }

    @AfterEach
    void removeWork() throws IOException {
        work.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"zstd", "lz4_block", "none"})
    void goodImagePasses(String compressor) throws IOException {
        TestImage built = TestImage.fromDirectory(work.resolve("source"),
                Compressor.fromLabel(compressor), work.resolve("image-" + compressor));
        ImageChecker.Summary summary = ImageChecker.check(built.bootstrap(), built.blobDir());
        Bootstrap bootstrap = BootstrapReader.read(built.bootstrap());
        assertEquals(bootstrap.blobs().getFirst().chunkCount(), summary.chunksVerified());
        assertTrue(summary.chunksVerified() > 0, "chunks verified");
        assertEquals(summary.uniqueChunks(), summary.chunksVerified());
    }

    @Test
    void bootstrapAloneVerifiesNoChunks() throws IOException {
        ImageChecker.Summary summary = ImageChecker.check(image.bootstrap(), null);
        assertEquals(0, summary.chunksVerified());
        assertTrue(summary.entries() > 1, "entries counted");
    }

    @Test
    void flippedChunkByteFails() throws IOException {
        Chunk chunk = nestedChunk();
        long middle = chunk.compressedOffset() + chunk.compressedSize() / 2;
        BlobCorruption.flip(image.blobFile(), middle);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> ImageChecker.check(image.bootstrap(), image.blobDir()));
        assertTrue(e.getMessage().contains(image.blobId()), e.getMessage());
        assertTrue(e.getMessage().contains("chunk " + chunk.index()), e.getMessage());
        assertTrue(e.getMessage().contains("/dir/nested"), e.getMessage());
    }

    @Test
    void flippedCiTableByteFails() throws IOException {
        BlobSection ci;
        try (BlobReader reader = BlobReader.open(image.blobFile(), null)) {
            ci = reader.meta().section(TocEntry.BLOB_META).orElseThrow();
        }
        BlobCorruption.flip(image.blobFile(), ci.offset() + ci.storedSize() / 2);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> ImageChecker.check(image.bootstrap(), image.blobDir()));
        assertTrue(e.getMessage().contains(image.blobId()), e.getMessage());
    }

    @Test
    void wrongNlinkFails() throws IOException {
        DecodedBootstrap decoded = BootstrapReader.decode(image.bootstrap());
        Node hardlink = decoded.bootstrap().root().child(bytes("dir")).child(bytes("hardlink"));
        long nlinkAt = decoded.inode(hardlink).offset() + EXTENDED_INODE_NLINK;
        assertEquals(2, decoded.inode(hardlink).nlink());
        try (FileChannel channel = FileChannel.open(image.bootstrap(),
                StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 1),
                    nlinkAt);
        }
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> ImageChecker.check(image.bootstrap(), null));
        assertTrue(e.getMessage().contains("nlink is 1"), e.getMessage());
    }

    @Test
    void wrongInodeCountFails() throws IOException {
        long entries = ImageChecker.check(image.bootstrap(), null).entries();
        try (FileChannel channel = FileChannel.open(image.bootstrap(),
                StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(0, entries + 1), S_INOS_OFFSET);
        }

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> ImageChecker.check(image.bootstrap(), null));

        assertTrue(e.getMessage().contains("s_inos at offset 0x410 is " + (entries + 1)
                + ", but the tree has " + entries + " entries"), e.getMessage());
    }

    @Test
    void missingBlobFails() throws IOException {
        Files.delete(image.blobFile());
        IOException e = assertThrows(IOException.class,
                () -> ImageChecker.check(image.bootstrap(), image.blobDir()));
        assertTrue(e.getMessage().contains(image.blobId()), e.getMessage());
    }

    @Test
    void upstreamFixturePasses() throws IOException {
        Path fixtures = upstreamFixtures().resolve("nydus");
        ImageChecker.Summary summary = ImageChecker.check(
                fixtures.resolve("bootstrap/rafs-v6-2.2.boot"), fixtures.resolve("blobs"));
        assertEquals(2, summary.chunksVerified());
        assertEquals(30331, summary.bytesVerified());
    }

    /** Finds the read-only upstream fixtures in a {@code shared} folder above the module. */
    private static Path upstreamFixtures() throws IOException {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared/fixtures/upstream");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        throw new IOException("no shared/fixtures/upstream folder above "
                + Path.of("").toAbsolutePath());
    }

    private Chunk nestedChunk() throws IOException {
        Node nested = BootstrapReader.read(image.bootstrap()).root()
                .child(bytes("dir")).child(bytes("nested"));
        return nested.inode().chunks().getFirst();
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
