package io.nydus.daemon;

import io.nydus.fuse.FuseConnection;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.PosixException;
import io.nydus.posix.Stat;
import io.nydus.posix.UnixSockets;
import io.nydus.storage.config.RuntimeSettings;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The FUSE mount of a daemon, and its handover to a successor through a supervisor: a process
 * that listens on a socket and keeps the mount's {@code /dev/fuse} descriptor with the
 * daemon's states. While the supervisor has the descriptor, the kernel keeps the connection
 * when the daemon dies, and a daemon started with {@code --upgrade} takes the mount over.
 *
 * <p>A daemon sends its states to the supervisor on {@link #sendStates()}. The supervisor
 * listens first, and the daemon connects. A successor connects on {@link #takeover()}, receives
 * the states and descriptor, opens the images again in their Vfs slots, and serves from
 * {@link #start()} on.
 */
public final class FuseService implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FuseService.class);
    /** More than the states of thousands of images with their configurations. */
    private static final int MAX_STATES_BYTES = 64 << 20;
    /** How long a supervisor may take to send the states once it accepted the connection. */
    private static final Duration STATES_TIMEOUT = Duration.ofSeconds(30);
    /**
     * Slots a successor leaves unused after those of the states. Images mounted after the last
     * sendfd are not in the states, and the kernel may still cache their node ids, so their
     * slots must not go to new images. A successor never reuses a slot below the states' next
     * slot, so this covers up to this many such mounts in slots that the predecessor had not
     * used before.
     */
    static final int UNSENT_SLOTS = 64;
    private static final long FUSE_MAJOR = 10;
    private static final long FUSE_MINOR = 229;

    /** The successor's action on the requests that its predecessor read and never replied to. */
    public enum FailoverPolicy {
        /** Leave them: their callers wait until they are interrupted. */
        NONE,
        /** Ask the kernel to queue them again, so the successor replies to them. */
        RESEND;

        /** Parses upstream's names, "none" and "resend". */
        public static FailoverPolicy parse(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "none" -> NONE;
                case "resend" -> RESEND;
                default -> throw new IllegalArgumentException("failover policy '" + name
                        + "' is not known; use resend or none");
            };
        }
    }

    private final Daemon daemon;
    private final Path mountpoint;
    private final MountOptions options;
    private final Path supervisor;
    private final FailoverPolicy policy;
    private FuseSession session;
    private boolean handedOver;
    private final java.util.concurrent.atomic.AtomicBoolean takingOver =
            new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * @param supervisor the supervisor's socket, or null for a daemon that hands nothing over
     */
    public FuseService(Daemon daemon, Path mountpoint, MountOptions options, Path supervisor,
            FailoverPolicy policy) {
        this.daemon = daemon;
        this.mountpoint = mountpoint.toAbsolutePath().normalize();
        this.options = options;
        this.supervisor = supervisor;
        this.policy = policy;
        daemon.serveWith(this, supervisor);
    }

    /** Mounts the daemon's file system and serves it. */
    public synchronized void mount() throws IOException {
        requireNoSession("mount");
        session = FuseSession.mount(mountpoint, daemon.vfs(), options);
        daemon.running(mountpoint.toString(), session::inflight);
        watchUnmount(session);
    }

    /**
     * Sends the daemon's states and the mount's descriptor to the supervisor.
     *
     * @throws IllegalStateException if no supervisor was given or the daemon does not serve
     * @throws IOException naming the supervisor socket if it cannot be reached
     */
    public synchronized void sendStates() throws IOException {
        requireSupervisor("send its states");
        if (session == null || daemon.state() != Daemon.State.RUNNING) {
            throw new IllegalStateException("the daemon is " + daemon.state()
                    + "; it sends its states once it serves its mount");
        }
        byte[] states = states().toBytes();
        try (Fd socket = UnixSockets.connect(BytePath.of(supervisor))) {
            session.handOver(socket, states);
        } catch (PosixException e) {
            throw new IOException("cannot send the daemon's states to supervisor " + supervisor
                    + ": " + e.getMessage(), e);
        }
        handedOver = true;
        LOG.info("sent the states of {} ({} images, {} bytes) and its FUSE descriptor to"
                + " supervisor {}", mountpoint, daemon.mounts().size(), states.length,
                supervisor);
    }

    /** Returns whether the supervisor has this mount's descriptor. */
    public synchronized boolean handedOver() {
        return handedOver;
    }

    private DaemonStates states() {
        FuseConnection connection = session.connection();
        if (connection == null) {
            throw new IllegalStateException("the kernel has not initialized " + mountpoint
                    + " yet");
        }
        List<DaemonStates.Image> images = new ArrayList<>();
        for (Map.Entry<String, MountedImage> entry : daemon.mounts().entrySet()) {
            MountedImage image = entry.getValue();
            // The successor may run in another working directory.
            images.add(new DaemonStates.Image(entry.getKey(), daemon.slotOf(entry.getKey()),
                    image.bootstrap().toAbsolutePath(), image.config().json(),
                    daemon.settings().list(entry.getKey()), image.prefetchFiles()));
        }
        return new DaemonStates(mountpoint, daemon.isShared(), connection, images,
                daemon.nextSlot());
    }

    /**
     * Receives the states and descriptor from the supervisor and opens the images again. The
     * mount is served from {@link #start()} on.
     *
     * @throws IllegalStateException if no supervisor was given or the daemon is not in INIT
     * @throws IOException naming the supervisor or the image that cannot be restored; the
     *     daemon stays in INIT, so the takeover can be tried again
     */
    public void takeover() throws IOException {
        // A second request fails at once instead of waiting behind a stalled supervisor.
        if (!takingOver.compareAndSet(false, true)) {
            throw new IllegalStateException("a takeover of " + mountpoint + " is in progress");
        }
        try {
            takeoverOnce();
        } finally {
            takingOver.set(false);
        }
    }

    private synchronized void takeoverOnce() throws IOException {
        requireSupervisor("take a mount over");
        if (daemon.state() != Daemon.State.INIT || session != null) {
            throw new IllegalStateException("the daemon is " + daemon.state() + "; a takeover"
                    + " happens once, in state INIT, in a daemon started with --upgrade");
        }
        UnixSockets.Message message = receiveStates();
        try {
            DaemonStates states = parseStates(message);
            // Reserved first, so no slot that the kernel may still cache goes to a new image.
            daemon.reserveSlotsBelow(states.nextSlot() + UNSENT_SLOTS);
            restoreImages(states);
            session = FuseSession.adopt(mountpoint, message.descriptors().getFirst(),
                    states.connection(), daemon.vfs(), options);
        } catch (IOException | RuntimeException e) {
            message.closeDescriptors();
            closeImages();
            throw e;
        }
        daemon.ready(mountpoint.toString());
    }

    private UnixSockets.Message receiveStates() throws IOException {
        try (Fd socket = UnixSockets.connect(BytePath.of(supervisor))) {
            return UnixSockets.receive(socket, MAX_STATES_BYTES, STATES_TIMEOUT);
        } catch (PosixException e) {
            throw new IOException("cannot receive the daemon states from supervisor "
                    + supervisor + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses and checks the states. Their faults are the supervisor's, not the request's, so
     * they are reported as a conflict of states.
     */
    private DaemonStates parseStates(UnixSockets.Message message) {
        try {
            checkDescriptors(message);
            DaemonStates states = DaemonStates.parse("supervisor " + supervisor,
                    message.data());
            checkStates(states);
            return states;
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    private void checkDescriptors(UnixSockets.Message message) {
        if (message.descriptors().size() != 1) {
            throw new IllegalArgumentException("supervisor " + supervisor + " sent "
                    + message.descriptors().size() + " descriptors with the daemon states;"
                    + " a takeover needs exactly the one of the FUSE mount");
        }
        Stat stat;
        try {
            stat = message.descriptors().getFirst().fstat();
        } catch (PosixException e) {
            throw new IllegalArgumentException("supervisor " + supervisor + " sent a"
                    + " descriptor that cannot be examined: " + e.getMessage(), e);
        }
        if (stat.type() != io.nydus.posix.FileType.CHAR_DEVICE
                || stat.rdevMajor() != FUSE_MAJOR || stat.rdevMinor() != FUSE_MINOR) {
            throw new IllegalArgumentException("supervisor " + supervisor + " sent a"
                    + " descriptor of " + stat.type() + " " + stat.rdevMajor() + ":"
                    + stat.rdevMinor() + ", not of /dev/fuse (character device 10:229)");
        }
    }

    private void checkStates(DaemonStates states) {
        if (!states.mountpoint().equals(mountpoint)) {
            throw new IllegalArgumentException("supervisor " + supervisor + " has the mount"
                    + " at " + states.mountpoint() + ", but this daemon serves " + mountpoint);
        }
        if (states.shared() != daemon.isShared()) {
            throw new IllegalArgumentException("supervisor " + supervisor + " has a "
                    + (states.shared() ? "shared" : "single-image") + " mount; start this"
                    + " daemon " + (states.shared() ? "without --bootstrap" : "with --bootstrap"));
        }
    }

    private void restoreImages(DaemonStates states) throws IOException {
        for (DaemonStates.Image image : states.images()) {
            DaemonConfig config = DaemonConfig.parse("configuration of " + image.path()
                    + " from supervisor " + supervisor, image.config().toString());
            // The settings go first, as opening the image may fetch from the registry.
            image.settings().forEach((name, value) -> daemon.settings().set(image.path(),
                    RuntimeSettings.Key.of(name).orElseThrow(() -> new IllegalStateException(
                            "supervisor " + supervisor + " sent the unknown setting '" + name
                                    + "' of " + image.path())), value));
            daemon.restore(image.path(), image.slot(), image.bootstrap(), config,
                    image.prefetchFiles());
        }
    }

    private void closeImages() {
        for (String path : daemon.mounts().keySet()) {
            try {
                daemon.umount(path);
            } catch (IOException | RuntimeException e) {
                LOG.warn("closing restored image {} failed: {}", path, e.getMessage());
            }
        }
    }

    /**
     * Starts serving the mount that {@link #takeover()} restored and, with the resend policy,
     * has the kernel queue again the requests the predecessor left unanswered.
     */
    public synchronized void start() throws IOException {
        if (daemon.state() != Daemon.State.READY || session == null) {
            throw new IllegalStateException("the daemon is " + daemon.state()
                    + "; it starts serving after a takeover");
        }
        session.start(policy == FailoverPolicy.RESEND);
        daemon.running(mountpoint.toString(), session::inflight);
        watchUnmount(session);
    }

    /** Ends the daemon when the mount goes away, such as by a umount from outside. */
    private void watchUnmount(FuseSession watched) {
        Thread.ofPlatform().daemon().name("nydusd-unmount-watch").start(() -> {
            try {
                watched.awaitUnmount();
                if (!daemon.exitsForSuccessor()) {
                    LOG.info("{} was unmounted", mountpoint);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            daemon.requestExit();
        });
    }

    /**
     * Stops serving. The mount stays when the daemon exits for a successor and the supervisor
     * has the descriptor. Otherwise it is unmounted.
     */
    @Override
    public synchronized void close() throws IOException {
        if (session == null) {
            return;
        }
        if (daemon.exitsForSuccessor() && handedOver) {
            session.closeKeepingMount();
        } else {
            session.close();
        }
    }

    private void requireNoSession(String action) {
        if (session != null) {
            throw new IllegalStateException("cannot " + action + " " + mountpoint
                    + ": the daemon serves it already");
        }
    }

    private void requireSupervisor(String action) {
        if (supervisor == null) {
            throw new IllegalStateException("the daemon cannot " + action + " without a"
                    + " supervisor; start it with --supervisor SOCKET");
        }
    }
}
