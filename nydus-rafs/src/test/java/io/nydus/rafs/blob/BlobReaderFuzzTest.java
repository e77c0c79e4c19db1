package io.nydus.rafs.blob;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.UpstreamFixtures;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Flips every byte of the upstream blobs once and checks that opening the blob, reading every
 * chunk and the inlined bootstrap, and verifying the ToC either succeed or fail with a
 * {@link RafsFormatException}. The timeout only stops a run that hangs.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class BlobReaderFuzzTest {
    private static final long SEED = 0x626C_6F62L;

    @TempDir
    Path dir;

    @Test
    void everyByteOfDataBlob() throws IOException {
        Bootstrap bootstrap = BootstrapReader.read(
                UpstreamFixtures.copy(UpstreamFixtures.RAFS_V6_BOOT, dir));
        List<Chunk> chunks = new ArrayList<>();
        for (Node file : bootstrap.root().children()) {
            chunks.addAll(file.inode().chunks());
        }
        Path blob = UpstreamFixtures.copy(UpstreamFixtures.RAFS_V6_BLOB, dir);
        int accepted = assertNoCrash(blob, bootstrap.blobs().get(0), chunks);
        assertEquals(0, accepted, "flips of a blob read with its blob table entry that went"
                + " unnoticed");
    }

    @Test
    void everyByteOfTocBlob() throws IOException {
        Path blob = UpstreamFixtures.copy(UpstreamFixtures.TOC_BLOB, dir);
        assertTrue(assertNoCrash(blob, null, List.of()) > 0,
                "without a blob table entry, flips in bytes nothing covers are accepted");
    }

    /** Flips every byte once; returns how many flipped blobs were read without an error. */
    private int assertNoCrash(Path blob, BlobInfo info, List<Chunk> chunks) throws IOException {
        byte[] original = Files.readAllBytes(blob);
        Random random = new Random(SEED);
        int accepted = 0;
        int rejected = 0;
        List<String> crashes = new ArrayList<>();
        try (FileChannel channel = FileChannel.open(blob, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            for (int offset = 0; offset < original.length; offset++) {
                int xor = 1 + random.nextInt(255);
                channel.write(ByteBuffer.wrap(new byte[] {(byte) (original[offset] ^ xor)}),
                        offset);
                try {
                    readEverything(channel, info, chunks);
                    accepted++;
                } catch (RafsFormatException e) {
                    rejected++;
                } catch (RuntimeException | Error e) {
                    if (crashes.size() < 20) {
                        crashes.add(String.format("offset %d xor 0x%02x: %s", offset, xor, e));
                    }
                }
                channel.write(ByteBuffer.wrap(new byte[] {original[offset]}), offset);
            }
        }
        assertEquals(List.of(), crashes);
        assertTrue(rejected > 0, accepted + " accepted, " + rejected + " rejected");
        return accepted;
    }

    private static void readEverything(FileChannel blob, BlobInfo info, List<Chunk> chunks)
            throws IOException {
        try (BlobReader reader = BlobReader.open("mutated", blob, info)) {
            for (Chunk chunk : chunks) {
                reader.readChunk(chunk);
            }
            for (int i = 0; i < reader.meta().ciEntries().size(); i++) {
                reader.readChunk(i, Compressor.ZSTD, DigestAlgorithm.BLAKE3);
            }
            reader.readBootstrap();
            reader.verifySections();
        }
    }
}
