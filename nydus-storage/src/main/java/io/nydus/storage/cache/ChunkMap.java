package io.nydus.storage.cache;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The readiness bitmap of a blob cache ({@code <blob_id>.blob.data.chunk_map}), in upstream
 * nydusd's layout: a 4096-byte header (u32 magic {@code 0x424D4150}, u32 version 1, u32 magic2
 * {@code 0x434D4150}, u32 all_ready {@code 0x4D4D4150} once every chunk is cached, then zeros)
 * and one bit per chunk, most significant bit first. A file of another size or with another
 * header is discarded.
 *
 * <p>Other processes may share the file. Each update locks the bitmap byte it changes with a
 * file lock and rewrites that byte from its current content, so bits set elsewhere are kept.
 * A bit this process has not seen set is read again from the file before it counts as missing.
 * Within one process each file has one instance (see {@link FileChunkStore}), and its monitor
 * serializes updates, because file locks do not exclude threads of the same process.
 */
final class ChunkMap implements AutoCloseable {
    static final int HEADER_SIZE = 4096;
    static final int MAGIC = 0x424D_4150;
    static final int VERSION = 1;
    static final int MAGIC2 = 0x434D_4150;
    static final int ALL_READY = 0x4D4D_4150;
    private static final Logger LOG = LoggerFactory.getLogger(ChunkMap.class);

    private final CacheFile file;
    private final int chunkCount;
    private final byte[] bits;
    private int readyCount;

    private ChunkMap(CacheFile file, int chunkCount, byte[] bits) {
        this.file = file;
        this.chunkCount = chunkCount;
        this.bits = bits;
        for (int i = 0; i < chunkCount; i++) {
            if (isSet(i)) {
                readyCount++;
            }
        }
    }

    /** Returns the file size for {@code chunkCount} chunks. */
    static long fileSize(int chunkCount) {
        return HEADER_SIZE + (chunkCount + 7L) / 8;
    }

    /** Opens the map, creating it or replacing a file of the wrong size or header. */
    static ChunkMap open(Path path, int chunkCount) throws IOException {
        CacheFile file = new CacheFile(path);
        try {
            byte[] bits = file.call(channel -> readOrCreate(path, channel, chunkCount));
            return new ChunkMap(file, chunkCount, bits);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** Returns the bitmap of the file, which it first creates if it is empty or invalid. */
    private static byte[] readOrCreate(Path path, FileChannel channel, int chunkCount)
            throws IOException {
        try (FileLock lock = channel.lock()) {
            long expected = fileSize(chunkCount);
            if (channel.size() != 0 && (channel.size() != expected || !headerValid(channel))) {
                LOG.warn("discarding chunk map {}: {} bytes or header not as expected for {}"
                        + " chunks ({} bytes)", path, channel.size(), chunkCount, expected);
                channel.truncate(0);
            }
            if (channel.size() == 0) {
                writeFully(channel, header(false), 0);
                writeFully(channel, ByteBuffer.allocate((int) (expected - HEADER_SIZE)),
                        HEADER_SIZE);
                channel.force(false);
            }
            byte[] bits = new byte[(int) (expected - HEADER_SIZE)];
            readFully(channel, ByteBuffer.wrap(bits), HEADER_SIZE);
            return bits;
        }
    }

    private static boolean headerValid(FileChannel channel) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, h, 0);
        return h.getInt(0) == MAGIC && h.getInt(4) == VERSION && h.getInt(8) == MAGIC2;
    }

    private static ByteBuffer header(boolean allReady) {
        ByteBuffer h = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(0, MAGIC).putInt(4, VERSION).putInt(8, MAGIC2).putInt(12,
                allReady ? ALL_READY : 0);
        return h;
    }

    private boolean isSet(int index) {
        return (bits[index >>> 3] & (0x80 >>> (index & 7))) != 0;
    }

    /**
     * Returns whether chunk {@code index} is ready, reading the file when the copy in memory
     * has the bit clear.
     */
    synchronized boolean isReady(int index) throws IOException {
        checkIndex(index);
        if (isSet(index)) {
            return true;
        }
        long at = HEADER_SIZE + (index >>> 3);
        byte fromFile = restoring(channel -> {
            ByteBuffer one = ByteBuffer.allocate(1);
            readFully(channel, one, at);
            return one.get(0);
        });
        mergeByte(index >>> 3, fromFile);
        return isSet(index);
    }

    /**
     * Runs {@code operation}, and where the file ends before the bitmap does, as after another
     * process truncated it, writes the file again and runs the operation once more.
     */
    private <T> T restoring(CacheFile.Operation<T> operation) throws IOException {
        try {
            return file.call(operation);
        } catch (EOFException e) {
            restore(e);
            return file.call(operation);
        }
    }

    /**
     * Writes the header and the bits that this process has seen set to a file that is shorter
     * than the bitmap. Those chunks are ready, because their data was written before their
     * bits. Bits that only other processes set are lost, so their chunks are fetched again.
     */
    private void restore(EOFException cause) throws IOException {
        long expected = fileSize(chunkCount);
        file.run(channel -> {
            try (FileLock lock = channel.lock()) {
                long size = channel.size();
                if (size >= expected) {
                    return;
                }
                LOG.warn("chunk map {} has {} bytes, fewer than the {} of {} chunks, so it was"
                        + " truncated while in use ({}); writing it again with the {} chunks"
                        + " known to be ready", file.path(), size, expected, chunkCount,
                        cause.getMessage(), readyCount);
                writeFully(channel, header(readyCount == chunkCount), 0);
                writeFully(channel, ByteBuffer.wrap(bits.clone()), HEADER_SIZE);
                channel.force(false);
            }
        });
    }

    /** Sets the bits of {@code indexes}; their data must already be written and flushed. */
    synchronized void markReady(int[] indexes) throws IOException {
        for (int index : indexes) {
            checkIndex(index);
            update(index >>> 3, (byte) (0x80 >>> (index & 7)), true);
        }
        if (readyCount == chunkCount) {
            writeHeader(true);
        }
    }

    /** Clears the bit of {@code index}, so that the chunk is fetched again. */
    synchronized void clear(int index) throws IOException {
        checkIndex(index);
        update(index >>> 3, (byte) (0x80 >>> (index & 7)), false);
        writeHeader(false);
    }

    private void writeHeader(boolean allReady) throws IOException {
        file.run(channel -> {
            try (FileLock lock = channel.lock(0, HEADER_SIZE, false)) {
                writeFully(channel, header(allReady), 0);
            }
        });
    }

    private void update(int byteIndex, byte mask, boolean set) throws IOException {
        long at = HEADER_SIZE + byteIndex;
        byte updated = restoring(channel -> {
            try (FileLock lock = channel.lock(at, 1, false)) {
                ByteBuffer one = ByteBuffer.allocate(1);
                readFully(channel, one, at);
                byte current = one.get(0);
                byte value = (byte) (set ? current | mask : current & ~mask);
                if (value != current) {
                    writeFully(channel, ByteBuffer.wrap(new byte[] {value}), at);
                }
                return value;
            }
        });
        replaceByte(byteIndex, updated);
    }

    private void mergeByte(int byteIndex, byte fromFile) {
        replaceByte(byteIndex, (byte) (bits[byteIndex] | fromFile));
    }

    private void replaceByte(int byteIndex, byte value) {
        readyCount += Integer.bitCount(value & 0xFF) - Integer.bitCount(bits[byteIndex] & 0xFF);
        bits[byteIndex] = value;
    }

    synchronized int readyCount() {
        return readyCount;
    }

    int chunkCount() {
        return chunkCount;
    }

    private void checkIndex(int index) {
        if (index < 0 || index >= chunkCount) {
            throw new IllegalArgumentException("chunk index " + index + " is outside 0.."
                    + (chunkCount - 1) + " of chunk map " + file.path());
        }
    }

    static void readFully(FileChannel channel, ByteBuffer target, long at) throws IOException {
        long position = at;
        while (target.hasRemaining()) {
            int n = channel.read(target, position);
            if (n < 0) {
                throw new EOFException("unexpected end of file at offset " + position);
            }
            position += n;
        }
    }

    static void writeFully(FileChannel channel, ByteBuffer source, long at) throws IOException {
        long position = at;
        while (source.hasRemaining()) {
            position += channel.write(source, position);
        }
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
