package io.nydus.fuse;

import io.nydus.posix.BytePath;
import io.nydus.posix.Devices;
import io.nydus.posix.Errno;
import io.nydus.posix.Fd;
import io.nydus.posix.MountFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.Stat;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One FUSE mount served by this process: the {@code /dev/fuse} descriptor, the kernel mount and
 * the worker threads that reply to its requests.
 *
 * <p>{@link #mount} returns once the server has replied to the kernel's init request.
 * {@link #awaitUnmount()} blocks until the session ends, by an unmount from outside or by
 * {@link #close()}. A process may hold several sessions at once; each must be closed.
 *
 * <p>The session is the {@link FuseNotifier} of its file system, which receives it through
 * {@link FuseFileSystem#setNotifier} before the first request.
 *
 * <p>A close waits {@link #STOP_TIMEOUT} at most for the requests that workers are handling,
 * such as a read from a stalled backend. It then logs them and leaves them without reply.
 */
public final class FuseSession implements AutoCloseable, FuseNotifier {

    private static final Logger LOG = LoggerFactory.getLogger(FuseSession.class);

    private static final long MOUNT_FLAGS =
            MountFlags.MS_RDONLY | MountFlags.MS_NOSUID | MountFlags.MS_NODEV;
    /** How long a close waits for the workers to finish the requests they are handling. */
    public static final Duration STOP_TIMEOUT = Duration.ofSeconds(5);

    private final BytePath mountpoint;
    private final FuseDevice device;
    private final RequestHandler handler;
    private final int workerCount;
    private final List<Thread> workers = new ArrayList<>();
    private final List<Worker> workerLoops = new CopyOnWriteArrayList<>();
    private final CountDownLatch stopped;
    /** Opens when the last worker stops or a close ends, whichever comes first. */
    private final CountDownLatch ended = new CountDownLatch(1);
    private final Object closeLock = new Object();
    private volatile boolean unmountedByKernel;
    private boolean closed;
    /** Invalidations that the kernel has not returned from, guarded by {@code closeLock}. */
    private int invalidationsInFlight;
    /** The mount's device as "major:minor", known once the first stat of the mount returned. */
    private String deviceNumber;

    private FuseSession(BytePath mountpoint, FuseDevice device, RequestHandler handler,
            int workerCount) {
        this.mountpoint = mountpoint;
        this.device = device;
        this.handler = handler;
        this.workerCount = workerCount;
        this.stopped = new CountDownLatch(workerCount);
    }

    /**
     * Mounts {@code fileSystem} read-only at {@code mountpoint} and starts serving it.
     *
     * @throws IOException if {@code /dev/fuse} cannot be opened, mount(2) fails (the message
     *     names the mountpoint and errno) or the first stat of the new mount fails
     */
    public static FuseSession mount(Path mountpoint, FuseFileSystem fileSystem,
            MountOptions options) throws IOException {
        BytePath target = BytePath.of(mountpoint.toAbsolutePath().normalize());
        FuseDevice device = openDevice(target);
        try {
            Posix.mount(BytePath.of(options.fsName()), target, options.mountType(), MOUNT_FLAGS,
                    mountData(device.number()));
        } catch (PosixException e) {
            device.close(STOP_TIMEOUT);
            throw new IOException("Cannot mount FUSE file system at " + target + ": "
                    + e.description() + " (" + e.errnoName() + ")", e);
        }
        FuseSession session = new FuseSession(target, device,
                new RequestHandler(fileSystem, target.toString()), options.workers());
        fileSystem.setNotifier(session);
        // The file system may send invalidations from now on, which read the worker list.
        synchronized (session.closeLock) {
            session.startWorkers(options.workers());
        }
        session.finishMount(options);
        LOG.info("Mounted FUSE file system {} at {} with {} workers", options.fsName(), target,
                options.workers());
        return session;
    }

    /**
     * Takes over the mount at {@code mountpoint} that another process served through
     * {@code device}, whose init agreed on {@code connection}. No request is served until
     * {@link #start}, and nothing touches the mount before, since every access would wait for
     * a server.
     */
    public static FuseSession adopt(Path mountpoint, Fd device, FuseConnection connection,
            FuseFileSystem fileSystem, MountOptions options) throws IOException {
        BytePath target = BytePath.of(mountpoint.toAbsolutePath().normalize());
        FuseDevice adopted = FuseDevice.adopt(device);
        RequestHandler handler =
                RequestHandler.initialized(fileSystem, target.toString(), connection);
        LOG.info("Took over FUSE file system at {} (protocol {}.{})", target,
                connection.major(), connection.minor());
        FuseSession session = new FuseSession(target, adopted, handler, options.workers());
        fileSystem.setNotifier(session);
        return session;
    }

    /**
     * Starts serving a session from {@link #adopt}. With {@code resend}, the requests that the
     * previous server read and never replied to are queued again, so that callers it left
     * waiting get their replies.
     *
     * <p>The workers serve from here on, even if the first stat of the mount fails. That
     * failure is logged, and the session ends when the workers find the mount gone.
     */
    public void start(boolean resend) {
        synchronized (closeLock) {
            if (closed || !workers.isEmpty()) {
                throw new IllegalStateException("FUSE session at " + mountpoint
                        + " is already started or closed");
            }
            startWorkers(workerCount);
        }
        if (resend) {
            long result = device.notifyResend();
            if (result == 0) {
                LOG.info("Asked the kernel to resend the unanswered requests of {}",
                        mountpoint);
            } else {
                LOG.warn("The kernel did not resend the unanswered requests of {} ({}); callers"
                        + " waiting on the previous server keep waiting", mountpoint,
                        Errno.name((int) -result));
            }
        }
        try {
            Stat root = Posix.stat(mountpoint);
            synchronized (closeLock) {
                deviceNumber = Devices.major(root.dev()) + ":" + Devices.minor(root.dev());
            }
        } catch (PosixException e) {
            LOG.warn("FUSE file system at {} failed its first stat after the takeover: {}",
                    mountpoint, e.getMessage());
        }
    }

    /**
     * Sends {@code state} with this session's {@code /dev/fuse} descriptor over
     * {@code socket}. The receiver's copy keeps the connection alive after this process ends,
     * so a successor can {@link #adopt} it.
     */
    public void handOver(Fd socket, byte[] state) throws PosixException {
        device.sendTo(socket, state);
    }

    private static FuseDevice openDevice(BytePath target) throws IOException {
        try {
            return FuseDevice.open();
        } catch (PosixException e) {
            throw new IOException("Cannot mount FUSE file system at " + target + ": " + e
                    .getMessage(), e);
        }
    }

    private static String mountData(int fd) {
        return "fd=" + fd + ",rootmode=40000,user_id=0,group_id=0,allow_other,"
                + "default_permissions";
    }

    private void startWorkers(int count) {
        for (int i = 0; i < count; i++) {
            Worker worker = new Worker(device, handler, this::workerStopped,
                    mountpoint.toString());
            Thread thread = Thread.ofPlatform().daemon().name("fuse-" + i + " " + mountpoint)
                    .unstarted(worker);
            workerLoops.add(worker);
            workers.add(thread);
            thread.start();
        }
    }

    /** Waits for init through a stat of the root, then raises the read-ahead. */
    private void finishMount(MountOptions options) throws IOException {
        Stat root;
        try {
            root = Posix.stat(mountpoint);
        } catch (PosixException e) {
            close();
            throw new IOException("FUSE file system at " + mountpoint
                    + " did not answer after mounting: " + e.getMessage(), e);
        }
        String number = Devices.major(root.dev()) + ":" + Devices.minor(root.dev());
        synchronized (closeLock) {
            deviceNumber = number;
        }
        setReadAhead(number, options.readAheadKib());
    }

    /**
     * Sets the read-ahead of the mount's backing device. The kernel caps it at its own default
     * (128 KiB) during init, so only this setting lets 1 MiB reads arrive whole.
     */
    private void setReadAhead(String number, int readAheadKib) {
        Path file = Path.of("/sys/class/bdi", number, "read_ahead_kb");
        try {
            Files.writeString(file, Integer.toString(readAheadKib), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            LOG.warn("Cannot set read-ahead of FUSE mount {} in {}: {}", mountpoint, file,
                    e.toString());
        }
    }

    private void workerStopped(Worker.Outcome outcome) {
        if (outcome == Worker.Outcome.UNMOUNTED) {
            unmountedByKernel = true;
        }
        stopped.countDown();
        if (stopped.getCount() > 0) {
            return;
        }
        if (unmountedByKernel) {
            logDeviceEnd();
            handler.destroyFileSystem();
        } else if (outcome == Worker.Outcome.FAILED) {
            abortAfterFailure();
        }
        ended.countDown();
    }

    /** Logs why the device ended: an unmount, or an abort that leaves a dead mount behind. */
    private void logDeviceEnd() {
        boolean stillMounted;
        try {
            stillMounted = isMountedHere();
        } catch (IOException e) {
            LOG.warn("FUSE file system at {} ended, and the mount table cannot be read to tell"
                    + " an unmount from an abort: {}", mountpoint, e.toString());
            return;
        }
        boolean closing;
        synchronized (closeLock) {
            closing = closed;
        }
        if (stillMounted && !closing) {
            LOG.warn("FUSE connection of {} was aborted; the mount answers ENOTCONN until it is"
                    + " unmounted (umount {})", mountpoint, mountpoint);
        } else {
            LOG.info("FUSE file system at {} was unmounted", mountpoint);
        }
    }

    /**
     * Closes the device after the last worker failed, so that the kernel aborts the connection
     * and callers get ENOTCONN instead of waiting for replies that never come.
     */
    private void abortAfterFailure() {
        LOG.error("No FUSE worker is left for {}; aborting the connection", mountpoint);
        try {
            closeDevice();
        } catch (PosixException e) {
            LOG.error("Closing /dev/fuse for {} failed", mountpoint, e);
        }
        handler.destroyFileSystem();
    }

    /** Returns the absolute mount point. */
    public Path mountpoint() {
        return mountpoint.toPath();
    }

    /** Returns the requests that the workers are handling now, one at most per worker. */
    public List<InflightRequest> inflight() {
        List<InflightRequest> requests = new ArrayList<>();
        for (Worker worker : workerLoops) {
            InflightRequest request = worker.current();
            if (request != null) {
                requests.add(request);
            }
        }
        return requests;
    }

    @Override
    public boolean invalidateInode(long nodeId) {
        return sendInvalidation("inode " + nodeId,
                () -> device.notifyInvalInode(nodeId, 0, 0));
    }

    @Override
    public boolean invalidateEntry(long parent, byte[] name) {
        checkEntryName(name);
        return sendInvalidation("entry " + BytePath.escape(name) + " in inode " + parent,
                () -> device.notifyInvalEntry(parent, name));
    }

    private static void checkEntryName(byte[] name) {
        if (name.length == 0 || name.length > Protocol.NAME_MAX) {
            throw new IllegalArgumentException("entry name of " + name.length
                    + " bytes is outside 1.." + Protocol.NAME_MAX);
        }
        for (byte b : name) {
            if (b == '/' || b == 0) {
                throw new IllegalArgumentException("entry name " + BytePath.escape(name)
                        + " contains '/' or NUL");
            }
        }
    }

    /**
     * Sends one invalidation while the session serves. ENOENT from the kernel means that it
     * had nothing cached, which leaves nothing to drop.
     */
    private boolean sendInvalidation(String subject, LongSupplier send) {
        synchronized (closeLock) {
            if (!isServing()) {
                LOG.debug("Not invalidating {} at {}: the session does not serve", subject,
                        mountpoint);
                return false;
            }
            invalidationsInFlight++;
        }
        int errno;
        try {
            errno = (int) -send.getAsLong();
        } finally {
            synchronized (closeLock) {
                invalidationsInFlight--;
                closeLock.notifyAll();
            }
        }
        if (errno <= 0 || errno == Errno.ENOENT) {
            LOG.debug("Invalidated {} at {}", subject, mountpoint);
            return true;
        }
        if (errno == Errno.ENODEV) {
            LOG.debug("Not invalidating {} at {}: the session ended", subject, mountpoint);
        } else {
            LOG.warn("The kernel rejected the invalidation of {} at {}: {} ({})", subject,
                    mountpoint, Errno.description(errno), Errno.name(errno));
        }
        return false;
    }

    /**
     * Returns whether the workers serve the kernel's requests after its init and the session
     * has not ended.
     *
     * @throws IllegalStateException on a worker thread, whose invalidation could deadlock
     */
    private boolean isServing() {
        synchronized (closeLock) {
            if (workers.contains(Thread.currentThread())) {
                throw new IllegalStateException("a FUSE worker of " + mountpoint + " must not"
                        + " send invalidations, since the kernel may wait for its reply while"
                        + " holding the locks they need");
            }
            return !closed && !workers.isEmpty() && handler.connection() != null
                    && ended.getCount() > 0;
        }
    }

    /** Returns what the kernel and this server agreed on in init. */
    public FuseConnection connection() {
        return handler.connection();
    }

    /**
     * Blocks until the session ends: the kernel unmounted the file system (umount from
     * outside), {@link #close()} ran, or every worker stopped on an error, which is logged.
     * Returns at once when the session has ended already.
     */
    public void awaitUnmount() throws InterruptedException {
        ended.await();
    }

    /**
     * Unmounts the file system, stops the workers and closes the device. A busy mount is
     * detached lazily, and its open files then fail because closing the device aborts the
     * connection. Requests that the workers do not finish within {@link #STOP_TIMEOUT} are
     * logged and get no reply, so their callers fail with the aborted connection. Later calls
     * do nothing.
     *
     * @throws IOException if umount2 fails other than with EBUSY; the workers are stopped and
     *     the device closed all the same, which leaves a mount that fails with ENOTCONN
     */
    @Override
    public void close() throws IOException {
        synchronized (closeLock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        awaitInvalidations();
        IOException unmountFailure = null;
        try {
            unmount();
        } catch (IOException e) {
            unmountFailure = e;
        }
        try {
            device.wake();
            stopWorkers();
        } finally {
            try {
                closeDevice();
            } finally {
                handler.destroyFileSystem();
                ended.countDown();
            }
        }
        if (unmountFailure != null) {
            throw unmountFailure;
        }
        LOG.info("Closed FUSE session at {}", mountpoint);
    }

    /**
     * Stops the workers once their requests have replies and closes this process's device
     * descriptor, but leaves the mount: another process that has the descriptor keeps the
     * connection, and its requests wait for a successor. Requests that the workers do not
     * finish within {@link #STOP_TIMEOUT} are logged and left to the successor. Later calls and
     * {@link #close()} do nothing.
     */
    public void closeKeepingMount() throws IOException {
        synchronized (closeLock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        awaitInvalidations();
        try {
            device.wake();
            stopWorkers();
        } finally {
            try {
                closeDevice();
            } finally {
                ended.countDown();
            }
        }
        LOG.info("Stopped serving FUSE file system at {}; the mount stays for a successor",
                mountpoint);
    }

    /** Returns how many invalidations the kernel has not returned from yet. */
    int invalidationsInFlight() {
        synchronized (closeLock) {
            return invalidationsInFlight;
        }
    }

    /**
     * Waits up to {@link #STOP_TIMEOUT}, while the workers still serve, for the invalidations
     * that the kernel has not returned from. The kernel may hold one until a worker replies to
     * a request in the same directory. Once the workers stop, no reply would come, so the
     * sending thread and that request would wait forever and the device could not be
     * released. If one still waits, the connection is aborted through the FUSE control file
     * system when it is mounted, which fails the request and frees the kernel.
     */
    private void awaitInvalidations() {
        long deadline = System.nanoTime() + STOP_TIMEOUT.toNanos();
        synchronized (closeLock) {
            while (invalidationsInFlight > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                try {
                    closeLock.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (invalidationsInFlight == 0) {
                return;
            }
        }
        abortConnection();
    }

    /**
     * Aborts the kernel's connection, which fails every request that waits for a reply.
     */
    private void abortConnection() {
        String number;
        synchronized (closeLock) {
            number = deviceNumber;
        }
        Path abort = number == null ? null : controlFile(number, "abort");
        if (abort == null || !Files.isWritable(abort)) {
            LOG.error("An invalidation at {} still waits in the kernel for a request that the"
                    + " workers did not answer within {} s, and the FUSE control file system is"
                    + " not mounted; the process may not exit until the connection is aborted"
                    + " (mount -t fusectl none /sys/fs/fuse/connections, then write 1 to the"
                    + " connection's abort file)", mountpoint, STOP_TIMEOUT.toSeconds());
            return;
        }
        try {
            Files.writeString(abort, "1");
            LOG.warn("Aborted the FUSE connection of {} ({}): an invalidation still waited in"
                    + " the kernel after {} s", mountpoint, abort, STOP_TIMEOUT.toSeconds());
        } catch (IOException e) {
            LOG.error("Cannot abort the FUSE connection of {} through {}: {}", mountpoint, abort,
                    e.getMessage());
        }
    }

    /**
     * Returns the file {@code name} of the connection with device number "MAJOR:MINOR" in the
     * FUSE control file system, whose directories are named by the kernel's encoding of it.
     */
    static Path controlFile(String deviceNumber, String name) {
        String[] parts = deviceNumber.split(":");
        long kernelDevice = (Long.parseLong(parts[0]) << 20) | Long.parseLong(parts[1]);
        return Path.of("/sys/fs/fuse/connections", Long.toString(kernelDevice), name);
    }

    private void unmount() throws IOException {
        // Not the workers' view: they also see the device end when the connection is aborted,
        // which leaves the mount in place.
        if (!isMountedHere()) {
            return;
        }
        try {
            Posix.umount2(mountpoint, 0);
        } catch (PosixException e) {
            if (e.is(Errno.EINVAL)) {
                // Unmounted from outside after the check above.
                return;
            }
            if (!e.is(Errno.EBUSY)) {
                throw new IOException("Cannot unmount FUSE file system at " + mountpoint + ": "
                        + e.description() + " (" + e.errnoName() + ")", e);
            }
            LOG.warn("FUSE file system at {} is busy, so it is detached lazily", mountpoint);
            Posix.umount2(mountpoint, MountFlags.MNT_DETACH);
        }
    }

    /**
     * Returns whether this session's mount is still attached at the mount point. Before the
     * device number is known (a failed start), the mount counts as attached.
     */
    private boolean isMountedHere() throws IOException {
        String number;
        synchronized (closeLock) {
            number = deviceNumber;
        }
        return number == null || MountTable.isMounted(number, mountpoint.bytes());
    }

    /**
     * Waits up to {@link #STOP_TIMEOUT} for the woken workers to end, then logs the requests
     * that are still being handled. Their workers go on, and their late replies are dropped
     * because the device is closed by then.
     */
    private void stopWorkers() throws IOException {
        if (joinWorkers(STOP_TIMEOUT)) {
            return;
        }
        List<InflightRequest> left = inflight();
        LOG.warn("FUSE workers of {} did not stop within {} s; leaving {} requests without a"
                + " reply: {}", mountpoint, STOP_TIMEOUT.toSeconds(), left.size(),
                describe(left));
    }

    private boolean joinWorkers(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            for (Thread worker : workers) {
                if (!worker.join(Duration.ofNanos(deadline - System.nanoTime()))) {
                    return false;
                }
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("Interrupted while stopping the FUSE workers of " + mountpoint,
                    e);
        }
    }

    /** Returns requests as "READ of inode 5 (request 12, started 2025-01-01T00:00:00Z)". */
    private static String describe(List<InflightRequest> requests) {
        List<String> lines = new ArrayList<>();
        for (InflightRequest request : requests) {
            lines.add(Protocol.opcodeName(request.opcode()) + " of inode " + request.nodeId()
                    + " (request " + request.unique() + ", started "
                    + Instant.ofEpochSecond(request.startedEpochSecond()) + ")");
        }
        return String.join(", ", lines);
    }

    /**
     * Closes the device. A call on it that does not end within {@link #STOP_TIMEOUT} leaves it
     * open, which is logged.
     */
    private void closeDevice() throws PosixException {
        if (!device.close(STOP_TIMEOUT)) {
            LOG.error("A call on /dev/fuse for {} did not end within {} s, so the descriptor"
                    + " stays open until the process exits", mountpoint,
                    STOP_TIMEOUT.toSeconds());
        }
    }

    @Override
    public String toString() {
        return "FuseSession[" + mountpoint + "]";
    }
}
