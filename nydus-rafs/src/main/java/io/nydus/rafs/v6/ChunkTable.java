package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The bootstrap's chunk info table (80-byte entries), indexed by (blob index, CI index). Old
 * builders wrote the table in no particular order, so it is indexed with a hash map and never
 * searched by digest.
 */
final class ChunkTable {
    private static final String ENTRY = "chunk info table entry";
    private static final int KNOWN_FLAGS = 0x1F;
    private static final int MAX_INDEX = (1 << 24) - 1;

    private final List<Chunk> entries;
    private final Map<Long, Chunk> byKey;

    private ChunkTable(List<Chunk> entries, Map<Long, Chunk> byKey) {
        this.entries = entries;
        this.byKey = byKey;
    }

    static ChunkTable decode(MetaBuffer b, SuperBlockInfo sb, List<BlobInfo> blobs)
            throws RafsFormatException {
        int count = (int) sb.chunkTableEntries();
        List<Chunk> entries = new ArrayList<>(count);
        Map<Long, Chunk> byKey = HashMap.newHashMap(count);
        for (int i = 0; i < count; i++) {
            long at = sb.chunkTableOffset() + (long) OnDisk.CHUNK_INFO_SIZE * i;
            Chunk chunk = decodeEntry(b, at, i, blobs);
            Chunk previous = byKey.putIfAbsent(key(chunk.blobIndex(), chunk.index()), chunk);
            if (previous != null && !previous.equals(chunk)) {
                throw b.error(ENTRY + " " + i, at, "blob " + chunk.blobIndex() + " CI index "
                        + chunk.index() + " is described twice with different values ("
                        + previous + " and " + chunk + ")");
            }
            entries.add(previous == null ? chunk : previous);
        }
        return new ChunkTable(List.copyOf(entries), byKey);
    }

    /** Returns the chunk at CI index {@code index} of blob {@code blobIndex}, or null. */
    Chunk find(int blobIndex, int index) {
        return byKey.get(key(blobIndex, index));
    }

    List<Chunk> entries() {
        return entries;
    }

    private static long key(int blobIndex, int index) {
        return (long) blobIndex << 24 | index;
    }

    private static Chunk decodeEntry(MetaBuffer b, long at, int i, List<BlobInfo> blobs)
            throws RafsFormatException {
        Where where = new Where(ENTRY + " ", i);
        ChunkDigest digest = ChunkDigest.of(b.bytes(where, at, ChunkDigest.SIZE));
        long blobIndex = b.u32(where, at + 32);
        if (blobIndex >= blobs.size()) {
            throw field(b, where, at + 32, "blob_index", blobIndex,
                    "the image has " + blobs.size() + " blobs");
        }
        BlobInfo blob = blobs.get((int) blobIndex);
        long flags = b.u32(where, at + 36);
        if ((flags & ~KNOWN_FLAGS) != 0) {
            throw field(b, where, at + 36, "flags", flags, "has unknown bits");
        }
        long compressedSize = b.u32(where, at + 40);
        long uncompressedSize = b.u32(where, at + 44);
        checkSizes(b, where, at, compressedSize, uncompressedSize);
        long compressedOffset = b.u64(where, at + 48);
        if (compressedOffset < 0) {
            throw field(b, where, at + 48, "compressed_offset", compressedOffset,
                    "expected less than 2^63");
        }
        long uncompressedOffset = b.u64(where, at + 56);
        if (uncompressedOffset < 0 || uncompressedOffset > blob.uncompressedSize()
                || uncompressedSize > blob.uncompressedSize() - uncompressedOffset) {
            throw field(b, where, at + 56, "uncompressed_offset", uncompressedOffset,
                    "the chunk of " + uncompressedSize + " bytes does not fit in blob "
                            + blobIndex + "'s " + blob.uncompressedSize() + " bytes");
        }
        long index = b.u32(where, at + 72);
        if (index > MAX_INDEX || index >= blob.chunkCount()) {
            throw field(b, where, at + 72, "index", index, "blob " + blobIndex + " has "
                    + blob.chunkCount() + " chunks");
        }
        long crc32 = b.u32(where, at + 76);
        return new Chunk(digest, (int) blobIndex, (int) index, compressedOffset,
                (int) compressedSize, uncompressedOffset, (int) uncompressedSize,
                (flags & OnDisk.CHUNK_FLAG_COMPRESSED) != 0, (int) crc32,
                (flags & OnDisk.CHUNK_FLAG_HAS_CRC32) != 0);
    }

    private static void checkSizes(MetaBuffer b, Where where, long at, long compressedSize,
            long uncompressedSize) throws RafsFormatException {
        if (compressedSize > Chunk.MAX_SIZE) {
            throw field(b, where, at + 40, "compressed_size", compressedSize,
                    "expected at most " + Chunk.MAX_SIZE);
        }
        if (uncompressedSize == 0 || uncompressedSize > Chunk.MAX_SIZE) {
            throw field(b, where, at + 44, "uncompressed_size", uncompressedSize,
                    "expected 1.." + Chunk.MAX_SIZE);
        }
    }

    private static RafsFormatException field(MetaBuffer b, Where where, long at, String name,
            long value, String problem) {
        return b.error(where + " field " + name, at, "value " + Long.toUnsignedString(value)
                + " (0x" + Long.toHexString(value) + "): " + problem);
    }
}
