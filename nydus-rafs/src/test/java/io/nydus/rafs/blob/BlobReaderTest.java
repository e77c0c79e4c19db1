package io.nydus.rafs.blob;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.UpstreamFixtures;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads the upstream data blobs: {@code be7d77ee…} (chunks of {@code rafs-v6-2.2.boot}, with a
 * ToC and a digest array) and {@code 2fa78cad…} (a late-2022 blob with an inlined bootstrap).
 */
class BlobReaderTest {
    private static final String TOC_BOOT_SHA256 =
            "d85f1b77aab4849b34ffc447fee67a46ae9eb2af8533bf5faa62224df1796871";

    @TempDir
    Path dir;
    private Bootstrap bootstrap;
    private BlobInfo info;
    private Path blob;

    @BeforeEach
    void copyFixtures() throws IOException {
        bootstrap = BootstrapReader.read(UpstreamFixtures.copy(UpstreamFixtures.RAFS_V6_BOOT, dir));
        info = bootstrap.blobs().get(0);
        blob = UpstreamFixtures.copy(UpstreamFixtures.RAFS_V6_BLOB, dir);
    }

    private Chunk chunkOf(String name) {
        return bootstrap.root().child(name.getBytes(StandardCharsets.UTF_8)).inode().chunks()
                .get(0);
    }

    @Test
    void tocOfDataBlob() throws IOException {
        try (BlobReader reader = BlobReader.open(blob, info)) {
            BlobMeta meta = reader.meta();
            assertEquals(BlobMeta.Layout.TOC, meta.layout());
            assertEquals(List.of("image.blob", "blob.meta", "blob.meta.header", "blob.digest"),
                    meta.toc().stream().map(TocEntry::name).toList());
            assertEquals(info.tocDigest(), meta.tocDigest().orElseThrow());
            assertEquals(7802, meta.chunkDataSize());
            assertEquals(12954, meta.section(TocEntry.BLOB_DIGEST).orElseThrow().offset());
        }
    }

    @Test
    void ciTableOfDataBlob() throws IOException {
        try (BlobReader reader = BlobReader.open(blob, info)) {
            assertEquals(List.of(new CiEntry(0, 4828, 0, 16931),
                    new CiEntry(4828, 2974, 20480, 13400)), reader.meta().ciEntries());
            assertEquals(0x7000_0021, reader.meta().ciHeader().orElseThrow().features());
        }
    }

    @Test
    void digestArrayMatchesChunkTable() throws IOException {
        try (BlobReader reader = BlobReader.open(blob, info)) {
            assertEquals(List.of(chunkOf("lib.rs").digest(), chunkOf("sync_io.rs").digest()),
                    reader.meta().digests());
        }
    }

    @Test
    void chunksMatchB3sum() throws IOException {
        try (BlobReader reader = BlobReader.open(blob, info)) {
            for (String name : List.of("lib.rs", "sync_io.rs")) {
                Chunk chunk = chunkOf(name);
                Path data = Files.write(dir.resolve(name), reader.readChunk(chunk));
                String b3sum = UpstreamFixtures.run("b3sum", "--no-names", data.toString());
                assertEquals(chunk.digest().toString(), b3sum.strip(), name);
            }
        }
    }

    @Test
    void chunkMatchesZstdCommand() throws IOException {
        Chunk chunk = chunkOf("sync_io.rs");
        byte[] stored = Arrays.copyOfRange(Files.readAllBytes(blob),
                (int) chunk.compressedOffset(),
                (int) chunk.compressedOffset() + chunk.compressedSize());
        Path zst = Files.write(dir.resolve("chunk.zst"), stored);
        UpstreamFixtures.run("zstd", "-q", "-d", zst.toString(), "-o",
                dir.resolve("chunk").toString());
        try (BlobReader reader = BlobReader.open(blob, info)) {
            assertArrayEquals(Files.readAllBytes(dir.resolve("chunk")), reader.readChunk(chunk));
        }
    }

    @Test
    void chunkByCiIndexUsesDigestArray() throws IOException {
        try (BlobReader reader = BlobReader.open(blob, info)) {
            assertArrayEquals(reader.readChunk(chunkOf("lib.rs")), reader.readChunk(0));
            assertEquals(13400, reader.readChunk(1).length);
        }
    }

    @Test
    void verifySectionsHashesChunkData() throws IOException {
        try (BlobReader reader = BlobReader.open(blob, info)) {
            assertTrue(reader.verifySections());
        }
    }

    @Test
    void digestMismatchNamesBothDigests() throws IOException {
        Chunk real = chunkOf("lib.rs");
        ChunkDigest wrong = chunkOf("sync_io.rs").digest();
        Chunk forged = new Chunk(wrong, 0, 0, real.compressedOffset(), real.compressedSize(),
                real.uncompressedOffset(), real.uncompressedSize(), true, 0, false);
        try (BlobReader reader = BlobReader.open(blob, info)) {
            RafsFormatException e = assertThrows(RafsFormatException.class,
                    () -> reader.readChunk(forged));
            String message = e.getMessage();
            assertTrue(message.contains("blob " + info.blobId()), message);
            assertTrue(message.contains("chunk 0 (compressed offset 0 size 4828, uncompressed"
                    + " offset 0 size 16931)"), message);
            assertTrue(message.contains("blake3 digest " + real.digest()), message);
            assertTrue(message.contains("does not match the expected " + wrong), message);
        }
    }

    @Test
    void corruptChunkDataRejected() throws IOException {
        byte[] data = Files.readAllBytes(blob);
        data[5000] ^= 0x55;
        Files.write(blob, data);
        try (BlobReader reader = BlobReader.open(blob, info)) {
            RafsFormatException e = assertThrows(RafsFormatException.class,
                    () -> reader.readChunk(chunkOf("sync_io.rs")));
            assertTrue(e.getMessage().contains("chunk 1 (compressed offset 4828"),
                    e.getMessage());
        }
    }

    @Test
    void chunkDisagreeingWithCiRejected() throws IOException {
        Chunk real = chunkOf("lib.rs");
        Chunk moved = new Chunk(real.digest(), 0, 0, 1, real.compressedSize(),
                real.uncompressedOffset(), real.uncompressedSize(), true, 0, false);
        try (BlobReader reader = BlobReader.open(blob, info)) {
            RafsFormatException e = assertThrows(RafsFormatException.class,
                    () -> reader.readChunk(moved));
            assertTrue(e.getMessage().contains("but the CI table says 0+4828"), e.getMessage());
        }
    }

    @Test
    void tocDigestMismatchRejected() throws IOException {
        BlobInfo other = new BlobInfo(info.blobId(), info.chunkSize(), info.chunkCount(),
                info.compressor(), info.digester(), info.features(), info.compressedSize(),
                info.uncompressedSize(), info.tocSize(), info.ciCompressor(), info.ciOffset(),
                info.ciCompressedSize(), info.ciUncompressedSize(), "ab".repeat(32),
                info.metaDigest(), info.metaSize(), info.mappedBlockAddress());
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> BlobReader.open(blob, other).close());
        assertTrue(e.getMessage().contains("does not match the blob table's " + "ab".repeat(32)),
                e.getMessage());
    }

    @Test
    void corruptCiTableRejected() throws IOException {
        byte[] data = Files.readAllBytes(blob);
        data[8314 + 3] ^= 0x10;
        Files.write(blob, data);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> BlobReader.open(blob, info).close());
        assertTrue(e.getMessage().contains("CI table at offset 8314"), e.getMessage());
        assertTrue(e.getMessage().contains("does not match the ToC's"), e.getMessage());
    }

    @Test
    void tarHeadersWithoutToc() throws IOException {
        byte[] data = Files.readAllBytes(blob);
        Path noToc = Files.write(dir.resolve("no-toc.blob"),
                Arrays.copyOf(data, data.length - 1024));
        try (BlobReader reader = BlobReader.open(noToc, info)) {
            assertEquals(BlobMeta.Layout.TAR_HEADERS, reader.meta().layout());
            assertEquals(2, reader.meta().digests().size());
            assertEquals(16931, reader.readChunk(chunkOf("lib.rs")).length);
        }
    }

    @Test
    void noHeadersUsesCiOffset() throws IOException {
        Path bare = bareBlob();
        BlobInfo bareInfo = new BlobInfo(info.blobId(), info.chunkSize(), info.chunkCount(),
                info.compressor(), info.digester(), 0x1, 7802 + 32 + 4096,
                info.uncompressedSize(), 0, Compressor.NONE, 7802, 32, 32, BlobInfo.ZERO_DIGEST,
                BlobInfo.ZERO_DIGEST, 0, 0);
        try (BlobReader reader = BlobReader.open(bare, bareInfo)) {
            assertEquals(BlobMeta.Layout.NO_HEADERS, reader.meta().layout());
            assertEquals(13400, reader.readChunk(chunkOf("sync_io.rs")).length);
        }
    }

    @Test
    void noHeadersWithoutInfoUsesTrailingCiHeader() throws IOException {
        try (BlobReader reader = BlobReader.open(bareBlob(), null)) {
            assertEquals(BlobMeta.Layout.NO_HEADERS, reader.meta().layout());
            assertEquals(7802, reader.meta().chunkDataSize());
            byte[] data = reader.readChunk(chunkOf("lib.rs"), Compressor.ZSTD,
                    DigestAlgorithm.BLAKE3);
            assertEquals(16931, data.length);
        }
    }

    /** Returns the fixture rewritten the oldest way: chunk data, CI table, CI header. */
    private Path bareBlob() throws IOException {
        byte[] data = Files.readAllBytes(blob);
        byte[] bare = new byte[7802 + 32 + 4096];
        System.arraycopy(data, 0, bare, 0, 7802);
        System.arraycopy(data, 8314, bare, 7802, 32 + 4096);
        ByteBuffer.wrap(bare).order(ByteOrder.LITTLE_ENDIAN).putLong(7802 + 32 + 16, 7802);
        return Files.write(dir.resolve("bare.blob"), bare);
    }

    @Test
    void inlinedBootstrapOfTocBlob() throws IOException {
        Path tocBlob = UpstreamFixtures.copy(UpstreamFixtures.TOC_BLOB, dir);
        try (BlobReader reader = BlobReader.open(tocBlob, null)) {
            assertEquals(BlobMeta.Layout.TOC, reader.meta().layout());
            assertEquals("4fdfbb36ef74a3c63a28e2abafa54044c7594155beb6ddad9f36825cfe58286c",
                    reader.meta().tocDigest().orElseThrow());
            byte[] boot = reader.readBootstrap().orElseThrow();
            assertEquals(20480, boot.length);
            assertEquals(TOC_BOOT_SHA256, sha256(boot));
        }
    }

    @Test
    void inlinedBootstrapDecodesAndItsChunksRead() throws IOException {
        Path tocBlob = UpstreamFixtures.copy(UpstreamFixtures.TOC_BLOB, dir);
        try (BlobReader reader = BlobReader.open(tocBlob, null)) {
            Bootstrap inlined = BootstrapReader.read("image.boot",
                    ByteBuffer.wrap(reader.readBootstrap().orElseThrow()));
            List<Node> files = List.copyOf(inlined.root().children());
            assertEquals(List.of("error.rs", "lib.rs", "logger.rs"),
                    files.stream().map(n -> Node.display(n.nameBytes())).toList());
            assertEquals(List.of(2816L, 678L, 3115L),
                    files.stream().map(n -> n.inode().size()).toList());
            BlobInfo inlinedInfo = inlined.blobs().get(0);
            for (Node file : files) {
                byte[] data = reader.readChunk(file.inode().chunks().get(0),
                        inlinedInfo.compressor(), inlinedInfo.digester());
                assertEquals(file.inode().size(), data.length);
            }
        }
    }

    @Test
    void tocBlobMatchesInlinedBlobTable() throws IOException {
        Path tocBlob = UpstreamFixtures.copy(UpstreamFixtures.TOC_BLOB, dir);
        BlobInfo inlinedInfo;
        try (BlobReader reader = BlobReader.open(tocBlob, null)) {
            inlinedInfo = BootstrapReader.read("image.boot",
                    ByteBuffer.wrap(reader.readBootstrap().orElseThrow())).blobs().get(0);
        }
        try (BlobReader reader = BlobReader.open(tocBlob, inlinedInfo)) {
            assertEquals(3, reader.meta().ciEntries().size());
            assertEquals(List.of(), reader.meta().digests());
            assertTrue(reader.verifySections());
        }
    }

    @Test
    void tarLayoutWithZstdBootstrap() throws IOException {
        byte[] data = Files.readAllBytes(UpstreamFixtures.copy(UpstreamFixtures.TOC_BLOB, dir));
        Path noToc = Files.write(dir.resolve("zstd-boot.blob"), Arrays.copyOf(data, 9010));
        try (BlobReader reader = BlobReader.open(noToc, null)) {
            assertEquals(BlobMeta.Layout.TAR_HEADERS, reader.meta().layout());
            assertEquals(Compressor.ZSTD,
                    reader.meta().section(TocEntry.IMAGE_BOOT).orElseThrow().compression());
            assertEquals(TOC_BOOT_SHA256, sha256(reader.readBootstrap().orElseThrow()));
        }
    }

    @Test
    void tarLayoutWithRawBootstrap() throws IOException {
        Path tocBlob = UpstreamFixtures.copy(UpstreamFixtures.TOC_BLOB, dir);
        byte[] boot;
        try (BlobReader reader = BlobReader.open(tocBlob, null)) {
            boot = reader.readBootstrap().orElseThrow();
        }
        byte[] head = Arrays.copyOf(Files.readAllBytes(tocBlob), 7997);
        byte[] header = TarHeader.encode(TocEntry.IMAGE_BOOT, boot.length);
        byte[] raw = new byte[head.length + boot.length + header.length];
        System.arraycopy(head, 0, raw, 0, head.length);
        System.arraycopy(boot, 0, raw, head.length, boot.length);
        System.arraycopy(header, 0, raw, head.length + boot.length, header.length);
        Path rawBlob = Files.write(dir.resolve("raw-boot.blob"), raw);
        try (BlobReader reader = BlobReader.open(rawBlob, null)) {
            assertEquals(BlobMeta.Layout.TAR_HEADERS, reader.meta().layout());
            assertEquals(Compressor.NONE,
                    reader.meta().section(TocEntry.IMAGE_BOOT).orElseThrow().compression());
            assertArrayEquals(boot, reader.readBootstrap().orElseThrow());
            assertEquals(3, reader.meta().ciEntries().size());
        }
    }

    private static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
