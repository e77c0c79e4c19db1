package io.nydus.rafs.blob;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The shared cache of inflated ZRAN contexts: its byte limit and the drop of a closed blob. */
class ZranContextCacheTest {
    private static final int THIRD = (int) (ZranContextCache.LIMIT / 3) + 1;

    @Test
    void leastRecentlyUsedContextGoesBeyondLimit() {
        Object blob = new Object();
        byte[] first = new byte[THIRD];
        ZranContextCache.put(blob, 0, first);
        ZranContextCache.put(blob, 1, new byte[THIRD]);
        assertSame(first, ZranContextCache.get(blob, 0));

        ZranContextCache.put(blob, 2, new byte[THIRD]);

        assertNotNull(ZranContextCache.get(blob, 0));
        assertNull(ZranContextCache.get(blob, 1));
        assertNotNull(ZranContextCache.get(blob, 2));
        ZranContextCache.drop(blob);
    }

    @Test
    void contextLargerThanLimitIsNotKept() {
        Object blob = new Object();
        byte[] small = new byte[16];
        ZranContextCache.put(blob, 0, small);

        ZranContextCache.put(blob, 1, new byte[(int) ZranContextCache.LIMIT + 1]);

        assertTrue(ZranContextCache.get(blob, 1) == null, "the oversized context is kept");
        assertSame(small, ZranContextCache.get(blob, 0));
        ZranContextCache.drop(blob);
    }

    @Test
    void closedBlobLosesItsContexts() {
        Object closed = new Object();
        Object open = new Object();
        ZranContextCache.put(closed, 0, new byte[16]);
        ZranContextCache.put(open, 0, new byte[16]);

        ZranContextCache.drop(closed);

        assertNull(ZranContextCache.get(closed, 0));
        assertNotNull(ZranContextCache.get(open, 0));
        ZranContextCache.drop(open);
    }
}
