package io.nydus.posix;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;
import java.util.Optional;

/** Operations on whole directory trees, with byte names. */
public final class FileTrees {

    private static final int OPEN_DIRECTORY = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY
            | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;

    private FileTrees() {
    }

    /**
     * Deletes {@code root} and everything below it, like {@code rm -rf}, without following
     * symlinks. Does nothing if {@code root} does not exist.
     *
     * @throws IOException if something is mounted on a directory below {@code root}, such as
     *     another file system or a bind mount; nothing in that directory is deleted
     */
    public static void deleteRecursively(BytePath root) throws IOException {
        Optional<Stat> stat = Posix.lstatIfExists(root);
        if (stat.isEmpty()) {
            return;
        }
        if (!stat.get().isDirectory()) {
            Posix.unlink(root);
            return;
        }
        try (Fd dir = Posix.open(root, OPEN_DIRECTORY)) {
            deleteChildren(dir, stat.get().dev());
        }
        Posix.rmdir(root);
    }

    /** An open directory being emptied, its names still to delete, and its name in its parent. */
    private record OpenDirectory(Fd fd, Iterator<byte[]> names, BytePath name) {
        static OpenDirectory read(Fd fd, BytePath name) throws IOException {
            return new OpenDirectory(fd, Posix.readdir(fd).iterator(), name);
        }
    }

    /**
     * Deletes everything below {@code top}, depth first. The open directories are kept on a
     * stack instead of in recursive calls, because a tree may be thousands of levels deep.
     */
    private static void deleteChildren(Fd top, long dev) throws IOException {
        Deque<OpenDirectory> open = new ArrayDeque<>();
        try {
            open.push(OpenDirectory.read(top, null));
            while (!open.isEmpty()) {
                OpenDirectory dir = open.peek();
                if (!dir.names().hasNext()) {
                    open.pop();
                    if (dir.name() != null) {
                        dir.fd().close();
                        Posix.unlinkat(open.peek().fd(), dir.name(), Posix.AT_REMOVEDIR);
                    }
                    continue;
                }
                OpenDirectory subdirectory = deleteOrOpen(dir.fd(), dir.names().next(), dev);
                if (subdirectory != null) {
                    open.push(subdirectory);
                }
            }
        } finally {
            for (OpenDirectory dir : open) {
                if (dir.name() != null) {
                    dir.fd().close();
                }
            }
        }
    }

    /** Deletes the non-directory {@code name} in {@code dir}, or opens it if it is a directory. */
    private static OpenDirectory deleteOrOpen(Fd dir, byte[] name, long dev) throws IOException {
        BytePath child = BytePath.of(name);
        Stat stat = Posix.fstatat(dir, child, Posix.AT_SYMLINK_NOFOLLOW);
        if (!stat.isDirectory()) {
            Posix.unlinkat(dir, child, 0);
            return null;
        }
        BytePath shown = Posix.display(dir, child);
        if (stat.dev() != dev || StatCall.isMountRoot(dir.number(), child, shown)) {
            throw new IOException("not deleting " + shown
                    + " because a file system is mounted there");
        }
        Fd subdirectory = Posix.openat(dir, child, OPEN_DIRECTORY, 0);
        try {
            return OpenDirectory.read(subdirectory, child);
        } catch (IOException | RuntimeException e) {
            subdirectory.close();
            throw e;
        }
    }
}
