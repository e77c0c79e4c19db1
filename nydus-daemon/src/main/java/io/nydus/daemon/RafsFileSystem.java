package io.nydus.daemon;

import io.nydus.fuse.Attr;
import io.nydus.fuse.DirEntry;
import io.nydus.fuse.DirSink;
import io.nydus.fuse.Entry;
import io.nydus.fuse.FuseException;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.fuse.StatFs;
import io.nydus.posix.Errno;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.OnDiskInode;
import io.nydus.rafs.v6.RafsFlags;
import io.nydus.storage.ChunkSource;
import io.nydus.storage.StorageClosedException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A mounted RAFS v6 image that serves FUSE requests from the decoded bootstrap and reads file
 * data through a {@link ChunkSource}. Node ids are the inodes' nids, so hardlinks share one
 * node and {@code st_ino} matches what the kernel's EROFS driver reports. The root is node 1,
 * as FUSE requires, and trades ids with the inode whose nid is 1, if any.
 */
public final class RafsFileSystem implements FuseFileSystem {
    private static final Logger LOG = LoggerFactory.getLogger(RafsFileSystem.class);
    private static final byte[] DOT = {'.'};
    private static final byte[] DOT_DOT = {'.', '.'};
    private static final int BLOCK_SIZE = 4096;

    private final String name;
    private final Bootstrap bootstrap;
    private final ChunkSource chunks;
    private final RafsOptions options;
    private final FsMetrics metrics;
    /**
     * The nodes by node id. Node ids are nids, which the bootstrap's size bounds, so an array
     * takes a fraction of the memory that a map of boxed ids takes for a large image.
     */
    private final Node[] nodes;
    private final int inodeCount;
    private final Map<Node, Listing> listings = new IdentityHashMap<>();
    /**
     * The node id and link count of each node, which are all that the daemon reads of the
     * on-disk inodes. The decoded bootstrap's inode records would take about four times the
     * heap, so they are not kept.
     */
    private final Map<Node, InodeNumbers> numbers = new IdentityHashMap<>();
    private final long rootNid;
    private final boolean servesXattrs;
    /** Whether a read that the unmount of this image ended was logged at INFO. */
    private final AtomicBoolean closedReadLogged = new AtomicBoolean();

    /**
     * @param name the image's name in logs, usually the bootstrap path
     * @param image the decoded bootstrap
     * @param chunks where file data comes from
     * @param options the configuration's rafs settings
     * @param metrics where the file operations are counted
     */
    public RafsFileSystem(String name, DecodedBootstrap image, ChunkSource chunks,
            RafsOptions options, FsMetrics metrics) {
        this.name = name;
        this.bootstrap = image.bootstrap();
        this.chunks = chunks;
        this.options = options;
        this.metrics = metrics;
        Node root = image.bootstrap().root();
        this.rootNid = image.nid(root);
        // As in upstream nydusd, an image whose superblock sets HAS_XATTR serves its xattrs
        // even where enable_xattr is false, so that file capabilities keep working.
        this.servesXattrs = options.enableXattr()
                || (image.bootstrap().flags() & RafsFlags.HAS_XATTR) != 0;
        NodeIndex index = new NodeIndex();
        index(image, root, index);
        this.nodes = index.nodes;
        this.inodeCount = index.count;
    }

    /** Nodes by node id while they are indexed; the first node of a hardlinked inode wins. */
    private static final class NodeIndex {
        Node[] nodes = new Node[1024];
        int count;

        void add(long id, Node node) {
            // A nid addresses 32 bytes of a bootstrap read into one array, so it fits an int.
            int at = Math.toIntExact(id);
            if (at >= nodes.length) {
                nodes = Arrays.copyOf(nodes, Math.max(at + 1, nodes.length * 2));
            }
            if (nodes[at] == null) {
                nodes[at] = node;
                count++;
            }
        }
    }

    /** The numbers of one node that the daemon takes from its on-disk inode. */
    private record InodeNumbers(long nodeId, int nlink) {
    }

    private void index(DecodedBootstrap image, Node root, NodeIndex index) {
        indexNode(image, root, index);
        for (Node node : root.descendants()) {
            indexNode(image, node, index);
        }
    }

    private void indexNode(DecodedBootstrap image, Node node, NodeIndex index) {
        OnDiskInode disk = image.inode(node);
        long id = nodeId(disk.nid());
        numbers.put(node, new InodeNumbers(id, (int) disk.nlink()));
        index.add(id, node);
        if (node.isDirectory()) {
            // The stored size of a directory is that of its directory blocks, which the
            // decoded tree does not keep.
            listings.put(node, listing(node, disk.size()));
        }
    }

    /** Returns the node id of a node with {@code nid}: the nid, with the root and nid 1 swapped. */
    private long nodeId(long nid) {
        if (nid == rootNid) {
            return ROOT;
        }
        return nid == ROOT ? rootNid : nid;
    }

    /** Returns the node id of {@code node}, a node of this image. */
    long nodeId(Node node) {
        return numbers.get(node).nodeId();
    }

    /** Returns the number of distinct inodes in the image. */
    public int inodeCount() {
        return inodeCount;
    }

    Node node(long id) throws FuseException {
        Node node = id >= 0 && id < nodes.length ? nodes[(int) id] : null;
        if (node == null) {
            throw new FuseException(Errno.ENOENT, name + ": no inode " + id);
        }
        return node;
    }

    /** A file system call that returns a value or throws the errno of its reply. */
    @FunctionalInterface
    private interface Call<T> {
        T run() throws FuseException;
    }

    /**
     * Runs {@code call} on node id {@code inode} and counts it as a hit of {@code operation}
     * with its latency, or as an error when it throws. Any exception counts, because the server
     * replies EIO to those that are not a {@link FuseException}.
     */
    private <T> T counted(FileOperation operation, long inode, Call<T> call)
            throws FuseException {
        long started = System.nanoTime();
        T result;
        try {
            result = call.run();
        } catch (FuseException | RuntimeException e) {
            metrics.failed(operation, inode);
            throw e;
        }
        metrics.succeeded(operation, inode, started);
        return result;
    }

    /**
     * Looks {@code childName} up in {@code parent}. A name that is not there counts as a hit,
     * as upstream nydusd counts it, because upstream replies with a negative entry to it. The
     * lookup counts on the parent's per-file figures and starts those of the child.
     */
    @Override
    public Entry lookup(long parent, byte[] childName) throws FuseException {
        Node child = counted(FileOperation.LOOKUP, parent,
                () -> child(directory(parent), childName));
        if (child == null) {
            throw new FuseException(Errno.ENOENT, "no entry");
        }
        Attr attr = attr(child);
        metrics.lookedUp(attr.inode());
        return new Entry(attr, options.entryTimeoutSeconds());
    }

    /** Returns the entry {@code childName} of {@code directory}, or null if there is none. */
    private static Node child(Node directory, byte[] childName) {
        if (Arrays.equals(childName, DOT)) {
            return directory;
        }
        if (Arrays.equals(childName, DOT_DOT)) {
            return directory.isRoot() ? directory : directory.parent();
        }
        return directory.child(childName);
    }

    /** Counts a FORGET. This file system keeps no lookup counts, so it has nothing to drop. */
    @Override
    public void forget(long inode, long count) {
        metrics.succeeded(FileOperation.FORGET, inode, System.nanoTime());
    }

    /** Counts one BATCH_FORGET request that named inodes of this image. */
    @Override
    public void batchForget(long[] inodes, long[] counts) {
        metrics.succeeded(FileOperation.BATCH_FORGET, FsMetrics.NO_FILE, System.nanoTime());
    }

    /**
     * Counts a lookup of a name longer than 255 bytes as a hit, because upstream nydusd looks
     * such a name up, finds nothing and replies with a negative entry.
     */
    @Override
    public void lookupRejected(long parent) {
        metrics.succeeded(FileOperation.LOOKUP, parent, System.nanoTime());
    }

    /** Counts an open for writing, which the server rejected with EROFS, as a failed open. */
    @Override
    public void openRejected(long inode) {
        metrics.failed(FileOperation.OPEN, inode);
    }

    @Override
    public Attr getattr(long inode) throws FuseException {
        return counted(FileOperation.GETATTR, inode, () -> attr(node(inode)));
    }

    Attr attr(Node node) {
        Inode inode = node.inode();
        InodeNumbers stored = numbers.get(node);
        long size = inode.type() == FileType.DIRECTORY ? listings.get(node).size()
                : inode.size();
        return new Attr(stored.nodeId(), size, blocks(size), inode.mtimeSeconds(),
                inode.mtimeNanos(), inode.mode(), stored.nlink(), inode.uid(), inode.gid(),
                encodeDevice(inode.rdevMajor(), inode.rdevMinor()));
    }

    /**
     * Returns {@code st_blocks} for a file of {@code size} bytes as the kernel's EROFS driver
     * reports it: the size rounded up to whole blocks, in 512-byte units, holes included.
     */
    static long blocks(long size) {
        return (size + BLOCK_SIZE - 1) / BLOCK_SIZE * (BLOCK_SIZE / 512);
    }

    /** Encodes a device number as the kernel's {@code new_encode_dev} does. */
    static int encodeDevice(long major, long minor) {
        return (int) ((minor & 0xff) | (major << 8) | ((minor & ~0xffL) << 12));
    }

    @Override
    public byte[] readlink(long inode) throws FuseException {
        return counted(FileOperation.READLINK, inode, () -> symlinkTarget(inode));
    }

    private byte[] symlinkTarget(long inode) throws FuseException {
        Node node = node(inode);
        if (node.inode().type() != FileType.SYMLINK) {
            throw new FuseException(Errno.EINVAL, node.path() + " is not a symlink");
        }
        return node.inode().symlinkTarget();
    }

    @Override
    public long open(long inode, int flags) throws FuseException {
        return counted(FileOperation.OPEN, inode, () -> {
            Node node = node(inode);
            if (node.isDirectory()) {
                throw new FuseException(Errno.EISDIR, node.path() + " is a directory");
            }
            return 0L;
        });
    }

    @Override
    public void release(long inode, long handle) {
        metrics.succeeded(FileOperation.RELEASE, inode, System.nanoTime());
    }

    /**
     * Reads file data and counts the read. The read path counts inline instead of through
     * {@link #counted}, because it also records the bytes and the histograms.
     */
    @Override
    public int read(long inode, long handle, long offset, MemorySegment target)
            throws FuseException {
        long started = System.nanoTime();
        Node node;
        int count;
        try {
            node = regularFile(inode);
            count = readData(node, offset, target);
        } catch (FuseException | RuntimeException e) {
            metrics.failed(FileOperation.READ, inode);
            throw e;
        }
        metrics.read(node, nodeId(node), count, started);
        return count;
    }

    private Node regularFile(long inode) throws FuseException {
        Node node = node(inode);
        if (node.inode().type() != FileType.REGULAR) {
            throw new FuseException(Errno.EINVAL, node.path() + " is not a regular file");
        }
        return node;
    }

    /** Copies the data at {@code offset} into {@code target} and returns 0 at the end of file. */
    private int readData(Node node, long offset, MemorySegment target) throws FuseException {
        long size = node.inode().size();
        long end = Math.min(size, offset + target.byteSize());
        if (offset >= end) {
            return 0;
        }
        try {
            copy(node, offset, end, target);
        } catch (StorageClosedException e) {
            logReadAfterClose(node, e);
            throw new FuseException(Errno.EIO, e.getMessage(), e);
        } catch (IOException e) {
            LOG.error("{}: read of {} at offset {} ({} bytes) failed: {}", name, node.path(),
                    offset, end - offset, e.getMessage());
            throw new FuseException(Errno.EIO, e.getMessage(), e);
        }
        return (int) (end - offset);
    }

    /**
     * Logs a read that the unmount of this image ended: at INFO for the first, so that an
     * unmount under running readers does not log an error per read, and at DEBUG after it.
     */
    private void logReadAfterClose(Node node, StorageClosedException e) {
        if (closedReadLogged.compareAndSet(false, true)) {
            LOG.info("image {} ({}) was unmounted while {} was read; its reads fail with EIO"
                    + " from now on, and later ones are logged at DEBUG only", metrics.id(), name,
                    node.path());
        } else {
            LOG.debug("image {}: read of {} after the unmount: {}", metrics.id(), node.path(),
                    e.getMessage());
        }
    }

    private void copy(Node node, long offset, long end, MemorySegment target)
            throws IOException {
        int chunkSize = bootstrap.chunkSize();
        List<Chunk> fileChunks = node.inode().chunks();
        long position = offset;
        while (position < end) {
            int index = (int) (position / chunkSize);
            if (index >= fileChunks.size()) {
                throw new IOException(node.path() + " has " + fileChunks.size()
                        + " chunks, too few for its size " + node.inode().size());
            }
            Chunk chunk = fileChunks.get(index);
            int within = (int) (position - (long) index * chunkSize);
            long length = Math.min(chunk.uncompressedSize() - within, end - position);
            if (length <= 0) {
                throw new IOException(node.path() + ": chunk " + index + " has only "
                        + chunk.uncompressedSize() + " bytes, fewer than the file size needs");
            }
            chunks.read(chunk, within, target.asSlice(position - offset, length));
            position += length;
        }
    }

    @Override
    public long opendir(long inode) throws FuseException {
        return counted(FileOperation.OPENDIR, inode, () -> {
            directory(inode);
            return 0L;
        });
    }

    /** Lists a directory, counted as a readdirplus when the sink takes attributes. */
    @Override
    public void readdir(long inode, long handle, long offset, DirSink sink)
            throws FuseException {
        FileOperation operation = sink.wantsAttributes()
                ? FileOperation.READDIRPLUS : FileOperation.READDIR;
        counted(operation, inode, () -> {
            list(inode, offset, sink);
            return null;
        });
    }

    private void list(long inode, long offset, DirSink sink) throws FuseException {
        Listing listing = listings.get(directory(inode));
        for (long position = offset; position < listing.nodes().length; position++) {
            int at = (int) position;
            Node child = listing.nodes()[at];
            Attr attr = attr(child);
            DirEntry dirEntry = new DirEntry(listing.name(at), attr.inode(),
                    child.inode().type().modeBits(), position + 1);
            Entry entry = sink.wantsAttributes()
                    ? new Entry(attr, options.entryTimeoutSeconds()) : null;
            if (!sink.add(dirEntry, entry)) {
                return;
            }
        }
    }

    /**
     * The nodes of a directory listing in readdir order, with the places of "." (the directory)
     * and ".." (its parent), whose nodes are named otherwise. One array per directory keeps the
     * listings as small as the tree they index. {@code size} is the directory's stored size.
     */
    private record Listing(Node[] nodes, int dot, int dotDot, long size) {
        byte[] name(int at) {
            if (at == dot) {
                return DOT;
            }
            if (at == dotDot) {
                return DOT_DOT;
            }
            return nodes[at].name();
        }
    }

    /**
     * Returns ".", ".." and the children of {@code directory} in the order of the image's
     * directory blocks, which the kernel's EROFS driver lists: sorted by unsigned bytes, so
     * names such as "!x" or "-z" come before ".".
     */
    private static Listing listing(Node directory, long size) {
        List<Node> children = new ArrayList<>(directory.children());
        int dot = sortedPlace(children, DOT);
        // Names such as ".#lock" sort between "." and "..", and "." comes first in the array.
        int dotDot = sortedPlace(children, DOT_DOT) + 1;
        Node[] nodes = new Node[children.size() + 2];
        for (int i = 0, child = 0; i < nodes.length; i++) {
            if (i == dot) {
                nodes[i] = directory;
            } else if (i == dotDot) {
                nodes[i] = directory.isRoot() ? directory : directory.parent();
            } else {
                nodes[i] = children.get(child++);
            }
        }
        return new Listing(nodes, dot, dotDot, size);
    }

    /** Returns how many of the sorted {@code children} have names below {@code name}. */
    private static int sortedPlace(List<Node> children, byte[] name) {
        int index = 0;
        while (index < children.size()
                && Arrays.compareUnsigned(children.get(index).name(), name) < 0) {
            index++;
        }
        return index;
    }

    private Node directory(long inode) throws FuseException {
        Node node = node(inode);
        if (!node.isDirectory()) {
            throw new FuseException(Errno.ENOTDIR, node.path() + " is not a directory");
        }
        return node;
    }

    @Override
    public StatFs statfs(long inode) throws FuseException {
        return counted(FileOperation.STATFS, inode, this::fileSystemStats);
    }

    private StatFs fileSystemStats() {
        long blocks = 0;
        for (var blob : bootstrap.blobs()) {
            blocks += blob.uncompressedSize() / BLOCK_SIZE;
        }
        return new StatFs(blocks, inodeCount, BLOCK_SIZE, Node.MAX_NAME);
    }

    @Override
    public byte[] getxattr(long inode, byte[] xattrName) throws FuseException {
        return getxattr(inode, xattrName, 0);
    }

    /**
     * Returns the value of an xattr. A name that the inode lacks counts as a hit and a value
     * longer than {@code size} as an error, as upstream nydusd counts them.
     */
    @Override
    public byte[] getxattr(long inode, byte[] xattrName, long size) throws FuseException {
        byte[] value = counted(FileOperation.GETXATTR, inode, () -> {
            Node node = node(inode);
            byte[] found = servesXattrs ? node.inode().xattrs().get(xattrName) : null;
            return found == null ? null : FuseFileSystem.requireFits(found, size);
        });
        if (value == null) {
            throw new FuseException(Errno.ENODATA, "no xattr");
        }
        return value;
    }

    @Override
    public List<byte[]> listxattr(long inode) throws FuseException {
        return counted(FileOperation.LISTXATTR, inode, () -> {
            Node node = node(inode);
            List<byte[]> names = new ArrayList<>();
            if (servesXattrs) {
                node.inode().xattrs().forEach((key, value) -> names.add(key));
            }
            return names;
        });
    }

    /**
     * Checks that the inode exists. The mount sets {@code default_permissions}, so the kernel
     * checks the mode bits itself and sends no ACCESS request.
     */
    @Override
    public void access(long inode, int mask) throws FuseException {
        counted(FileOperation.ACCESS, inode, () -> node(inode));
    }

    /**
     * Runs lookup, getattr and readdir for every inode a few times, so that the
     * JIT compiles the metadata path before the kernel's first requests instead of during them.
     * A container's first {@code ls} or {@code stat} storm then runs at full speed. The metrics
     * leave these calls out, since the kernel made none of them.
     *
     * @param maxRequests stops after about this many requests
     */
    public void warmUp(int maxRequests) {
        int[] budget = {maxRequests};
        DirSink sink = new DirSink() {
            @Override
            public boolean wantsAttributes() {
                return true;
            }

            @Override
            public boolean add(DirEntry dirEntry, Entry entry) {
                return --budget[0] > 0;
            }
        };
        while (budget[0] > 0) {
            int before = budget[0];
            for (Map.Entry<Node, Listing> listing : listings.entrySet()) {
                if (budget[0] <= 0) {
                    return;
                }
                warmDirectory(listing.getKey(), listing.getValue(), sink, budget);
            }
            if (budget[0] == before) {
                return;
            }
        }
    }

    private void warmDirectory(Node directory, Listing listing, DirSink sink, int[] budget) {
        try {
            long id = nodeId(directory);
            list(id, 0, sink);
            for (int i = 0; i < listing.nodes().length && budget[0] > 0; i++, budget[0]--) {
                Node child = child(directory(id), listing.name(i));
                attr(node(nodeId(child)));
            }
        } catch (FuseException e) {
            LOG.debug("{}: warm-up stopped at {}: {}", name, directory.path(), e.getMessage());
            budget[0] = 0;
        }
    }

    @Override
    public String toString() {
        return "rafs " + name;
    }
}
