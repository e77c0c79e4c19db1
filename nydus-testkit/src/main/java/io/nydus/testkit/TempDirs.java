package io.nydus.testkit;

import io.nydus.posix.BytePath;
import io.nydus.posix.FileTrees;
import io.nydus.posix.MountFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.Errno;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * Temporary directories on a disk file system, and their removal.
 *
 * <p>Kernel EROFS mounts of image files and sparse-file checks need a disk file system, so a
 * tmpfs {@code java.io.tmpdir} is replaced by {@code /var/tmp}, or where that is in memory too,
 * by {@code target/tmp} below the working directory, which is the module directory under Maven.
 * Removal unmounts everything below the directory first, detaches loop devices backed by files
 * in it, and deletes names that are not UTF-8 too.
 */
public final class TempDirs {

    private static final Set<String> MEMORY_FILE_SYSTEMS = Set.of("tmpfs", "ramfs");
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");
    private static final Path VAR_TMP = Path.of("/var/tmp");
    private static final Path LOOP_DEVICES = Path.of("/sys/block");
    private static final Duration LOSETUP_TIMEOUT = Duration.ofSeconds(30);

    private TempDirs() {
    }

    /**
     * Creates a new directory on a disk file system.
     *
     * @param prefix the start of the directory's name
     */
    public static TempDir create(String prefix) throws IOException {
        return new TempDir(Files.createTempDirectory(baseDirectory(), prefix)
                .toAbsolutePath());
    }

    /**
     * Returns {@code java.io.tmpdir}, or if that is a memory file system {@code /var/tmp}, or if
     * that is one too {@code target/tmp}.
     */
    public static Path baseDirectory() throws IOException {
        Path systemTemp = Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath();
        if (!MEMORY_FILE_SYSTEMS.contains(Files.getFileStore(systemTemp).type())) {
            return systemTemp;
        }
        // Tests make unix sockets several levels down, and a socket path has at most 107 bytes.
        // The path of target/tmp grows with the clone's, so the short /var/tmp comes first.
        if (Files.isDirectory(VAR_TMP)
                && !MEMORY_FILE_SYSTEMS.contains(Files.getFileStore(VAR_TMP).type())) {
            return VAR_TMP;
        }
        Path fallback = Path.of("target", "tmp").toAbsolutePath();
        Files.createDirectories(fallback);
        if (MEMORY_FILE_SYSTEMS.contains(Files.getFileStore(fallback).type())) {
            throw new IOException("no disk file system for temporary directories: "
                    + systemTemp + " and " + fallback + " are both in memory");
        }
        return fallback;
    }

    /**
     * Removes {@code dir}: unmounts file systems mounted at or below it, deepest first, detaches
     * loop devices backed by files below it, then deletes the tree. Does nothing if it is
     * missing.
     */
    public static void remove(Path dir) throws IOException {
        Path absolute = dir.toAbsolutePath().normalize();
        for (Path mountPoint : mountsBelow(absolute)) {
            unmount(mountPoint);
        }
        for (String device : loopDevicesBelow(absolute)) {
            Commands.run(List.of("losetup", "-d", device), LOSETUP_TIMEOUT);
        }
        FileTrees.deleteRecursively(BytePath.of(absolute));
    }

    /** Returns the mount points at or below {@code dir}, deepest first. */
    public static List<Path> mountsBelow(Path dir) throws IOException {
        Path absolute = dir.toAbsolutePath().normalize();
        List<Path> mounts = new ArrayList<>();
        // Decoded with replacement, because a mount elsewhere on the host may have a path that
        // is not UTF-8, and a strict read would fail for every test.
        String table = new String(Files.readAllBytes(MOUNTINFO), StandardCharsets.UTF_8);
        String prefix = absolute.toString();
        for (String line : table.lines().toList()) {
            String field = decodeMountinfoField(line.split(" ")[4]);
            // Only a path below dir becomes a Path, because under the C locale Path.of rejects the
            // non-ASCII mount points that other programs may have made elsewhere.
            if (!field.startsWith(prefix)) {
                continue;
            }
            Path mountPoint = Path.of(field);
            if (mountPoint.startsWith(absolute)) {
                mounts.add(mountPoint);
            }
        }
        mounts.sort(Comparator.comparingInt(Path::getNameCount).reversed());
        return mounts;
    }

    /** Returns whether a file system is mounted at {@code dir}. */
    public static boolean isMountPoint(Path dir) throws IOException {
        Path absolute = dir.toAbsolutePath().normalize();
        return mountsBelow(absolute).contains(absolute);
    }

    private static void unmount(Path mountPoint) throws IOException {
        BytePath target = BytePath.of(mountPoint);
        try {
            Posix.umount2(target, 0);
        } catch (PosixException e) {
            if (!e.is(Errno.EBUSY)) {
                throw e;
            }
            // A busy mount is detached from the tree now and freed when its last user closes it,
            // so the files below it can still be deleted.
            Posix.umount2(target, MountFlags.MNT_DETACH);
        }
    }

    /** Returns the loop devices whose backing file lies below {@code dir}, as /dev paths. */
    static List<String> loopDevicesBelow(Path dir) throws IOException {
        List<String> devices = new ArrayList<>();
        try (DirectoryStream<Path> blocks = Files.newDirectoryStream(LOOP_DEVICES, "loop*")) {
            for (Path block : blocks) {
                Path backingFile = block.resolve("loop").resolve("backing_file");
                if (!Files.exists(backingFile)) {
                    continue;
                }
                String backing = Files.readString(backingFile, StandardCharsets.UTF_8).strip();
                if (Path.of(backing).startsWith(dir)) {
                    devices.add("/dev/" + block.getFileName());
                }
            }
        }
        return devices;
    }

    /** Decodes the octal escapes (such as {@code \040} for a space) of a mountinfo field. */
    static String decodeMountinfoField(String field) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(field.length());
        byte[] raw = field.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < raw.length; i++) {
            if (raw[i] == '\\' && i + 3 < raw.length && isOctal(raw, i + 1)) {
                bytes.write(Integer.parseInt(new String(raw, i + 1, 3, StandardCharsets.US_ASCII),
                        8));
                i += 3;
            } else {
                bytes.write(raw[i]);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static boolean isOctal(byte[] raw, int start) {
        for (int i = start; i < start + 3; i++) {
            if (raw[i] < '0' || raw[i] > '7') {
                return false;
            }
        }
        return true;
    }
}
