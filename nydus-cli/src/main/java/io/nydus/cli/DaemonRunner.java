package io.nydus.cli;

import io.nydus.daemon.ApiServer;
import io.nydus.daemon.Daemon;
import io.nydus.daemon.FuseService;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.posix.MountFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.Signals;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/** Serves a daemon over FUSE until it is unmounted, asked to exit, or the process is stopped. */
final class DaemonRunner {
    private static final Logger LOG = LoggerFactory.getLogger(DaemonRunner.class);
    private static final int MAX_STACKED_MOUNTS = 16;

    private DaemonRunner() {
    }

    /**
     * Makes SIGINT and SIGTERM stop the {@code command}'s daemon, unmounting first, even where
     * the parent left them ignored, as a shell does with SIGINT for its background jobs. The JVM
     * installs no handler for a signal that is ignored at its start, so the daemon would
     * otherwise keep running where upstream's stops.
     */
    static void stopOnIgnoredSignals(String command) throws PosixException {
        for (String name : List.of("INT", "TERM")) {
            Signal signal = new Signal(name);
            if (Signals.isIgnored(signal.getNumber())) {
                Signals.restoreDefault(signal.getNumber());
                // Exiting runs the shutdown hooks, as the JVM's own handler does.
                Signal.handle(signal, received -> System.exit(128 + received.getNumber()));
                LOG.info("SIG{} was ignored when {} started; it now stops the daemon", name,
                        command);
            }
        }
    }

    /**
     * The handover settings of a daemon: the supervisor socket (null for none), whether it
     * takes over a mount instead of mounting, and the policy for requests left without reply.
     */
    record Handover(Path supervisor, boolean upgrade, FuseService.FailoverPolicy policy) {

        static final Handover NONE = new Handover(null, false, FuseService.FailoverPolicy.RESEND);
    }

    /**
     * Mounts {@code daemon}'s file system at {@code mountpoint} (or, with
     * {@link Handover#upgrade()}, waits for the API to take a mount over), starts the API on
     * {@code apiSocket} when given, and blocks until the mount ends, the API's exit request, or
     * SIGTERM / Ctrl-C; then unmounts, unless the daemon exits for a successor.
     */
    static int serve(Daemon daemon, Path mountpoint, int fuseThreads, Path apiSocket,
            Handover handover) throws IOException, InterruptedException {
        MountOptions options = new MountOptions("nydusd", "nydusd", fuseThreads,
                MountOptions.DEFAULT_READ_AHEAD_KIB);
        CountDownLatch stopped = new CountDownLatch(1);
        // On SIGTERM or Ctrl-C the JVM exits once its hooks end, so the hook waits for the
        // unmount below to finish. Only the try block below counts the latch down, so nothing
        // that can throw may run between adding the hook and entering that block.
        Thread hook = Thread.ofPlatform().unstarted(() -> {
            daemon.requestExit();
            awaitQuietly(stopped);
        });
        Runtime.getRuntime().addShutdownHook(hook);
        try (FuseService fuse = new FuseService(daemon, mountpoint, options,
                handover.supervisor(), handover.policy())) {
            if (!handover.upgrade()) {
                fuse.mount();
            }
            // The API opens after the mount, so a client that reaches it finds the mount.
            try (ApiServer api = apiSocket == null ? null : ApiServer.start(apiSocket, daemon,
                    Version.current(), LogFile::level)) {
                if (handover.upgrade()) {
                    LOG.info("daemon {} waits for the takeover of {} from supervisor {}",
                            daemon.id(), mountpoint, handover.supervisor());
                }
                daemon.awaitExit();
            }
            LOG.info("daemon {} stopping{}", daemon.id(), daemon.exitsForSuccessor()
                    ? "; its mount stays for a successor" : "");
        } finally {
            stopped.countDown();
            removeHook(hook);
        }
        return 0;
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // The JVM is shutting down, and the hook is what stopped the daemon.
        }
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Detaches the mount left at {@code dir} by a daemon that was killed, where every access
     * fails with ENOTCONN, so that a restarted daemon can mount there again.
     */
    static void detachDeadMount(Path dir) throws IOException {
        // Daemons killed one after the other may leave several mounts stacked on one path.
        for (int i = 0; i < MAX_STACKED_MOUNTS; i++) {
            try {
                Posix.statfs(BytePath.of(dir));
                return;
            } catch (PosixException e) {
                if (e.errno() != Errno.ENOTCONN) {
                    return;
                }
                LOG.warn("{} is the mount of a daemon that is gone; detaching it", dir);
                Posix.umount2(BytePath.of(dir), MountFlags.MNT_DETACH);
            }
        }
    }
}
