package io.nydus.fuse;

import io.nydus.posix.Errno;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An in-memory read-only tree served through {@link FuseFileSystem}, built before mounting.
 * File contents come from {@link FileData}, so large files need not sit in the heap. A mounted
 * tree changes only by the volatile settings: hidden entries, modification times and timeouts.
 */
final class MemoryFileSystem implements FuseFileSystem {

    static final int S_IFDIR = 0040000;
    static final int S_IFREG = 0100000;
    static final int S_IFLNK = 0120000;
    static final int S_IFCHR = 0020000;
    static final int S_IFIFO = 0010000;
    static final long MTIME_SECONDS = 1_700_000_000L;
    static final int MTIME_NANOS = 123_456_789;
    static final double TIMEOUT_SECONDS = 1.0;

    /** The bytes of a regular file. */
    interface FileData {
        long size();

        /** Copies {@code target.byteSize()} bytes from {@code offset} into {@code target}. */
        void copy(long offset, MemorySegment target);
    }

    /** Contents held in a byte array. */
    record ArrayData(byte[] bytes) implements FileData {
        @Override
        public long size() {
            return bytes.length;
        }

        @Override
        public void copy(long offset, MemorySegment target) {
            MemorySegment.copy(MemorySegment.ofArray(bytes), offset, target, 0,
                    target.byteSize());
        }
    }

    /**
     * Contents that repeat a native pattern whose period is not a power of two, so a read at a
     * wrong offset returns different bytes.
     */
    record PatternData(MemorySegment pattern, long size) implements FileData {

        static PatternData of(Arena arena, long size) {
            int period = (1 << 20) + 4093;
            MemorySegment pattern = arena.allocate(period);
            long state = 0x9E3779B97F4A7C15L;
            for (int i = 0; i < period; i++) {
                state ^= state << 13;
                state ^= state >>> 7;
                state ^= state << 17;
                pattern.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) state);
            }
            return new PatternData(pattern, size);
        }

        @Override
        public void copy(long offset, MemorySegment target) {
            long period = pattern.byteSize();
            long done = 0;
            while (done < target.byteSize()) {
                long start = (offset + done) % period;
                long count = Math.min(period - start, target.byteSize() - done);
                MemorySegment.copy(pattern, start, target, done, count);
                done += count;
            }
        }

        /** Returns the bytes at {@code offset}, for comparing. */
        byte[] bytes(long offset, int length) {
            MemorySegment copy = MemorySegment.ofArray(new byte[length]);
            copy(offset, copy);
            return copy.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }

    private static final class Node {
        final long inode;
        final int mode;
        final long uid;
        final long gid;
        final int rdev;
        final AtomicInteger nlink = new AtomicInteger(1);
        final Map<ByteBuffer, byte[]> xattrs = new LinkedHashMap<>();
        final List<byte[]> childNames = new ArrayList<>();
        final List<Node> children = new ArrayList<>();
        final Map<ByteBuffer, Node> childIndex = new HashMap<>();
        Node parent;
        byte[] linkTarget;
        FileData data;
        RuntimeException readFailure;
        Error readError;
        volatile CountDownLatch readGate;
        volatile Runnable readAction;
        volatile boolean hidden;
        volatile long mtimeSeconds = MTIME_SECONDS;

        Node(long inode, int mode, long uid, long gid, int rdev) {
            this.inode = inode;
            this.mode = mode;
            this.uid = uid;
            this.gid = gid;
            this.rdev = rdev;
        }
    }

    private final Map<Long, Node> nodes = new HashMap<>();
    private final Map<Long, Long> lookups = new ConcurrentHashMap<>();
    private final List<FuseConnection> connections = new CopyOnWriteArrayList<>();
    private final AtomicLong reads = new AtomicLong();
    private final AtomicLong missedLookups = new AtomicLong();
    private volatile byte[] heldLookupName;
    private volatile CountDownLatch lookupGate;
    private final AtomicLong unalignedTargets = new AtomicLong();
    private volatile double negativeTimeoutSeconds;
    private volatile double attrTimeoutSeconds = TIMEOUT_SECONDS;
    private volatile boolean listingsCacheable = true;
    private volatile FuseNotifier notifier;
    private final AtomicLong bytesRead = new AtomicLong();
    private long nextInode = ROOT;

    MemoryFileSystem() {
        Node root = newNode(S_IFDIR | 0755, 0, 0, 0);
        root.parent = root;
        root.nlink.set(2);
    }

    // --- building the tree ---

    long directory(long parent, byte[] name, int permissions) {
        Node dir = newNode(S_IFDIR | permissions, 0, 0, 0);
        dir.parent = node(parent);
        dir.nlink.set(2);
        node(parent).nlink.incrementAndGet();
        return attach(parent, name, dir);
    }

    long file(long parent, byte[] name, int permissions, long uid, long gid, FileData data) {
        Node file = newNode(S_IFREG | permissions, uid, gid, 0);
        file.data = data;
        return attach(parent, name, file);
    }

    long symlink(long parent, byte[] name, byte[] target) {
        Node link = newNode(S_IFLNK | 0777, 0, 0, 0);
        link.linkTarget = target.clone();
        return attach(parent, name, link);
    }

    long special(long parent, byte[] name, int mode, int rdev) {
        return attach(parent, name, newNode(mode, 0, 0, rdev));
    }

    void hardlink(long parent, byte[] name, long existing) {
        Node node = node(existing);
        node.nlink.incrementAndGet();
        attach(parent, name, node);
    }

    void xattr(long inode, byte[] name, byte[] value) {
        node(inode).xattrs.put(ByteBuffer.wrap(name.clone()), value.clone());
    }

    /** Makes every read of {@code inode} throw {@code failure}. */
    void failReads(long inode, RuntimeException failure) {
        node(inode).readFailure = failure;
    }

    /** Makes every read of {@code inode} throw {@code error}, which the server does not catch. */
    void failReads(long inode, Error error) {
        node(inode).readError = error;
    }

    /** Makes every read of {@code inode} wait until {@code gate} opens, for at most a minute. */
    void holdReads(long inode, CountDownLatch gate) {
        node(inode).readGate = gate;
    }

    /** Makes every lookup of {@code name} wait until {@code gate} opens, for at most a minute. */
    void holdLookups(byte[] name, CountDownLatch gate) {
        lookupGate = gate;
        heldLookupName = name.clone();
    }

    /** Makes every read of {@code inode} run {@code action} first, on the worker's thread. */
    void runOnRead(long inode, Runnable action) {
        node(inode).readAction = action;
    }

    /** Hides {@code inode} from lookups and listings, or shows it again. */
    void setHidden(long inode, boolean hidden) {
        node(inode).hidden = hidden;
    }

    /** Sets the modification time of {@code inode}. */
    void setMtime(long inode, long seconds) {
        node(inode).mtimeSeconds = seconds;
    }

    /** Sets how long the kernel may cache attributes from getattr. */
    void setAttrTimeout(double seconds) {
        attrTimeoutSeconds = seconds;
    }

    /** Sets whether the kernel may keep directory listings from one open to the next. */
    void setListingsCacheable(boolean cacheable) {
        listingsCacheable = cacheable;
    }

    /** Returns the notifier of the session that serves this tree, or null before a mount. */
    FuseNotifier notifier() {
        return notifier;
    }

    /** Returns the lookup count of {@code inode}: lookups less the counts of forgets. */
    long lookupCount(long inode) {
        return lookups.getOrDefault(inode, 0L);
    }

    /** Returns the number of read calls that returned data so far. */
    long reads() {
        return reads.get();
    }

    /** Returns the bytes returned by all read calls so far. */
    long bytesRead() {
        return bytesRead.get();
    }

    private Node newNode(int mode, long uid, long gid, int rdev) {
        Node node = new Node(nextInode++, mode, uid, gid, rdev);
        nodes.put(node.inode, node);
        return node;
    }

    private long attach(long parent, byte[] name, Node child) {
        Node dir = node(parent);
        dir.childNames.add(name.clone());
        dir.children.add(child);
        dir.childIndex.put(ByteBuffer.wrap(name.clone()), child);
        return child.inode;
    }

    private Node node(long inode) {
        Node node = nodes.get(inode);
        if (node == null) {
            throw new IllegalArgumentException("no inode " + inode);
        }
        return node;
    }

    /** Returns how many read targets did not start on a 4096-byte boundary. */
    long unalignedTargets() {
        return unalignedTargets.get();
    }

    /** Returns how many lookups found no entry. */
    long missedLookups() {
        return missedLookups.get();
    }

    /** Sets how long the kernel may cache that a name is absent. */
    void setNegativeTimeout(double seconds) {
        negativeTimeoutSeconds = seconds;
    }

    @Override
    public double negativeTimeoutSeconds() {
        return negativeTimeoutSeconds;
    }

    /** Returns the connections that init reported, a live list. */
    List<FuseConnection> connections() {
        return connections;
    }

    // --- FuseFileSystem ---

    @Override
    public void init(FuseConnection connection) {
        connections.add(connection);
    }

    @Override
    public void setNotifier(FuseNotifier sessionNotifier) {
        notifier = sessionNotifier;
    }

    @Override
    public double attrTimeoutSeconds() {
        return attrTimeoutSeconds;
    }

    @Override
    public boolean isListingCacheable(long inode) {
        return listingsCacheable;
    }

    @Override
    public Entry lookup(long parent, byte[] name) throws FuseException {
        if (Arrays.equals(name, heldLookupName)) {
            awaitGate(lookupGate);
        }
        Node child = existing(parent).childIndex.get(ByteBuffer.wrap(name));
        if (child == null || child.hidden) {
            missedLookups.incrementAndGet();
            throw new FuseException(Errno.ENOENT, "no entry");
        }
        lookups.merge(child.inode, 1L, Long::sum);
        return entry(child);
    }

    @Override
    public void forget(long inode, long count) {
        lookups.merge(inode, -count, Long::sum);
    }

    @Override
    public Attr getattr(long inode) throws FuseException {
        return attr(existing(inode));
    }

    @Override
    public byte[] readlink(long inode) throws FuseException {
        Node node = existing(inode);
        if (node.linkTarget == null) {
            throw new FuseException(Errno.EINVAL, "not a symlink");
        }
        return node.linkTarget.clone();
    }

    private static void awaitGate(CountDownLatch gate) throws FuseException {
        if (gate == null) {
            return;
        }
        try {
            if (!gate.await(1, TimeUnit.MINUTES)) {
                throw new FuseException(Errno.EIO, "gate stayed closed for a minute");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FuseException(Errno.EIO, "interrupted while waiting at a gate");
        }
    }

    @Override
    public int read(long inode, long handle, long offset, MemorySegment target)
            throws FuseException {
        Node node = existing(inode);
        if (target.address() % 4096 != 0) {
            unalignedTargets.incrementAndGet();
        }
        Runnable action = node.readAction;
        if (action != null) {
            action.run();
        }
        awaitGate(node.readGate);
        if (node.readFailure != null) {
            throw node.readFailure;
        }
        if (node.readError != null) {
            throw node.readError;
        }
        if (node.data == null) {
            throw new FuseException(Errno.EISDIR, "not a file");
        }
        long size = node.data.size();
        if (offset >= size) {
            return 0;
        }
        int count = (int) Math.min(target.byteSize(), size - offset);
        node.data.copy(offset, target.asSlice(0, count));
        reads.incrementAndGet();
        bytesRead.addAndGet(count);
        return count;
    }

    @Override
    public void readdir(long inode, long handle, long offset, DirSink sink)
            throws FuseException {
        Node dir = existing(inode);
        for (long position = offset; position < dir.children.size() + 2L; position++) {
            Node child;
            byte[] name;
            if (position < 2) {
                child = position == 0 ? dir : dir.parent;
                name = position == 0 ? new byte[] {'.'} : new byte[] {'.', '.'};
            } else {
                child = dir.children.get((int) position - 2);
                name = dir.childNames.get((int) position - 2);
                if (child.hidden) {
                    continue;
                }
            }
            DirEntry dirEntry = new DirEntry(name, child.inode, child.mode & 0170000,
                    position + 1);
            Entry entry = sink.wantsAttributes() ? entry(child) : null;
            if (!sink.add(dirEntry, entry)) {
                return;
            }
            if (entry != null && position >= 2) {
                lookups.merge(child.inode, 1L, Long::sum);
            }
        }
    }

    @Override
    public StatFs statfs(long inode) {
        return new StatFs(nodes.size() * 8L, nodes.size(), 4096, 255);
    }

    @Override
    public byte[] getxattr(long inode, byte[] name) throws FuseException {
        byte[] value = existing(inode).xattrs.get(ByteBuffer.wrap(name));
        if (value == null) {
            throw new FuseException(Errno.ENODATA, "no xattr");
        }
        return value.clone();
    }

    @Override
    public List<byte[]> listxattr(long inode) throws FuseException {
        List<byte[]> names = new ArrayList<>();
        for (ByteBuffer name : existing(inode).xattrs.keySet()) {
            byte[] bytes = new byte[name.remaining()];
            name.duplicate().get(bytes);
            names.add(bytes);
        }
        return names;
    }

    private Node existing(long inode) throws FuseException {
        Node node = nodes.get(inode);
        if (node == null) {
            throw new FuseException(Errno.ENOENT, "no inode " + inode);
        }
        return node;
    }

    private static Entry entry(Node node) {
        return new Entry(attr(node), TIMEOUT_SECONDS);
    }

    private static Attr attr(Node node) {
        long size = node.data != null ? node.data.size()
                : node.linkTarget != null ? node.linkTarget.length : 4096;
        return new Attr(node.inode, size, (size + 511) / 512, node.mtimeSeconds, MTIME_NANOS,
                node.mode, node.nlink.get(), node.uid, node.gid, node.rdev);
    }
}
