package io.nydus.posix;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;

/** Operations on whole directory trees, with byte names. */
public final class FileTrees {

    /**
     * The maximum number of directories below the top that a deletion keeps open at once. The
     * deletion closes shallower ones and opens them again through ".." on its way back up.
     */
    static final int OPEN_LEVELS = 64;

    private static final int OPEN_DIRECTORY = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY
            | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
    private static final BytePath DOTDOT = BytePath.of("..");

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
            deleteChildren(dir, stat.get());
        }
        Posix.rmdir(root);
    }

    /**
     * A directory being emptied, with the names still to delete and its name in its parent. A
     * closed level has a null descriptor, and its inode number shows whether the directory was
     * moved while it was closed.
     */
    private static final class Level {
        private Fd fd;
        private final Iterator<byte[]> names;
        private final BytePath name;
        private final long ino;

        private Level(Fd fd, BytePath name, long ino) throws IOException {
            this.fd = fd;
            this.names = Posix.readdir(fd).iterator();
            this.name = name;
            this.ino = ino;
        }
    }

    /**
     * Deletes everything below {@code top}, depth first. The directories being emptied are kept
     * on a list instead of in recursive calls, because a tree may be thousands of levels deep.
     * Only the deepest {@link #OPEN_LEVELS} of them stay open, so that such a tree needs no more
     * descriptors than a low open file limit allows.
     */
    private static void deleteChildren(Fd top, Stat topStat) throws IOException {
        List<Level> levels = new ArrayList<>();
        // Levels from this index to the end have open descriptors, and the top's stays open.
        int firstOpen = 1;
        try {
            levels.add(new Level(top, null, topStat.ino()));
            while (!levels.isEmpty()) {
                Level dir = levels.getLast();
                if (dir.names.hasNext()) {
                    Level subdirectory = deleteOrOpen(dir.fd, dir.names.next(), topStat.dev());
                    if (subdirectory != null) {
                        levels.add(subdirectory);
                        firstOpen = closeShallowest(levels, firstOpen);
                    }
                    continue;
                }
                levels.removeLast();
                if (dir.name == null) {
                    continue;
                }
                int parentIndex = levels.size() - 1;
                Level parent = levels.get(parentIndex);
                if (parent.fd == null) {
                    parent.fd = reopenParent(dir, parent, topStat.dev());
                    firstOpen = parentIndex;
                }
                dir.fd.close();
                Posix.unlinkat(parent.fd, dir.name, Posix.AT_REMOVEDIR);
            }
        } finally {
            for (Level level : levels.subList(Math.min(1, levels.size()), levels.size())) {
                if (level.fd != null) {
                    level.fd.close();
                }
            }
        }
    }

    /** Closes the shallowest open level below the top when more than the limit are open. */
    private static int closeShallowest(List<Level> levels, int firstOpen) throws IOException {
        if (levels.size() - firstOpen <= OPEN_LEVELS) {
            return firstOpen;
        }
        Level shallowest = levels.get(firstOpen);
        shallowest.fd.close();
        shallowest.fd = null;
        return firstOpen + 1;
    }

    /**
     * Opens the parent of {@code dir} again through "..", and checks that it is the directory
     * that was closed: a rename while the deletion ran could have moved {@code dir} elsewhere.
     */
    private static Fd reopenParent(Level dir, Level parent, long dev) throws IOException {
        BytePath displayPath = dir.fd.path().parent().orElse(DOTDOT);
        Fd reopened = Posix.openat(dir.fd, DOTDOT, OPEN_DIRECTORY, 0).relabeled(displayPath);
        Stat stat = reopened.fstat();
        if (stat.dev() != dev || stat.ino() != parent.ino) {
            reopened.close();
            throw new IOException("not deleting below " + displayPath
                    + " because a directory in it was moved during the deletion");
        }
        return reopened;
    }

    /** Deletes the non-directory {@code name} in {@code dir}, or opens it if it is a directory. */
    private static Level deleteOrOpen(Fd dir, byte[] name, long dev) throws IOException {
        BytePath child = BytePath.of(name);
        Stat stat = Posix.fstatat(dir, child, Posix.AT_SYMLINK_NOFOLLOW);
        if (!stat.isDirectory()) {
            Posix.unlinkat(dir, child, 0);
            return null;
        }
        BytePath displayPath = Posix.display(dir, child);
        if (stat.dev() != dev || StatCall.isMountRoot(dir.number(), child, displayPath)) {
            throw new IOException("not deleting " + displayPath
                    + " because a file system is mounted there");
        }
        Fd subdirectory = Posix.openat(dir, child, OPEN_DIRECTORY, 0);
        try {
            return new Level(subdirectory, child, stat.ino());
        } catch (IOException | RuntimeException e) {
            subdirectory.close();
            throw e;
        }
    }
}
