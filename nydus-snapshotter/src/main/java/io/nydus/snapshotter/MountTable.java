package io.nydus.snapshotter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Reads the kernel's mount table and detaches mounts that a dead daemon left behind. */
final class MountTable {

    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private MountTable() {
    }

    /** Returns whether {@code dir} is a mount point in this process's mount namespace. */
    static boolean isMountpoint(Path dir) throws IOException {
        String target = escape(realPath(dir).toString());
        for (String line : mountinfoLines()) {
            String[] fields = line.split(" ");
            if (fields.length > 4 && fields[4].equals(target)) {
                return true;
            }
        }
        return false;
    }

    /** Returns the mount points at or below {@code dir}, deepest first. */
    static List<Path> mountsBelow(Path dir) throws IOException {
        Path top = realPath(dir);
        String prefix = top.toString();
        List<Path> result = new ArrayList<>();
        for (String line : mountinfoLines()) {
            String[] fields = line.split(" ");
            // Only a mount point below dir becomes a Path, because under a locale such as C,
            // Path.of rejects the non-ASCII mount points that other programs made elsewhere.
            if (fields.length <= 4 || !unescape(fields[4]).startsWith(prefix)) {
                continue;
            }
            Path mountpoint = Path.of(unescape(fields[4]));
            if (mountpoint.startsWith(top)) {
                result.add(mountpoint);
            }
        }
        result.sort(Comparator.comparingInt(Path::getNameCount).reversed());
        return result;
    }

    /**
     * Returns {@code path} with the symlinks in its ancestors resolved, because the mount
     * table lists mount points by their real path. The last name is kept as it is, because
     * any lookup in the mount of a dead FUSE daemon fails.
     */
    private static Path realPath(Path path) {
        Path absolute = path.toAbsolutePath().normalize();
        Path parent = absolute.getParent();
        if (parent == null) {
            return absolute;
        }
        try {
            return parent.toRealPath().resolve(absolute.getFileName());
        } catch (IOException e) {
            return realPath(parent).resolve(absolute.getFileName());
        }
    }

    /**
     * Returns the lines of the mount table. Mount points are raw bytes, and any mount of the
     * host may have a name that is not UTF-8, so invalid bytes become U+FFFD instead of
     * failing the read of the whole table.
     */
    private static List<String> mountinfoLines() throws IOException {
        return new String(Files.readAllBytes(MOUNTINFO), StandardCharsets.UTF_8).lines()
                .toList();
    }

    private static String unescape(String field) {
        return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
                .replace("\\134", "\\");
    }

    /**
     * Detaches the mount at {@code dir} lazily ({@code umount -l}), which also works on a FUSE
     * mount whose daemon died.
     *
     * @throws IOException with umount's message if it fails
     */
    static void detach(Path dir) throws IOException {
        Process process = new ProcessBuilder(List.of("umount", "-l", dir.toString()))
                .redirectErrorStream(true).start();
        try {
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("umount -l " + dir + " did not finish within 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while unmounting " + dir, e);
        }
        String output = new String(process.getInputStream().readAllBytes(),
                StandardCharsets.UTF_8).strip();
        if (process.exitValue() != 0) {
            throw new IOException("umount -l " + dir + " failed: " + output);
        }
    }

    /** Escapes a path the way mountinfo writes it (octal for space, tab, newline, backslash). */
    private static String escape(String path) {
        return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")
                .replace("\n", "\\012");
    }
}
