package io.nydus.nydusify;

import io.nydus.builder.ExitCleanup;
import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.posix.MountFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A read-only overlayfs mount of directories that sit side by side in one parent directory.
 *
 * <p>The kernel takes mount options of at most one page (4096 bytes), so {@code mount} runs
 * in that parent directory and names each lower directory relative to it, which keeps each
 * name short. A mount that is still active when the JVM stops (SIGTERM, Ctrl-C) is detached
 * by a shutdown hook, which then removes its mount point and, once empty, the mount point's
 * parent directory.
 */
final class OverlayMount implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OverlayMount.class);
    /**
     * The kernel's limit on the lower directories of one overlayfs mount: Linux 6.18 rejects
     * 501 with "too many lower directories, limit is 500".
     */
    static final int MAX_LOWER_DIRS = 500;
    /** The kernel copies mount options into one page, so longer options are rejected. */
    private static final int MAX_OPTIONS_BYTES = 4095;
    private static final long MOUNT_TIMEOUT_SECONDS = 60;
    private static final String SOURCE_NAME = "nydusify-check";
    private static final Set<BytePath> ACTIVE = ConcurrentHashMap.newKeySet();

    private static final boolean HOOK_ADDED = addHook();

    private final BytePath mountPoint;
    private boolean mounted;

    private OverlayMount(BytePath mountPoint) {
        this.mountPoint = mountPoint;
    }

    /**
     * Mounts {@code lowerNames}, directories in {@code parent} listed top layer first, read-only
     * on the existing empty directory {@code mountPoint}.
     *
     * @throws IOException if there are more directories or longer options than the kernel
     *     takes, or {@code mount} fails, with its message
     */
    static OverlayMount mount(Path parent, List<String> lowerNames, Path mountPoint)
            throws IOException {
        if (lowerNames.size() < 2 || lowerNames.size() > MAX_LOWER_DIRS) {
            throw new IOException("cannot mount " + lowerNames.size() + " directories as one"
                    + " overlay: overlayfs takes 2 to " + MAX_LOWER_DIRS + " lower directories");
        }
        String options = "ro,lowerdir=" + String.join(":", lowerNames);
        if (options.getBytes(StandardCharsets.UTF_8).length > MAX_OPTIONS_BYTES) {
            throw new IOException("cannot mount " + lowerNames.size() + " directories as one"
                    + " overlay: the options take more than " + MAX_OPTIONS_BYTES + " bytes");
        }
        if (!HOOK_ADDED) {
            throw new IOException("not mounting the overlay reference at " + mountPoint
                    + ": the JVM is stopping");
        }
        ExitCleanup.requireRunning("an overlay mount at " + mountPoint);
        OverlayMount result = new OverlayMount(BytePath.of(mountPoint));
        ACTIVE.add(result.mountPoint);
        try {
            run(parent, List.of("mount", "-t", "overlay", "-o", options, SOURCE_NAME,
                    mountPoint.toString()));
        } catch (IOException e) {
            ACTIVE.remove(result.mountPoint);
            throw e;
        }
        result.mounted = true;
        return result;
    }

    BytePath mountPoint() {
        return mountPoint;
    }

    /** Unmounts; if the mount is busy, detaches it so that it goes once no longer used. */
    @Override
    public void close() throws IOException {
        if (!mounted) {
            return;
        }
        try {
            Posix.umount2(mountPoint, 0);
        } catch (PosixException e) {
            if (e.errno() != Errno.EBUSY) {
                throw new IOException("cannot unmount the overlay reference at " + mountPoint
                        + ": " + e.getMessage(), e);
            }
            LOG.warn("overlay reference at {} is busy, detaching it", mountPoint);
            Posix.umount2(mountPoint, MountFlags.MNT_DETACH);
        }
        mounted = false;
        ACTIVE.remove(mountPoint);
    }

    private static void run(Path directory, List<String> argv) throws IOException {
        Process process = new ProcessBuilder(argv).directory(directory.toFile())
                .redirectErrorStream(true).start();
        String output;
        try {
            if (!process.waitFor(MOUNT_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException(String.join(" ", argv) + " did not finish within "
                        + MOUNT_TIMEOUT_SECONDS + " s");
            }
            output = new String(process.getInputStream().readAllBytes(),
                    StandardCharsets.UTF_8).strip();
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + argv.getFirst(), e);
        }
        if (process.exitValue() != 0) {
            throw new IOException(String.join(" ", argv) + " in " + directory + " failed: "
                    + output);
        }
    }

    private static boolean addHook() {
        try {
            Runtime.getRuntime().addShutdownHook(new Thread(OverlayMount::detachAll,
                    "overlay-unmount"));
            return true;
        } catch (IllegalStateException e) {
            // First used while the JVM stops: nothing may be mounted from now on.
            return false;
        }
    }

    private static void detachAll() {
        List<BytePath> left = new ArrayList<>(ACTIVE);
        for (BytePath mountPoint : left) {
            try {
                Posix.umount2(mountPoint, MountFlags.MNT_DETACH);
                Posix.rmdir(mountPoint);
                LOG.info("detached the overlay reference at {} at exit", mountPoint);
            } catch (PosixException e) {
                LOG.warn("could not detach the overlay reference at {}: {}", mountPoint,
                        e.getMessage());
                continue;
            }
            // The mount points of one reference share a directory of their own.
            try {
                Posix.rmdir(mountPoint.parent().orElseThrow());
            } catch (PosixException e) {
                LOG.debug("kept {}: {}", mountPoint.parent().orElseThrow(), e.getMessage());
            }
        }
    }
}
