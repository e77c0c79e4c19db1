package io.nydus.rafs.v6;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.UpstreamFixtures;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Flips single bytes of real bootstraps and checks that every result either decodes or fails
 * with a {@link RafsFormatException}. The reader's loops are all bounded by sizes checked
 * against the file, so each case ends on its own. The timeout only stops a run that hangs.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class BootstrapReaderFuzzTest {
    private static final long SEED = 0x6E79_6475_7336L;

    @TempDir
    Path dir;

    /** Counts of the outcomes, and the cases that failed any other way. */
    private static final class Outcomes {
        int decoded;
        int rejected;
        final List<String> crashes = new ArrayList<>();

        void flip(byte[] original, int offset, int xor) {
            byte[] data = original.clone();
            data[offset] ^= (byte) xor;
            try {
                BootstrapReader.decode("fuzz.boot", ByteBuffer.wrap(data));
                decoded++;
            } catch (RafsFormatException e) {
                rejected++;
            } catch (RuntimeException | Error e) {
                if (crashes.size() < 20) {
                    crashes.add(String.format("offset %d xor 0x%02x: %s", offset, xor, e));
                }
            }
        }
    }

    @Test
    void everyByteOfRafsV6Boot() throws IOException {
        byte[] image = Files.readAllBytes(
                UpstreamFixtures.copy(UpstreamFixtures.RAFS_V6_BOOT, dir));
        Random random = new Random(SEED);
        Outcomes outcomes = new Outcomes();
        for (int offset = 0; offset < image.length; offset++) {
            outcomes.flip(image, offset, 0xFF);
            outcomes.flip(image, offset, 1 + random.nextInt(255));
        }
        assertEquals(List.of(), outcomes.crashes);
        assertTrue(outcomes.rejected > 0, outcomes.rejected + " rejected");
        assertTrue(outcomes.decoded > 0, outcomes.decoded + " decoded");
    }

    @Test
    void sampledBytesOfSnapshotterBoot() throws IOException {
        byte[] image = Files.readAllBytes(
                UpstreamFixtures.extractBootstrap(UpstreamFixtures.SNAPSHOTTER_V6, dir));
        Random random = new Random(SEED);
        Outcomes outcomes = new Outcomes();
        // Every byte of the superblocks, the device slot, the blob table and the prefetch table.
        for (int offset = 1024; offset < 1536; offset++) {
            outcomes.flip(image, offset, 1 + random.nextInt(255));
        }
        for (int offset = 4096; offset < 4356; offset++) {
            outcomes.flip(image, offset, 1 + random.nextInt(255));
        }
        // Sampled bytes of the inodes and directories, and of the chunk info table.
        int chunkTable = 438272;
        for (int i = 0; i < 1500; i++) {
            outcomes.flip(image, 8192 + random.nextInt(chunkTable - 8192), 1 + random.nextInt(255));
        }
        for (int i = 0; i < 300; i++) {
            outcomes.flip(image, chunkTable + random.nextInt(201200), 1 + random.nextInt(255));
        }
        assertEquals(List.of(), outcomes.crashes);
        assertTrue(outcomes.rejected > 0, outcomes.rejected + " rejected");
        assertTrue(outcomes.decoded > 0, outcomes.decoded + " decoded");
    }
}
