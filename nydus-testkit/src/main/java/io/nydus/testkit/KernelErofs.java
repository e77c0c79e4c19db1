package io.nydus.testkit;

import io.nydus.posix.BytePath;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A kernel EROFS mount of an image, made with {@code mount(8)}, that {@link #close()} unmounts.
 *
 * <p>A single-file image is mounted with {@code mount -t erofs -o ro IMAGE DIR}, for which
 * mount sets up a loop device that the kernel frees on unmount. An image whose chunks live in
 * separate blob files gets one read-only loop device per blob, passed as {@code device=}
 * options in blob table order; {@link #close()} detaches them after the unmount.
 */
public final class KernelErofs implements AutoCloseable {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private final Path mountPoint;
    private final List<String> loopDevices;
    private boolean closed;

    private KernelErofs(Path mountPoint, List<String> loopDevices) {
        this.mountPoint = mountPoint;
        this.loopDevices = List.copyOf(loopDevices);
    }

    /**
     * Mounts the single-file EROFS {@code image} read-only at the existing directory
     * {@code mountPoint}.
     *
     * @throws CommandException if mount fails, with the kernel's complaint from standard error
     */
    public static KernelErofs mount(Path image, Path mountPoint) throws IOException {
        return mount(image, List.of(), mountPoint);
    }

    /**
     * Mounts the EROFS metadata image {@code bootstrap} whose data lives in {@code blobs}, in
     * the order of the image's device table.
     *
     * @throws CommandException if losetup or mount fails; loop devices set up so far are
     *     detached again
     */
    public static KernelErofs mount(Path bootstrap, List<Path> blobs, Path mountPoint)
            throws IOException {
        checkFile(bootstrap);
        if (!Files.isDirectory(mountPoint)) {
            throw new IOException("mount point " + mountPoint + " is not a directory");
        }
        List<String> devices = new ArrayList<>();
        try {
            for (Path blob : blobs) {
                devices.add(attachLoop(blob));
            }
            Commands.run(mountCommand(bootstrap, devices, mountPoint), TIMEOUT);
            return new KernelErofs(mountPoint.toAbsolutePath(), devices);
        } catch (IOException | RuntimeException e) {
            detachAll(devices, e);
            throw e;
        }
    }

    private static void checkFile(Path image) throws IOException {
        if (!Files.isRegularFile(image)) {
            throw new IOException("EROFS image " + image + " is not a regular file");
        }
    }

    private static String attachLoop(Path blob) throws IOException {
        checkFile(blob);
        List<String> command = List.of("losetup", "-f", "--show", "-r", blob.toString());
        return Commands.run(command, TIMEOUT).stdoutText().strip();
    }

    private static List<String> mountCommand(Path bootstrap, List<String> devices,
            Path mountPoint) {
        StringBuilder options = new StringBuilder("ro");
        for (String device : devices) {
            options.append(",device=").append(device);
        }
        return List.of("mount", "-t", "erofs", "-o", options.toString(), bootstrap.toString(),
                mountPoint.toString());
    }

    /** Returns the directory the image is mounted at. */
    public Path mountPoint() {
        return mountPoint;
    }

    /** Returns the mount point as bytes, for the calls of {@code io.nydus.posix}. */
    public BytePath mountPointBytes() {
        return BytePath.of(mountPoint);
    }

    /** Returns the loop devices set up for blobs, such as "/dev/loop3", in blob order. */
    public List<String> loopDevices() {
        return loopDevices;
    }

    /** Unmounts the image and detaches the blob loop devices; later calls do nothing. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Commands.run(List.of("umount", mountPoint.toString()), TIMEOUT);
        } catch (IOException | RuntimeException e) {
            detachAll(loopDevices, e);
            throw e;
        }
        IOException failure = new IOException("detaching loop devices of " + mountPoint
                + " failed");
        detachAll(loopDevices, failure);
        if (failure.getSuppressed().length > 0) {
            throw failure;
        }
    }

    private static void detachAll(List<String> devices, Exception failure) {
        for (String device : devices) {
            try {
                Commands.run(List.of("losetup", "-d", device), TIMEOUT);
            } catch (IOException e) {
                failure.addSuppressed(e);
            }
        }
    }

    @Override
    public String toString() {
        return "KernelErofs[" + mountPoint + (loopDevices.isEmpty() ? "" : ", " + loopDevices)
                + "]";
    }
}
