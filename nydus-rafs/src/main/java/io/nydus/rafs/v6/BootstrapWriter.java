package io.nydus.rafs.v6;

import static io.nydus.rafs.v6.OnDisk.BLOCK_SIZE;
import static io.nydus.rafs.v6.OnDisk.alignUp;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a {@link Bootstrap} as RAFS v6 bytes, laid out as upstream's builder lays it out: root
 * first, then each directory's non-directory children, then its subdirectories; every inode
 * extended (64 bytes); chunk table sorted by digest.
 */
public final class BootstrapWriter {
    private final Bootstrap bootstrap;
    private final Map<Node, Slot> slots = new IdentityHashMap<>();
    private final Map<Inode, Slot> fileSlots = new IdentityHashMap<>();
    private final Map<Inode, Integer> linkCounts = new IdentityHashMap<>();
    private final TreeMap<ChunkKey, ChunkUse> chunkTable = new TreeMap<>();
    private final Output out = new Output();
    private int nextIno = 1;
    private boolean wroteXattr;
    private long metaAddr;

    /** The placement of one node's inode and data, and the layout chosen for it. */
    private static final class Slot {
        long offset;
        long dataOffset;
        int layout;
        int ino;
        int xattrSize;
        long dataSize;
    }

    private record ChunkKey(ChunkDigest digest, int blobIndexPlusOne)
            implements Comparable<ChunkKey> {
        private static final Comparator<ChunkKey> ORDER = Comparator
                .comparing(ChunkKey::digest).thenComparingInt(ChunkKey::blobIndexPlusOne);

        @Override
        public int compareTo(ChunkKey other) {
            return ORDER.compare(this, other);
        }
    }

    private record ChunkUse(Chunk chunk, long fileOffset) {
    }

    private BootstrapWriter(Bootstrap bootstrap) {
        this.bootstrap = bootstrap;
    }

    /**
     * Serializes {@code bootstrap}.
     *
     * @throws IllegalArgumentException if the tree contains something RAFS v6 cannot store, with
     *     the path and the value in the message
     */
    public static byte[] write(Bootstrap bootstrap) {
        return new BootstrapWriter(bootstrap).run();
    }

    private byte[] run() {
        countLinks(bootstrap.root());
        Slot root = slotFor(bootstrap.root());
        root.ino = nextIno++;
        MetadataLayout layout = new MetadataLayout(BLOCK_SIZE);
        layoutDirectories(bootstrap.root(), layout);
        int blobCount = bootstrap.blobs().size();
        long blobTableOffset = alignUp(OnDisk.DEVTABLE_OFFSET
                + (long) OnDisk.DEVICE_SLOT_SIZE * blobCount, BLOCK_SIZE);
        long blobTableSize = (long) OnDisk.BLOB_ENTRY_SIZE * blobCount;
        int prefetchCount = blobCount > 0 ? bootstrap.prefetch().size() : 0;
        metaAddr = blobCount > 0
                ? alignUp(blobTableOffset + blobTableSize + 4L * prefetchCount, BLOCK_SIZE)
                : 0;
        dumpInodes();
        long chunkTableOffset = alignUp(out.size(), BLOCK_SIZE);
        out.reserve(chunkTableOffset);
        long prefetchOffset = prefetchCount > 0 ? blobTableOffset + blobTableSize : 0;
        if (prefetchCount > 0) {
            writePrefetchTable(prefetchOffset);
        }
        long chunkTableSize = writeChunkTable(chunkTableOffset);
        out.reserve(alignUp(out.size(), BLOCK_SIZE));
        List<long[]> devices = placeDevices(out.size());
        writeSuperBlock(root, devices);
        writeExtendedSuperBlock(blobTableOffset, blobTableSize, chunkTableOffset, chunkTableSize,
                prefetchOffset, 4L * prefetchCount);
        writeDeviceTable(devices);
        writeBlobTable(blobTableOffset);
        return out.toByteArray();
    }

    private void countLinks(Node root) {
        for (Node node : root.descendants()) {
            if (!node.isDirectory()) {
                linkCounts.merge(node.inode(), 1, Integer::sum);
            }
        }
    }

    private Slot slotFor(Node node) {
        return slots.computeIfAbsent(node, n -> new Slot());
    }

    // ---- layout -------------------------------------------------------------------------

    /**
     * Places every directory in depth-first preorder, each directly followed by its
     * non-directory children. An explicit stack replaces recursion, because a tree may be
     * thousands of levels deep.
     */
    private void layoutDirectories(Node root, MetadataLayout layout) {
        ArrayDeque<Node> pending = new ArrayDeque<>();
        pending.push(root);
        while (!pending.isEmpty()) {
            List<Node> subdirectories = layoutDirectory(pending.pop(), layout);
            for (int i = subdirectories.size() - 1; i >= 0; i--) {
                pending.push(subdirectories.get(i));
            }
        }
    }

    /** Places {@code dir} and its non-directory children, and returns its subdirectories. */
    private List<Node> layoutDirectory(Node dir, MetadataLayout layout) {
        Slot slot = slotFor(dir);
        slot.xattrSize = XattrArea.size(dir);
        slot.dataSize = DirectoryBlocks.size(dir, BLOCK_SIZE);
        placeWithData(slot, layout);
        List<Node> subdirectories = new ArrayList<>();
        for (Node child : dir.children()) {
            Slot childSlot = slotFor(child);
            childSlot.ino = nextIno++;
            if (child.isDirectory()) {
                subdirectories.add(child);
            } else {
                layoutLeaf(child, childSlot, layout);
            }
        }
        return subdirectories;
    }

    private void layoutLeaf(Node node, Slot slot, MetadataLayout layout) {
        Inode inode = node.inode();
        // Hardlinks of any non-directory type are one inode, so later names reuse its slot.
        Slot first = fileSlots.putIfAbsent(inode, slot);
        if (first != null) {
            slots.put(node, first);
            return;
        }
        slot.xattrSize = XattrArea.size(node);
        long inodeSize = OnDisk.EXTENDED_INODE_SIZE + slot.xattrSize;
        switch (inode.type()) {
            case REGULAR -> {
                slot.layout = OnDisk.LAYOUT_CHUNK_BASED;
                checkChunks(node);
                long total = alignUp(inodeSize, OnDisk.CHUNK_ADDR_SIZE)
                        + (long) OnDisk.CHUNK_ADDR_SIZE * inode.chunks().size();
                slot.offset = layout.placeFile(total);
            }
            case SYMLINK -> {
                slot.dataSize = inode.symlinkTarget().length;
                placeWithData(slot, layout);
            }
            default -> {
                slot.layout = OnDisk.LAYOUT_FLAT_PLAIN;
                slot.offset = layout.placeSpecial(inodeSize);
            }
        }
    }

    private void placeWithData(Slot slot, MetadataLayout layout) {
        long inodeSize = OnDisk.EXTENDED_INODE_SIZE + slot.xattrSize;
        MetadataLayout.Placement p = layout.placeWithData(inodeSize, slot.dataSize);
        slot.offset = p.inodeOffset();
        slot.dataOffset = p.dataOffset();
        slot.layout = p.inline() ? OnDisk.LAYOUT_FLAT_INLINE : OnDisk.LAYOUT_FLAT_PLAIN;
    }

    private void checkChunks(Node node) {
        Inode inode = node.inode();
        long expected = (inode.size() + bootstrap.chunkSize() - 1) / bootstrap.chunkSize();
        if (inode.chunks().size() != expected) {
            throw new IllegalArgumentException(node.path() + ": " + inode.chunks().size()
                    + " chunks for " + inode.size() + " bytes, expected " + expected);
        }
        for (Chunk c : inode.chunks()) {
            if (c.blobIndex() >= bootstrap.blobs().size()) {
                throw new IllegalArgumentException(node.path() + ": chunk " + c.digest()
                        + " names blob index " + c.blobIndex() + " but the image has "
                        + bootstrap.blobs().size() + " blobs");
            }
        }
    }

    // ---- inodes and their data ---------------------------------------------------------

    private long absolute(long layoutOffset) {
        return layoutOffset + metaAddr;
    }

    private long nid(Node node) {
        return slots.get(node).offset / MetadataLayout.SLOT;
    }

    private void dumpInodes() {
        ArrayDeque<Node> queue = new ArrayDeque<>();
        queue.add(bootstrap.root());
        while (!queue.isEmpty()) {
            Node node = queue.poll();
            dumpNode(node);
            queue.addAll(node.children());
        }
    }

    private void dumpNode(Node node) {
        Slot slot = slots.get(node);
        Inode inode = node.inode();
        long inodeAt = absolute(slot.offset);
        long afterXattrs = inodeAt + OnDisk.EXTENDED_INODE_SIZE + slot.xattrSize;
        switch (inode.type()) {
            case DIRECTORY -> {
                writeInode(node, slot, inode.size(), dataBlockAddress(slot));
                byte[] blocks = DirectoryBlocks.encode(node, BLOCK_SIZE, this::nid);
                writeData(slot, afterXattrs, blocks);
            }
            case SYMLINK -> {
                writeInode(node, slot, inode.size(), dataBlockAddress(slot));
                writeData(slot, afterXattrs, inode.symlinkTarget());
            }
            case REGULAR -> {
                writeInode(node, slot, inode.size(), chunkFormat(inode));
                writeChunkIndexes(node, alignUp(afterXattrs - inodeAt, OnDisk.CHUNK_ADDR_SIZE)
                        + inodeAt);
            }
            default -> writeInode(node, slot, 0, DeviceNumbers.encode(node));
        }
        if (slot.xattrSize > 0) {
            out.put(inodeAt + OnDisk.EXTENDED_INODE_SIZE, XattrArea.encode(node, slot.xattrSize));
            wroteXattr = true;
        }
    }

    private long dataBlockAddress(Slot slot) {
        return absolute(slot.dataOffset) / BLOCK_SIZE;
    }

    /** Writes directory or symlink data: whole blocks at the data offset, the tail inline. */
    private void writeData(Slot slot, long inlineAt, byte[] data) {
        long full = slot.layout == OnDisk.LAYOUT_FLAT_INLINE
                ? data.length - data.length % BLOCK_SIZE
                : data.length;
        out.put(absolute(slot.dataOffset), data, 0, (int) full);
        if (full < data.length) {
            out.put(inlineAt, data, (int) full, (int) (data.length - full));
        }
    }

    private void writeInode(Node node, Slot slot, long size, long union) {
        Inode inode = node.inode();
        if (node.isDirectory()) {
            inode.size(slot.dataSize);
            size = slot.dataSize;
        }
        byte[] b = new byte[OnDisk.EXTENDED_INODE_SIZE];
        Le.putShort(b, 0, 1 | slot.layout << 1);
        Le.putShort(b, 2, slot.xattrSize == 0 ? 0 : (slot.xattrSize - 12) / 4 + 1);
        Le.putShort(b, 4, inode.mode());
        Le.putLong(b, 8, size);
        Le.putInt(b, 16, (int) union);
        Le.putInt(b, 20, slot.ino);
        boolean explicit = bootstrap.explicitUidGid();
        Le.putInt(b, 24, explicit ? (int) inode.uid() : 0);
        Le.putInt(b, 28, explicit ? (int) inode.gid() : 0);
        Le.putLong(b, 32, inode.mtimeSeconds());
        Le.putInt(b, 40, inode.mtimeNanos());
        Le.putInt(b, 44, linkCount(node));
        out.put(absolute(slot.offset), b);
    }

    private int linkCount(Node node) {
        return switch (node.inode().type()) {
            case DIRECTORY -> 2 + (int) node.children().stream().filter(Node::isDirectory).count();
            default -> linkCounts.getOrDefault(node.inode(), 1);
        };
    }

    /** Per-file chunk size: a file stored back to back in one blob is one big "chunk". */
    private long chunkFormat(Inode inode) {
        List<Chunk> chunks = inode.chunks();
        long chunkSize = bootstrap.chunkSize();
        boolean contiguous = true;
        for (int i = 1; i < chunks.size() && contiguous; i++) {
            Chunk prev = chunks.get(i - 1);
            Chunk cur = chunks.get(i);
            contiguous = prev.blobIndex() == cur.blobIndex()
                    && prev.uncompressedOffset() + chunkSize == cur.uncompressedOffset();
        }
        long effective = contiguous && inode.size() > chunkSize
                ? Long.highestOneBit(inode.size() - 1) << 1
                : chunkSize;
        int bits = Long.numberOfTrailingZeros(effective) - OnDisk.BLOCK_BITS;
        return OnDisk.CHUNK_FORMAT_INDEXES | bits;
    }

    private void writeChunkIndexes(Node node, long at) {
        List<Chunk> chunks = node.inode().chunks();
        byte[] b = new byte[OnDisk.CHUNK_ADDR_SIZE * chunks.size()];
        for (int i = 0; i < chunks.size(); i++) {
            Chunk c = chunks.get(i);
            int pos = i * OnDisk.CHUNK_ADDR_SIZE;
            Le.putShort(b, pos, c.index() & 0xFFFF);
            Le.putShort(b, pos + 2, (c.blobIndex() + 1) | ((c.index() >>> 16) & 0xFF) << 8);
            Le.putInt(b, pos + 4, (int) (c.uncompressedOffset() / BLOCK_SIZE));
            chunkTable.put(new ChunkKey(c.digest(), c.blobIndex() + 1),
                    new ChunkUse(c, (long) i * bootstrap.chunkSize()));
        }
        out.put(at, b);
    }

    // ---- tables and superblocks --------------------------------------------------------

    private void writePrefetchTable(long offset) {
        byte[] b = new byte[4 * bootstrap.prefetch().size()];
        for (int i = 0; i < bootstrap.prefetch().size(); i++) {
            Node node = bootstrap.prefetch().get(i);
            if (!slots.containsKey(node)) {
                throw new IllegalArgumentException("prefetch entry " + node.path()
                        + " is not in the image tree");
            }
            Le.putInt(b, 4 * i, (int) nid(node));
        }
        out.put(offset, b);
    }

    private long writeChunkTable(long offset) {
        byte[] b = new byte[OnDisk.CHUNK_INFO_SIZE];
        long pos = offset;
        for (ChunkUse use : chunkTable.values()) {
            java.util.Arrays.fill(b, (byte) 0);
            Chunk c = use.chunk();
            c.digest().copyTo(b, 0);
            Le.putInt(b, 32, c.blobIndex());
            int flags = (c.compressed() ? OnDisk.CHUNK_FLAG_COMPRESSED : 0)
                    | (c.hasCrc32() ? OnDisk.CHUNK_FLAG_HAS_CRC32 : 0);
            Le.putInt(b, 36, flags);
            Le.putInt(b, 40, c.compressedSize());
            Le.putInt(b, 44, c.uncompressedSize());
            Le.putLong(b, 48, c.compressedOffset());
            Le.putLong(b, 56, c.uncompressedOffset());
            Le.putLong(b, 64, use.fileOffset());
            Le.putInt(b, 72, c.index());
            Le.putInt(b, 76, c.crc32());
            out.put(pos, b);
            pos += OnDisk.CHUNK_INFO_SIZE;
        }
        return pos - offset;
    }

    /** Returns {blocks, mapped block address} per blob for a flattened block device. */
    private List<long[]> placeDevices(long bootstrapSize) {
        List<long[]> devices = new ArrayList<>();
        long pos = bootstrapSize;
        for (BlobInfo blob : bootstrap.blobs()) {
            long blocks = blob.uncompressedSize() / BLOCK_SIZE;
            long mapped = alignUp(pos, OnDisk.DEVICE_SEGMENT_ALIGNMENT) / BLOCK_SIZE;
            if (blocks > 0xFFFF_FFFFL || mapped + blocks > 0xFFFF_FFFFL) {
                throw new IllegalArgumentException("blob " + blob.blobId() + " with " + blocks
                        + " blocks does not fit a 32-bit block address");
            }
            pos = (mapped + blocks) * BLOCK_SIZE;
            devices.add(new long[] {blocks, mapped});
        }
        return devices;
    }

    private void writeSuperBlock(Slot root, List<long[]> devices) {
        byte[] b = new byte[OnDisk.SUPER_SIZE];
        Le.putInt(b, 0, OnDisk.EROFS_MAGIC);
        Le.putInt(b, 8, OnDisk.FEATURE_COMPAT_RAFS_V6);
        b[12] = OnDisk.BLOCK_BITS;
        Le.putShort(b, 14, (int) (root.offset / MetadataLayout.SLOT));
        Le.putLong(b, 16, nextIno - 1L);
        long blocks = devices.stream().mapToLong(d -> d[0]).sum();
        Le.putInt(b, 36, (int) blocks);
        Le.putInt(b, 40, (int) (metaAddr / BLOCK_SIZE));
        Le.putInt(b, 80, OnDisk.FEATURE_INCOMPAT_CHUNKED_FILE
                | OnDisk.FEATURE_INCOMPAT_DEVICE_TABLE);
        Le.putShort(b, 86, bootstrap.blobs().size());
        Le.putShort(b, 88, OnDisk.DEVTABLE_OFFSET / OnDisk.DEVICE_SLOT_SIZE);
        out.put(OnDisk.SUPER_OFFSET, b);
    }

    private void writeExtendedSuperBlock(long blobTableOffset, long blobTableSize,
            long chunkTableOffset, long chunkTableSize, long prefetchOffset, long prefetchSize) {
        long flags = bootstrap.flags() | RafsFlags.ENCRYPTION_NONE;
        if (wroteXattr) {
            flags |= RafsFlags.HAS_XATTR;
        }
        boolean allInlined = bootstrap.blobs().stream()
                .allMatch(blob -> blob.has(BlobFeatures.INLINED_CHUNK_DIGEST));
        flags = allInlined ? flags | RafsFlags.INLINED_CHUNK_DIGEST
                : flags & ~RafsFlags.INLINED_CHUNK_DIGEST;
        byte[] b = new byte[OnDisk.EXT_SUPER_SIZE];
        Le.putLong(b, 0, flags);
        Le.putLong(b, 8, blobTableOffset);
        Le.putInt(b, 16, (int) blobTableSize);
        Le.putInt(b, 20, bootstrap.chunkSize());
        Le.putLong(b, 24, chunkTableOffset);
        Le.putLong(b, 32, chunkTableSize);
        Le.putLong(b, 40, prefetchOffset);
        Le.putInt(b, 48, (int) prefetchSize);
        out.put(OnDisk.EXT_SUPER_OFFSET, b);
    }

    private void writeDeviceTable(List<long[]> devices) {
        for (int i = 0; i < devices.size(); i++) {
            byte[] b = new byte[OnDisk.DEVICE_SLOT_SIZE];
            byte[] id = bootstrap.blobs().get(i).blobId()
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            System.arraycopy(id, 0, b, 0, id.length);
            Le.putInt(b, 64, (int) devices.get(i)[0]);
            Le.putInt(b, 68, (int) devices.get(i)[1]);
            out.put(OnDisk.DEVTABLE_OFFSET + (long) i * OnDisk.DEVICE_SLOT_SIZE, b);
        }
    }

    private void writeBlobTable(long offset) {
        List<BlobInfo> blobs = bootstrap.blobs();
        for (int i = 0; i < blobs.size(); i++) {
            out.put(offset + (long) i * OnDisk.BLOB_ENTRY_SIZE, BlobTableEntry.encode(blobs.get(i),
                    i, bootstrap.chunkSize()));
        }
    }
}
