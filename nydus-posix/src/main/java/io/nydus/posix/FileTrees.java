package io.nydus.posix;

import java.io.IOException;
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

    private static void deleteChildren(Fd dir, long dev) throws IOException {
        for (byte[] name : Posix.readdir(dir)) {
            BytePath child = BytePath.of(name);
            Stat stat = Posix.fstatat(dir, child, Posix.AT_SYMLINK_NOFOLLOW);
            if (!stat.isDirectory()) {
                Posix.unlinkat(dir, child, 0);
                continue;
            }
            BytePath shown = Posix.display(dir, child);
            if (stat.dev() != dev || StatCall.isMountRoot(dir.number(), child, shown)) {
                throw new IOException("not deleting " + shown
                        + " because a file system is mounted there");
            }
            try (Fd subdirectory = Posix.openat(dir, child, OPEN_DIRECTORY, 0)) {
                deleteChildren(subdirectory, dev);
            }
            Posix.unlinkat(dir, child, Posix.AT_REMOVEDIR);
        }
    }
}
