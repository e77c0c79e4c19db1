package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import java.util.ArrayList;
import java.util.List;

/**
 * Decodes a chunk-based file's chunk index array (8-byte entries after the inode and its xattrs,
 * 8-byte aligned) into chunks, through the blob table and the chunk info table.
 */
final class ChunkIndexDecoder {
    private static final int FORMAT_MASK = 0x3F;

    private final MetaBuffer b;
    private final SuperBlockInfo sb;
    private final List<BlobInfo> blobs;
    private final ChunkTable table;

    ChunkIndexDecoder(MetaBuffer b, SuperBlockInfo sb, List<BlobInfo> blobs, ChunkTable table) {
        this.b = b;
        this.sb = sb;
        this.blobs = blobs;
        this.table = table;
    }

    /** Returns the chunks of a regular file, one per `s_chunk_size` bytes of its size. */
    List<Chunk> decode(OnDiskInode raw) throws RafsFormatException {
        if (raw.layout() != OnDisk.LAYOUT_CHUNK_BASED) {
            return List.of();
        }
        checkChunkFormat(raw);
        long chunkSize = sb.chunkSize();
        long count = raw.size() / chunkSize + (raw.size() % chunkSize == 0 ? 0 : 1);
        Where where = new Where("chunk index array of inode nid ", raw.nid());
        long at = raw.offset() + OnDisk.alignUp(raw.inodeSize() + raw.xattrSize(), 8);
        if (count > b.size() / OnDisk.CHUNK_ADDR_SIZE) {
            throw b.error(where, at, "file size " + raw.size() + " needs " + count
                    + " chunk entries, more than the bootstrap can hold");
        }
        b.require(where, at, count * OnDisk.CHUNK_ADDR_SIZE);
        b.charge(where, at, count * OnDisk.CHUNK_ADDR_SIZE);
        List<Chunk> chunks = new ArrayList<>((int) count);
        for (int i = 0; i < count; i++) {
            long entryAt = at + (long) OnDisk.CHUNK_ADDR_SIZE * i;
            long expected = Math.min(chunkSize, raw.size() - i * chunkSize);
            chunks.add(entry(where, i, entryAt, expected));
        }
        return chunks;
    }

    private void checkChunkFormat(OnDiskInode raw) throws RafsFormatException {
        long format = raw.union();
        if ((format & ~FORMAT_MASK) != 0 || (format & OnDisk.CHUNK_FORMAT_INDEXES) == 0) {
            throw b.error(InodeDecoder.describe(raw.nid()), raw.offset() + 16, String.format(
                    "chunk format 0x%x, expected 0x20 (chunk indexes) plus chunk size bits",
                    format));
        }
    }

    private Chunk entry(Where array, int i, long at, long expectedSize)
            throws RafsFormatException {
        int low = b.u16(array, at);
        int high = b.u16(array, at + 2);
        long blockAddress = b.u32(array, at + 4);
        int device = high & 0xFF;
        if (device == 0 || device > blobs.size()) {
            throw b.error(array + " entry " + i, at + 2, "device id " + device
                    + " (blob index + 1) is invalid, the image has " + blobs.size() + " blobs");
        }
        int blobIndex = device - 1;
        int ciIndex = (high >>> 8) << 16 | low;
        Chunk chunk = table.find(blobIndex, ciIndex);
        if (chunk == null) {
            throw b.error(array + " entry " + i, at, "blob " + blobIndex + " CI index "
                    + ciIndex + " has no entry in the chunk info table");
        }
        if (blockAddress * sb.blockSize() != chunk.uncompressedOffset()) {
            throw b.error(array + " entry " + i, at + 4, "block address " + blockAddress
                    + " (offset " + blockAddress * sb.blockSize() + ") differs from the chunk"
                    + " table's uncompressed offset " + chunk.uncompressedOffset() + " for blob "
                    + blobIndex + " CI index " + ciIndex);
        }
        if (chunk.uncompressedSize() != expectedSize) {
            throw b.error(array + " entry " + i, at, "blob " + blobIndex + " CI index "
                    + ciIndex + " holds " + chunk.uncompressedSize() + " bytes, the file needs "
                    + expectedSize + " here");
        }
        return chunk;
    }
}
