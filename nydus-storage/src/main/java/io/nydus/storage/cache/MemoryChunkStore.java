package io.nydus.storage.cache;

import io.nydus.rafs.tree.Chunk;
import java.lang.foreign.MemorySegment;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A bounded in-memory store for a blob without a cache directory: the least recently used
 * chunks are dropped once the stored bytes exceed the budget. Access is serialized, which is
 * cheap next to the copy of a chunk.
 */
public final class MemoryChunkStore implements ChunkStore {
    private final int chunkCount;
    private final long budgetBytes;
    private final LinkedHashMap<Integer, byte[]> chunks = new LinkedHashMap<>(16, 0.75f, true);
    private long storedBytes;

    /** Creates a store that keeps at most {@code budgetBytes} of chunk data. */
    public MemoryChunkStore(int chunkCount, long budgetBytes) {
        if (budgetBytes < 0) {
            throw new IllegalArgumentException("memory budget " + budgetBytes
                    + " must not be negative");
        }
        this.chunkCount = chunkCount;
        this.budgetBytes = budgetBytes;
    }

    @Override
    public boolean isVerified(int index) {
        // Only this process writes the memory it keeps.
        return isReady(index);
    }

    @Override
    public synchronized boolean isReady(int index) {
        return chunks.containsKey(index);
    }

    @Override
    public boolean read(Chunk chunk, int offsetInChunk, MemorySegment target) {
        byte[] data = readAll(chunk);
        if (data == null) {
            return false;
        }
        MemorySegment.copy(MemorySegment.ofArray(data), offsetInChunk, target, 0,
                target.byteSize());
        return true;
    }

    @Override
    public synchronized byte[] readAll(Chunk chunk) {
        return chunks.get(chunk.index());
    }

    @Override
    public synchronized void store(List<Chunk> stored, List<byte[]> data) {
        for (int i = 0; i < stored.size(); i++) {
            byte[] previous = chunks.put(stored.get(i).index(), data.get(i));
            storedBytes += data.get(i).length - (previous == null ? 0 : previous.length);
        }
        Iterator<Map.Entry<Integer, byte[]>> eldest = chunks.entrySet().iterator();
        while (storedBytes > budgetBytes && eldest.hasNext()) {
            storedBytes -= eldest.next().getValue().length;
            eldest.remove();
        }
    }

    @Override
    public synchronized void invalidate(int index) {
        byte[] removed = chunks.remove(index);
        if (removed != null) {
            storedBytes -= removed.length;
        }
    }

    @Override
    public synchronized int readyCount() {
        return chunks.size();
    }

    @Override
    public int chunkCount() {
        return chunkCount;
    }

    @Override
    public synchronized void close() {
        chunks.clear();
        storedBytes = 0;
    }
}
