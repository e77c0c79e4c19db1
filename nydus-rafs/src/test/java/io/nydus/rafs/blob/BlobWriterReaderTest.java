package io.nydus.rafs.blob;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Writes blobs with {@link BlobWriter} and reads them back with {@link BlobReader}. */
class BlobWriterReaderTest {
    private static final int CHUNK_SIZE = 64 * 1024;

    @TempDir
    Path dir;

    private record Written(Path path, BlobInfo info, List<Chunk> chunks,
            List<byte[]> contents, byte[] bootstrap) {
    }

    /** Writes 40 chunks of text, random bytes and zeros, plus a fake inlined bootstrap. */
    private Written write(Compressor compressor) throws IOException {
        Random random = new Random(7);
        List<byte[]> contents = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            byte[] data = switch (i % 3) {
                case 0 -> ("line " + i + " of some compressible text\n").repeat(1500)
                        .getBytes(StandardCharsets.US_ASCII);
                case 1 -> new byte[1 + random.nextInt(CHUNK_SIZE)];
                default -> new byte[CHUNK_SIZE];
            };
            if (i % 3 == 1) {
                random.nextBytes(data);
            }
            contents.add(Arrays.copyOf(data, Math.min(data.length, CHUNK_SIZE)));
        }
        byte[] bootstrap = "not really a bootstrap ".repeat(500)
                .getBytes(StandardCharsets.US_ASCII);
        Path path = dir.resolve("written.blob");
        List<Chunk> chunks = new ArrayList<>();
        BlobInfo info;
        try (OutputStream out = Files.newOutputStream(path);
                BlobWriter writer = new BlobWriter(out, CHUNK_SIZE, compressor,
                        DigestAlgorithm.BLAKE3, 0)) {
            for (byte[] data : contents) {
                byte[] stored = compressor.compressIfSmaller(data, 0, data.length);
                CRC32C crc = new CRC32C();
                crc.update(data);
                ChunkDigest digest = ChunkDigest.of(DigestAlgorithm.BLAKE3.digest(data, 0,
                        data.length));
                chunks.add(stored == null
                        ? writer.append(digest, data, data.length, data.length, false,
                                (int) crc.getValue())
                        : writer.append(digest, stored, stored.length, data.length, true,
                                (int) crc.getValue()));
            }
            info = writer.finish(bootstrap);
        }
        return new Written(path, info, chunks, contents, bootstrap);
    }

    @ParameterizedTest
    @EnumSource(value = Compressor.class, names = {"NONE", "LZ4_BLOCK", "ZSTD"})
    void chunksReadBack(Compressor compressor) throws IOException {
        Written w = write(compressor);
        try (BlobReader reader = BlobReader.open(w.path(), w.info())) {
            for (int i = 0; i < w.chunks().size(); i++) {
                assertArrayEquals(w.contents().get(i), reader.readChunk(w.chunks().get(i)),
                        "chunk " + i);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Compressor.class, names = {"NONE", "LZ4_BLOCK", "ZSTD"})
    void ciTableReadsBack(Compressor compressor) throws IOException {
        Written w = write(compressor);
        try (BlobReader reader = BlobReader.open(w.path(), w.info())) {
            assertEquals(w.info().ciCompressor(),
                    reader.meta().ciHeader().orElseThrow().ciCompressor());
            assertEquals(40, reader.meta().ciEntries().size());
            assertEquals(40, reader.meta().digests().size());
            assertArrayEquals(w.contents().get(5), reader.readChunk(5));
        }
    }

    @ParameterizedTest
    @EnumSource(value = Compressor.class, names = {"NONE", "ZSTD"})
    void bootstrapAndSectionsVerify(Compressor compressor) throws IOException {
        Written w = write(compressor);
        try (BlobReader reader = BlobReader.open(w.path(), w.info())) {
            assertEquals(BlobMeta.Layout.TOC, reader.meta().layout());
            assertArrayEquals(w.bootstrap(), reader.readBootstrap().orElseThrow());
            assertTrue(reader.verifySections());
        }
    }

    /** A registry names a converted blob by its OCI layer digest, the sha256 of every byte. */
    @Test
    void blobNamedByLayerDigestVerifies() throws IOException {
        Written w = write(Compressor.ZSTD);
        String layerDigest = java.util.HexFormat.of().formatHex(
                DigestAlgorithm.newSha256().digest(Files.readAllBytes(w.path())));
        assertNotEquals(layerDigest, w.info().blobId());
        try (BlobReader reader = BlobReader.open(w.path(), w.info().withBlobId(layerDigest))) {
            assertTrue(reader.verifySections());
        }
    }

    @Test
    void blobUnderAnotherDigestFailsVerification() throws IOException {
        Written w = write(Compressor.ZSTD);
        String other = "ab".repeat(32);
        try (BlobReader reader = BlobReader.open(w.path(), w.info().withBlobId(other))) {
            RafsFormatException e = assertThrows(RafsFormatException.class,
                    reader::verifySections);
            assertTrue(e.getMessage().contains(other), e.getMessage());
        }
    }
}
