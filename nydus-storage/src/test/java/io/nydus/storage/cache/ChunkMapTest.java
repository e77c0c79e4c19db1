package io.nydus.storage.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ChunkMapTest {
    private TempDir dir;
    private Path file;

    @BeforeEach
    void createDir() throws Exception {
        dir = TempDirs.create("chunk-map");
        file = dir.resolve("blob.data.chunk_map");
    }

    @AfterEach
    void removeDir() throws Exception {
        dir.close();
    }

    @Test
    void layoutMatchesUpstream() throws Exception {
        try (ChunkMap map = ChunkMap.open(file, 10)) {
            map.markReady(new int[] {0, 9});
        }
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer header = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);

        assertEquals(4096 + 2, bytes.length);
        assertEquals(0x424D4150, header.getInt(0));
        assertEquals(1, header.getInt(4));
        assertEquals(0x434D4150, header.getInt(8));
        assertEquals(0, header.getInt(12));
        assertEquals((byte) 0x80, bytes[4096]);
        assertEquals((byte) 0x40, bytes[4097]);
    }

    @Test
    void allReadyIsRecorded() throws Exception {
        try (ChunkMap map = ChunkMap.open(file, 3)) {
            map.markReady(new int[] {0, 1, 2});
            assertEquals(3, map.readyCount());
        }
        ByteBuffer header = ByteBuffer.wrap(Files.readAllBytes(file))
                .order(ByteOrder.LITTLE_ENDIAN);

        assertEquals(0x4D4D4150, header.getInt(12));
    }

    @Test
    void bitsSurviveReopen() throws Exception {
        try (ChunkMap map = ChunkMap.open(file, 20)) {
            map.markReady(new int[] {7, 15});
        }
        try (ChunkMap map = ChunkMap.open(file, 20)) {
            assertTrue(map.isReady(7));
            assertTrue(map.isReady(15));
            assertFalse(map.isReady(8));
            assertEquals(2, map.readyCount());
        }
    }

    @Test
    void bitSetByAnotherWriterIsSeen() throws Exception {
        try (ChunkMap map = ChunkMap.open(file, 16)) {
            assertFalse(map.isReady(12));
            byte[] bytes = Files.readAllBytes(file);
            bytes[4097] |= (byte) (0x80 >>> 4);
            Files.write(file, bytes);

            assertTrue(map.isReady(12));
            assertEquals(1, map.readyCount());
        }
    }

    @Test
    void wrongSizeIsDiscarded() throws Exception {
        try (ChunkMap map = ChunkMap.open(file, 16)) {
            map.markReady(new int[] {1});
        }
        try (ChunkMap map = ChunkMap.open(file, 17)) {
            assertFalse(map.isReady(1));
            assertEquals(4096 + 3, Files.size(file));
        }
    }

    @Test
    void wrongMagicIsDiscarded() throws Exception {
        try (ChunkMap map = ChunkMap.open(file, 16)) {
            map.markReady(new int[] {1});
        }
        byte[] bytes = Files.readAllBytes(file);
        bytes[0] ^= 1;
        Files.write(file, bytes);
        try (ChunkMap map = ChunkMap.open(file, 16)) {
            assertFalse(map.isReady(1));
        }
    }

    @Test
    void clearedBitIsFetchedAgain() throws Exception {
        try (ChunkMap map = ChunkMap.open(file, 8)) {
            map.markReady(new int[] {0, 1, 2, 3, 4, 5, 6, 7});
            map.clear(3);

            assertFalse(map.isReady(3));
            assertEquals(7, map.readyCount());
        }
        ByteBuffer header = ByteBuffer.wrap(Files.readAllBytes(file))
                .order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0, header.getInt(12));
    }
}
