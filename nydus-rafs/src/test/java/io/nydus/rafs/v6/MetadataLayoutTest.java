package io.nydus.rafs.v6;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Walks the metadata allocator through a sequence that exercises every branch: inline and plain
 * data, reuse of free block tails by bucket, and the cursor's alignment. The expected offsets
 * are those upstream's builder produces for the same sequence of 32-byte inodes.
 */
class MetadataLayoutTest {
    private static final int INODE = 32;

    @Test
    void allocatorReusesBlockTailsLikeUpstream() {
        MetadataLayout layout = new MetadataLayout(4096, 0);

        assertEquals(0, layout.placeFile(INODE));
        assertEquals(32, layout.cursor());

        MetadataLayout.Placement p = layout.placeWithData(INODE, 4064);
        assertTrue(p.inline());
        assertEquals(4096, p.inodeOffset());
        assertEquals(8192, layout.cursor());

        p = layout.placeWithData(INODE, 4096);
        assertFalse(p.inline());
        assertEquals(32, p.inodeOffset());
        assertEquals(8192, p.dataOffset());
        assertEquals(12288, layout.cursor());

        p = layout.placeWithData(INODE, 8160);
        assertTrue(p.inline());
        assertEquals(12288, p.inodeOffset());
        assertEquals(16384, p.dataOffset());
        assertEquals(20480, layout.cursor());

        p = layout.placeWithData(INODE, 8161);
        assertFalse(p.inline());
        assertEquals(64, p.inodeOffset());
        assertEquals(20480, p.dataOffset());
        assertEquals(28672, layout.cursor());

        p = layout.placeWithData(INODE, 4096 + 3968);
        assertTrue(p.inline());
        assertEquals(96, p.inodeOffset());
        assertEquals(28672, p.dataOffset());
        assertEquals(32768, layout.cursor());

        p = layout.placeWithData(INODE, 4096 + 2048);
        assertTrue(p.inline());
        assertEquals(32768, p.inodeOffset());
        assertEquals(36864, p.dataOffset());
        assertEquals(40960, layout.cursor());

        p = layout.placeWithData(INODE, 1985);
        assertTrue(p.inline());
        assertEquals(40960, p.inodeOffset());
        assertEquals(43008, layout.cursor());

        p = layout.placeWithData(INODE, 1984);
        assertTrue(p.inline());
        assertEquals(34848, p.inodeOffset());
        assertEquals(43008, layout.cursor());
    }

    @Test
    void specialInodesAlwaysTakeTheCursor() {
        MetadataLayout layout = new MetadataLayout(4096);
        assertEquals(4096, layout.placeSpecial(64));
        assertEquals(4096 + 64, layout.placeSpecial(64 + 12 + 8));
        assertEquals(4096 + 64 + 96, layout.cursor());
    }
}
