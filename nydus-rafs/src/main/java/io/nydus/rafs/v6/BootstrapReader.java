package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads RAFS v6 bootstraps into the tree model, validating every structure on the way.
 *
 * <p>Supported: compact and extended inodes; FLAT_PLAIN, FLAT_INLINE and CHUNK_BASED layouts;
 * inline xattrs; directories of any number of blocks; symlinks, devices, FIFOs and sockets;
 * hardlinks stored as one inode (their nodes share one {@code Inode}); chunk index arrays
 * resolved through the blob table and the chunk info table. Rejected with a
 * {@link RafsFormatException}: RAFS v5, shared xattrs, EROFS compressed layouts, regular files
 * with data inside the bootstrap, encrypted blobs, and any corrupt or inconsistent structure.
 *
 * <p>The work done is linear in the file size: every loop is bounded by a size checked against
 * the file, and the tree walk visits each directory once.
 */
public final class BootstrapReader {
    /** The largest bootstrap accepted, as upstream's `RAFS_MAX_METADATA_SIZE` (2 GiB). */
    public static final long MAX_SIZE = Integer.MAX_VALUE;

    private static final String PREFETCH = "prefetch table entry";

    private BootstrapReader() {
    }

    /**
     * Reads the bootstrap in {@code file}.
     *
     * @throws RafsFormatException if the file is not a valid RAFS v6 bootstrap
     * @throws IOException if the file cannot be read
     */
    public static Bootstrap read(Path file) throws IOException {
        return decode(file).bootstrap();
    }

    /**
     * Reads a bootstrap from the bytes between {@code data}'s position and limit.
     *
     * @param sourceName names the data in error messages, usually a file name
     * @throws RafsFormatException if the data is not a valid RAFS v6 bootstrap
     */
    public static Bootstrap read(String sourceName, ByteBuffer data) throws RafsFormatException {
        return decode(sourceName, data).bootstrap();
    }

    /**
     * Returns whether {@code file} starts as a RAFS bootstrap does: with the RAFS v6 (EROFS)
     * superblock magic at offset 1024, or with the RAFS v5 magic at offset 0, which
     * {@link #decode} rejects by name. Nothing else in the file is checked.
     *
     * @throws IOException if the file cannot be read
     */
    public static boolean hasSuperblockMagic(Path file) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(OnDisk.SUPER_OFFSET + Integer.BYTES)
                .order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            while (head.hasRemaining() && channel.read(head) >= 0) {
                // Keeps reading until the buffer is full or the file ends early.
            }
        }
        if (head.position() >= Integer.BYTES && head.getInt(0) == OnDisk.RAFS_V5_MAGIC) {
            return true;
        }
        return !head.hasRemaining() && head.getInt(OnDisk.SUPER_OFFSET) == OnDisk.EROFS_MAGIC;
    }

    /**
     * Reads the bootstrap in {@code file} with its on-disk details (nids, superblock values).
     *
     * @throws RafsFormatException if the file is not a valid RAFS v6 bootstrap
     * @throws IOException if the file cannot be read
     */
    public static DecodedBootstrap decode(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new IOException("bootstrap " + file + " is a directory; give the bootstrap"
                    + " file");
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size > MAX_SIZE) {
                throw new RafsFormatException(file + ": the file has " + size
                        + " bytes, more than the " + MAX_SIZE + "-byte maximum of a bootstrap");
            }
            ByteBuffer data = ByteBuffer.allocate((int) size);
            while (data.hasRemaining() && channel.read(data) >= 0) {
                // Keeps reading until the buffer is full or the file ends early.
            }
            return decode(file.toString(), data.flip());
        }
    }

    /**
     * Reads a bootstrap from the bytes between {@code data}'s position and limit, with its
     * on-disk details.
     *
     * @param sourceName names the data in error messages, usually a file name
     * @throws RafsFormatException if the data is not a valid RAFS v6 bootstrap
     */
    public static DecodedBootstrap decode(String sourceName, ByteBuffer data)
            throws RafsFormatException {
        MetaBuffer b = new MetaBuffer(sourceName, data);
        SuperBlockInfo sb = SuperBlockDecoder.decode(b);
        List<DeviceSlot> devices = BlobTableDecoder.decodeDevices(b, sb);
        List<BlobInfo> blobs = BlobTableDecoder.decodeBlobs(b, sb, devices);
        ChunkTable chunkTable = ChunkTable.decode(b, sb, blobs);
        InodeDecoder inodes = new InodeDecoder(b, sb,
                new ChunkIndexDecoder(b, sb, blobs, chunkTable));
        TreeDecoder tree = new TreeDecoder(b, sb, inodes);
        Node root = tree.decode(sb.rootNid());
        List<Node> prefetch = prefetch(b, sb, tree);
        Bootstrap bootstrap = newBootstrap(b, root, blobs, sb, prefetch);
        return new DecodedBootstrap(sourceName, bootstrap, sb, devices, chunkTable.entries(),
                tree.onDisk());
    }

    /** Decodes the prefetch table's nids, which end at the first 0, into nodes. */
    private static List<Node> prefetch(MetaBuffer b, SuperBlockInfo sb, TreeDecoder tree)
            throws RafsFormatException {
        List<Node> nodes = new ArrayList<>();
        for (long i = 0; i < sb.prefetchTableEntries(); i++) {
            long at = sb.prefetchTableOffset() + 4 * i;
            long nid = b.u32(PREFETCH, at);
            if (nid == 0) {
                break;
            }
            Node node = tree.firstNode(nid);
            if (node == null) {
                throw b.error(PREFETCH + " " + i, at, "nid " + nid
                        + " is not an inode of the tree");
            }
            nodes.add(node);
        }
        return nodes;
    }

    private static Bootstrap newBootstrap(MetaBuffer b, Node root, List<BlobInfo> blobs,
            SuperBlockInfo sb, List<Node> prefetch) throws RafsFormatException {
        try {
            return new Bootstrap(root, blobs, (int) sb.chunkSize(), sb.flags(), prefetch);
        } catch (IllegalArgumentException e) {
            throw b.error("superblock", OnDisk.SUPER_OFFSET, e.getMessage());
        }
    }
}
