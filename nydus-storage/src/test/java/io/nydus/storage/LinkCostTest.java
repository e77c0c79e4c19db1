package io.nydus.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The link cost estimate behind the neighbours a scattered miss takes. */
class LinkCostTest {
    private static final long FIXED_NANOS = 15_000_000;

    /** Records fetches of 1 KiB to 900 KiB on a link of the given cost, with jitter. */
    private static LinkCost link(double nanosPerByte, int fetches, long seed) {
        LinkCost link = new LinkCost();
        Random random = new Random(seed);
        for (int i = 0; i < fetches; i++) {
            long size = 1024 + random.nextLong(900 << 10);
            long jitter = random.nextLong(2_000_000);
            link.record(size, FIXED_NANOS + (long) (nanosPerByte * size) + jitter);
        }
        return link;
    }

    @Test
    void fastLinkTakesAboutAMegabyte() {
        long worth = link(8, 32, 1).bytesWorth(0.5);

        // Half of 15 ms at 8 ns per byte is 937,500 bytes.
        assertTrue(worth > 800_000, "worth " + worth);
        assertTrue(worth < 1_100_000, "worth " + worth);
    }

    @Test
    void slowLinkTakesLittle() {
        long worth = link(330, 32, 2).bytesWorth(0.5);

        assertTrue(worth < 30_000, "worth " + worth);
    }

    @Test
    void unknownUntilEnoughFetches() {
        assertEquals(0, link(8, LinkCost.MIN_SAMPLES - 1, 3).bytesWorth(0.5));
    }

    @Test
    void fetchesOfOneSizeTellNothing() {
        LinkCost link = new LinkCost();
        for (int i = 0; i < LinkCost.SAMPLES; i++) {
            link.record(400_000, FIXED_NANOS);
        }

        assertEquals(0, link.bytesWorth(0.5));
    }

    @Test
    void oneStalledFetchDoesNotMoveTheEstimate() {
        LinkCost link = link(80, 31, 4);
        link.record(2048, 2_000_000_000L);

        long worth = link.bytesWorth(0.5);

        // Half of 15 ms at 80 ns per byte is 93,750 bytes.
        assertTrue(worth > 70_000, "worth " + worth);
        assertTrue(worth < 120_000, "worth " + worth);
    }
}
