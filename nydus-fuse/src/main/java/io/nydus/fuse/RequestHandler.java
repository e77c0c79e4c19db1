package io.nydus.fuse;

import io.nydus.fuse.Request.MalformedRequestException;
import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decodes each request, calls the {@link FuseFileSystem} and encodes its reply. Shared by all
 * workers of a session; the request and reply buffers belong to the calling worker.
 *
 * <p>A {@link FuseException} becomes {@code -errno}. Any other exception becomes EIO and is
 * logged with the opcode and inode. A request that breaks the protocol gets EINVAL.
 */
final class RequestHandler {

    private static final Logger LOG = LoggerFactory.getLogger(RequestHandler.class);

    /** Failures logged with their stack trace before only every 1000th one is. */
    private static final long FAILURES_LOGGED_IN_FULL = 100;
    private static final int O_ACCMODE = 3;
    private static final int E2BIG = 7;
    private static final int XATTR_SIZE_MAX = 65536;

    private final FuseFileSystem fileSystem;
    private final String mountpoint;
    private final AtomicBoolean destroyed = new AtomicBoolean();
    private final AtomicLong failures = new AtomicLong();
    private volatile FuseConnection connection;

    RequestHandler(FuseFileSystem fileSystem, String mountpoint) {
        this.fileSystem = fileSystem;
        this.mountpoint = mountpoint;
    }

    /**
     * Returns a handler for a connection whose init another process replied to with
     * {@code agreed}. The kernel sends no second init.
     */
    static RequestHandler initialized(FuseFileSystem fileSystem, String mountpoint,
            FuseConnection agreed) {
        RequestHandler handler = new RequestHandler(fileSystem, mountpoint);
        handler.connection = agreed;
        fileSystem.init(agreed);
        return handler;
    }

    /** Returns what init agreed on, or null before the kernel's init request. */
    FuseConnection connection() {
        return connection;
    }

    /** Calls {@link FuseFileSystem#destroy()} unless it was called already. */
    void destroyFileSystem() {
        if (destroyed.compareAndSet(false, true)) {
            try {
                fileSystem.destroy();
            } catch (RuntimeException e) {
                LOG.error("FUSE file system at {} failed in destroy", mountpoint, e);
            }
        }
    }

    /** Handles one parsed request and sends its reply, if its opcode has one. */
    void handle(Request request, Reply reply) {
        int opcode = request.opcode();
        reply.start(request.unique(), opcode);
        if (opcode == Protocol.FORGET || opcode == Protocol.BATCH_FORGET
                || opcode == Protocol.INTERRUPT) {
            handleWithoutReply(request);
            return;
        }
        try {
            dispatch(request, reply);
        } catch (FuseException e) {
            reply.sendError(e.errno());
        } catch (MalformedRequestException e) {
            rejectMalformed(request, reply, e);
        } catch (RuntimeException | StackOverflowError e) {
            logFailure(request, e);
            reply.sendError(Errno.EIO);
        } catch (VirtualMachineError e) {
            // The JVM itself failed, as when out of memory, so the worker stops. The caller
            // gets its reply first; without one it would wait until the mount ends.
            reply.sendError(Errno.EIO);
            throw e;
        } catch (Error e) {
            // A linkage or assertion error fails this request only, as an exception does, so
            // that a defect in one path leaves every other file served.
            logFailure(request, e);
            reply.sendError(Errno.EIO);
        }
    }

    /** Logs a request that could not be parsed and replies EINVAL. */
    void rejectMalformed(Request request, Reply reply, MalformedRequestException e) {
        LOG.warn("Invalid FUSE {} request {} on inode {} at {}: {}",
                Protocol.opcodeName(request.opcode()), request.unique(), request.nodeId(),
                mountpoint, e.getMessage());
        reply.start(request.unique(), request.opcode());
        reply.sendError(Errno.EINVAL);
    }

    private void dispatch(Request request, Reply reply)
            throws FuseException, MalformedRequestException {
        long inode = request.nodeId();
        switch (request.opcode()) {
            case Protocol.INIT -> init(request, reply);
            case Protocol.LOOKUP -> lookup(request, reply);
            case Protocol.GETATTR -> getattr(inode, reply);
            case Protocol.READLINK -> readlink(inode, reply);
            case Protocol.OPEN -> open(request, reply);
            case Protocol.READ -> read(request, reply);
            case Protocol.RELEASE -> {
                fileSystem.release(inode, request.longAt(0));
                reply.send(0);
            }
            case Protocol.OPENDIR -> opendir(inode, reply);
            case Protocol.READDIR -> readdir(request, reply, false);
            case Protocol.READDIRPLUS -> readdir(request, reply, true);
            case Protocol.RELEASEDIR -> {
                fileSystem.releasedir(inode, request.longAt(0));
                reply.send(0);
            }
            case Protocol.STATFS -> statfs(inode, reply);
            case Protocol.GETXATTR -> getxattr(request, reply);
            case Protocol.LISTXATTR -> listxattr(request, reply);
            case Protocol.ACCESS -> {
                fileSystem.access(inode, request.intAt(0));
                reply.send(0);
            }
            // Nothing is ever written, so there is nothing to flush or sync.
            case Protocol.FLUSH, Protocol.FSYNC, Protocol.FSYNCDIR, Protocol.SYNCFS ->
                    reply.send(0);
            case Protocol.DESTROY -> {
                destroyFileSystem();
                reply.send(0);
            }
            default -> reply.sendError(Protocol.isWrite(request.opcode())
                    ? Errno.EROFS : Errno.ENOSYS);
        }
    }

    private void handleWithoutReply(Request request) {
        try {
            switch (request.opcode()) {
                case Protocol.FORGET -> fileSystem.forget(request.nodeId(), request.longAt(0));
                case Protocol.BATCH_FORGET -> batchForget(request);
                // No request waits for anything, so an interrupt has nothing to cancel.
                default -> { }
            }
        } catch (MalformedRequestException e) {
            LOG.warn("Invalid FUSE {} request {} at {}: {}", Protocol.opcodeName(request.opcode()),
                    request.unique(), mountpoint, e.getMessage());
        } catch (RuntimeException e) {
            logFailure(request, e);
        }
    }

    private void batchForget(Request request) throws MalformedRequestException {
        long count = Integer.toUnsignedLong(request.intAt(0));
        if (8 + count * Protocol.FORGET_ONE_SIZE > request.bodySize()) {
            throw new MalformedRequestException("BATCH_FORGET count " + count
                    + " exceeds the body of " + request.bodySize() + " bytes");
        }
        long[] inodes = new long[(int) count];
        long[] counts = new long[(int) count];
        for (int i = 0; i < count; i++) {
            int offset = 8 + i * Protocol.FORGET_ONE_SIZE;
            inodes[i] = request.longAt(offset);
            counts[i] = request.longAt(offset + 8);
        }
        fileSystem.batchForget(inodes, counts);
    }

    private void init(Request request, Reply reply) throws MalformedRequestException {
        int major = request.intAt(0);
        int minor = request.intAt(4);
        int kernelFlags = request.intAt(12);
        MemorySegment out = reply.payload().asSlice(0, Protocol.INIT_OUT_SIZE);
        out.fill((byte) 0);
        if (major > Protocol.KERNEL_MAJOR) {
            // The kernel sends init again with the major version of this reply.
            out.set(Encoding.INT, 0, Protocol.KERNEL_MAJOR);
            out.set(Encoding.INT, 4, Protocol.MAX_MINOR);
            reply.send(Protocol.INIT_OUT_SIZE);
            return;
        }
        if (major < Protocol.KERNEL_MAJOR || minor < Protocol.MIN_MINOR) {
            LOG.error("FUSE at {}: kernel protocol {}.{} is older than the 7.{} this server needs",
                    mountpoint, major, minor, Protocol.MIN_MINOR);
            reply.sendError(Protocol.EPROTO);
            return;
        }
        int agreedMinor = Math.min(minor, Protocol.MAX_MINOR);
        int flags = kernelFlags & Protocol.WANTED_FLAGS;
        out.set(Encoding.INT, 0, Protocol.KERNEL_MAJOR);
        out.set(Encoding.INT, 4, agreedMinor);
        out.set(Encoding.INT, 8, Protocol.MAX_READAHEAD);
        out.set(Encoding.INT, 12, flags);
        out.set(Encoding.SHORT, 16, (short) Protocol.MAX_BACKGROUND);
        out.set(Encoding.SHORT, 18, (short) Protocol.CONGESTION_THRESHOLD);
        out.set(Encoding.INT, 20, Protocol.MAX_WRITE);
        out.set(Encoding.INT, 24, 1);
        out.set(Encoding.SHORT, 28, (short) Protocol.MAX_PAGES);
        int maxRead = (flags & Protocol.FLAG_MAX_PAGES) != 0 ? Protocol.MAX_READ : 32 * 4096;
        FuseConnection agreed =
                new FuseConnection(Protocol.KERNEL_MAJOR, agreedMinor, maxRead, Protocol.MAX_WRITE);
        // Set before the reply: the reply lets the kernel finish the mount, and the caller of
        // FuseSession.mount may ask for the connection as soon as a stat of the root returns.
        connection = agreed;
        reply.send(Protocol.INIT_OUT_SIZE);

        LOG.debug("FUSE at {}: kernel {}.{} offers flags {}, agreed on 7.{} with flags {}",
                mountpoint, major, minor, Integer.toHexString(kernelFlags), agreedMinor,
                Integer.toHexString(flags));
        try {
            fileSystem.init(agreed);
        } catch (RuntimeException e) {
            // The init reply is out already, so a second reply would be rejected.
            LOG.error("FUSE file system at {} failed in init", mountpoint, e);
        }
    }

    private void lookup(Request request, Reply reply)
            throws FuseException, MalformedRequestException {
        byte[] name = request.nameAt(0);
        // The kernel passes names up to 1024 bytes to FUSE; no entry here is longer than 255.
        if (name.length > Protocol.NAME_MAX) {
            fileSystem.lookupRejected(request.nodeId());
            throw new FuseException(Errno.ENAMETOOLONG, "name of " + name.length + " bytes");
        }
        Entry entry;
        try {
            entry = fileSystem.lookup(request.nodeId(), name);
        } catch (FuseException e) {
            double negativeTimeout = fileSystem.negativeTimeoutSeconds();
            if (e.errno() != Errno.ENOENT || !(negativeTimeout > 0)) {
                throw e;
            }
            sendNegativeEntry(reply, negativeTimeout);
            return;
        }
        sendEntry(reply, entry);
    }

    /** Sends an entry with node id 0, which the kernel caches as absent for the timeout. */
    private static void sendNegativeEntry(Reply reply, double timeoutSeconds) {
        MemorySegment out = reply.payload().asSlice(0, Protocol.ENTRY_OUT_SIZE);
        out.fill((byte) 0);
        Encoding.writeTimeout(out, 16, 32, timeoutSeconds);
        reply.send(Protocol.ENTRY_OUT_SIZE);
    }

    private void getattr(long inode, Reply reply) throws FuseException {
        Attr attr = fileSystem.getattr(inode);
        Encoding.writeAttrOut(reply.payload(), attr, fileSystem.attrTimeoutSeconds());
        reply.send(Protocol.ATTR_OUT_SIZE);
    }

    private void sendEntry(Reply reply, Entry entry) {
        Encoding.writeEntry(reply.payload(), 0, entry);
        reply.send(Protocol.ENTRY_OUT_SIZE);
    }

    private void readlink(long inode, Reply reply) throws FuseException {
        byte[] target = fileSystem.readlink(inode);
        if (target.length == 0 || target.length > Protocol.MAX_LINK_TARGET) {
            throw new IllegalStateException("symlink target of " + target.length
                    + " bytes is outside 1.." + Protocol.MAX_LINK_TARGET);
        }
        reply.send(target);
    }

    private void open(Request request, Reply reply)
            throws FuseException, MalformedRequestException {
        int flags = request.intAt(0);
        if ((flags & O_ACCMODE) != 0) {
            fileSystem.openRejected(request.nodeId());
            throw new FuseException(Errno.EROFS, "open for writing");
        }
        // The image never changes, so cached pages stay valid across opens and closes.
        sendOpen(reply, fileSystem.open(request.nodeId(), flags),
                Protocol.FOPEN_KEEP_CACHE | Protocol.FOPEN_NOFLUSH);
    }

    /**
     * Opens a directory. Without FOPEN_KEEP_CACHE the kernel drops the listing it cached at
     * each open, and without FOPEN_CACHE_DIR it caches none.
     */
    private void opendir(long inode, Reply reply) throws FuseException {
        long handle = fileSystem.opendir(inode);
        int openFlags = fileSystem.isListingCacheable(inode)
                ? Protocol.FOPEN_KEEP_CACHE | Protocol.FOPEN_CACHE_DIR : 0;
        sendOpen(reply, handle, openFlags);
    }

    private void sendOpen(Reply reply, long handle, int openFlags) {
        MemorySegment out = reply.payload();
        out.set(Encoding.LONG, 0, handle);
        out.set(Encoding.INT, 8, openFlags);
        out.set(Encoding.INT, 12, 0);
        reply.send(Protocol.OPEN_OUT_SIZE);
    }

    private void read(Request request, Reply reply)
            throws FuseException, MalformedRequestException {
        long handle = request.longAt(0);
        long offset = request.longAt(8);
        long size = Math.min(Integer.toUnsignedLong(request.intAt(16)),
                reply.payload().byteSize());
        if (offset < 0) {
            throw new MalformedRequestException("READ offset " + offset + " is negative");
        }
        MemorySegment target = reply.payload().asSlice(0, size);
        int count = fileSystem.read(request.nodeId(), handle, offset, target);
        if (count < 0 || count > size) {
            throw new IllegalStateException("read returned " + count + " for a buffer of "
                    + size + " bytes at offset " + offset);
        }
        reply.send(count);
    }

    private void readdir(Request request, Reply reply, boolean plus)
            throws FuseException, MalformedRequestException {
        long handle = request.longAt(0);
        long offset = request.longAt(8);
        long size = Integer.toUnsignedLong(request.intAt(16));
        DirectoryReply listing = new DirectoryReply(reply.payload(), size, plus);
        try {
            fileSystem.readdir(request.nodeId(), handle, offset, listing);
        } catch (FuseException e) {
            // The file system counts each readdirplus entry as a lookup, so the entries listed
            // so far must reach the kernel. The next request from their offset fails again.
            if (listing.count() == 0) {
                throw e;
            }
        }
        reply.send(listing.length());
    }

    private void statfs(long inode, Reply reply) throws FuseException {
        StatFs stat = fileSystem.statfs(inode);
        MemorySegment out = reply.payload().asSlice(0, Protocol.STATFS_OUT_SIZE);
        out.fill((byte) 0);
        out.set(Encoding.LONG, 0, stat.blocks());
        out.set(Encoding.LONG, 24, stat.files());
        out.set(Encoding.INT, 40, stat.blockSize());
        out.set(Encoding.INT, 44, stat.nameMax());
        out.set(Encoding.INT, 48, stat.blockSize());
        reply.send(Protocol.STATFS_OUT_SIZE);
    }

    private void getxattr(Request request, Reply reply)
            throws FuseException, MalformedRequestException {
        long size = Integer.toUnsignedLong(request.intAt(0));
        byte[] name = request.nameAt(8);
        sendSized(reply, size, fileSystem.getxattr(request.nodeId(), name, size));
    }

    private void listxattr(Request request, Reply reply)
            throws FuseException, MalformedRequestException {
        long size = Integer.toUnsignedLong(request.intAt(0));
        List<byte[]> names = TrustedXattrAccess.filter(fileSystem.listxattr(request.nodeId()),
                request.uid());
        sendSized(reply, size, joinNames(names));
    }

    /**
     * Sends {@code value} the way getxattr and listxattr reply: its size alone when the
     * request's size is 0, ERANGE when the value does not fit, else the value.
     */
    private static void sendSized(Reply reply, long size, byte[] value) throws FuseException {
        if (value.length > XATTR_SIZE_MAX) {
            throw new FuseException(E2BIG, "xattr data of " + value.length + " bytes");
        }
        if (size == 0) {
            MemorySegment out = reply.payload();
            out.set(Encoding.INT, 0, value.length);
            out.set(Encoding.INT, 4, 0);
            reply.send(Protocol.GETXATTR_OUT_SIZE);
        } else {
            reply.send(FuseFileSystem.requireFits(value, size));
        }
    }

    /** Returns the names, each followed by a NUL, as listxattr(2) returns them. */
    private static byte[] joinNames(List<byte[]> names) {
        int total = 0;
        for (byte[] name : names) {
            checkXattrName(name);
            total += name.length + 1;
        }
        byte[] joined = new byte[total];
        int position = 0;
        for (byte[] name : names) {
            System.arraycopy(name, 0, joined, position, name.length);
            position += name.length + 1;
        }
        return joined;
    }

    private static void checkXattrName(byte[] name) {
        if (name.length == 0) {
            throw new IllegalStateException("listxattr returned an empty name");
        }
        for (byte b : name) {
            if (b == 0) {
                throw new IllegalStateException("listxattr returned name "
                        + BytePath.escape(name) + " with a NUL byte");
            }
        }
    }

    private void logFailure(Request request, Throwable e) {
        long count = failures.incrementAndGet();
        String opcode = Protocol.opcodeName(request.opcode());
        if (count <= FAILURES_LOGGED_IN_FULL) {
            LOG.error("FUSE file system at {} failed in {} on inode {}; replying EIO", mountpoint,
                    opcode, request.nodeId(), e);
        } else if (count % 1000 == 0) {
            LOG.error("FUSE file system at {} failed in {} on inode {}, failure {}: {}",
                    mountpoint, opcode, request.nodeId(), count, e.toString());
        }
    }
}
