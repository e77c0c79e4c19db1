package io.nydus.testkit;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.FileType;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import io.nydus.posix.Timespec;
import io.nydus.posix.Xattrs;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The recorded state of a directory tree: one {@link Entry} per file, with everything an image
 * builder must keep, so that two trees can be compared with {@link TreeComparator}.
 *
 * <p>Paths are relative to the root, which itself is recorded as ".". Hard links are recorded
 * as the sorted list of the other paths sharing the inode, not as inode numbers, because those
 * differ between the original tree and an unpacked or mounted copy. Access times are not
 * recorded because reading a file changes them.
 */
public final class TreeSnapshot {

    /** The relative path recorded for the root directory itself. */
    public static final BytePath ROOT = BytePath.of(".");

    /** Tree order: the root first, then component by component as unsigned bytes. */
    public static final Comparator<BytePath> PATH_ORDER = TreeSnapshot::comparePaths;

    private static final int OPEN_DIRECTORY = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY
            | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
    private static final int OPEN_FILE = OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW
            | OpenFlags.O_CLOEXEC;
    private static final int DIGEST_BUFFER_SIZE = 1 << 20;

    private final BytePath root;
    private final Map<BytePath, Entry> entries;

    private TreeSnapshot(BytePath root, Map<BytePath, Entry> entries) {
        this.root = root;
        this.entries = Collections.unmodifiableMap(entries);
    }

    /**
     * One recorded file.
     *
     * @param path the path relative to the root, or {@link #ROOT}
     * @param type the file type
     * @param permissions the mode's permission bits, including setuid, setgid and sticky
     * @param uid the owner's user id
     * @param gid the owner's group id
     * @param size the size in bytes as {@code lstat} reports it
     * @param mtime the modification time with nanoseconds
     * @param nlink the number of hard links
     * @param linkTarget the raw target of a symlink, empty for other types
     * @param rdevMajor the major device number of a device, else 0
     * @param rdevMinor the minor device number of a device, else 0
     * @param xattrs extended attributes, from the escaped name to the escaped value (see
     *     {@link BytePath#escape}), sorted by name
     * @param hardlinkPeers the other paths in the tree with the same inode, sorted; empty for
     *     directories and for files with one name in the tree
     * @param sha256 the hex SHA-256 of a regular file's content, empty for other types
     */
    public record Entry(BytePath path, FileType type, int permissions, long uid, long gid,
            long size, Timespec mtime, long nlink, Optional<BytePath> linkTarget, long rdevMajor,
            long rdevMinor, SortedMap<String, String> xattrs, List<BytePath> hardlinkPeers,
            Optional<String> sha256) {

        /** Copies the collections so that an entry cannot change. */
        public Entry {
            Objects.requireNonNull(path, "path");
            Objects.requireNonNull(type, "type");
            xattrs = Collections.unmodifiableSortedMap(new TreeMap<>(xattrs));
            hardlinkPeers = List.copyOf(hardlinkPeers);
        }
    }

    /**
     * Records the tree at {@code root} without following symlinks. Content digests are read in
     * 1 MiB blocks, so files of any size fit.
     *
     * @throws IOException if a file cannot be read; the message names it
     */
    public static TreeSnapshot capture(BytePath root) throws IOException {
        Walk walk = new Walk(root);
        walk.run();
        return new TreeSnapshot(root, walk.finish());
    }

    /** Records the tree at {@code root}; see {@link #capture(BytePath)}. */
    public static TreeSnapshot capture(Path root) throws IOException {
        return capture(BytePath.of(root));
    }

    /** Returns the root directory this snapshot was taken from. */
    public BytePath root() {
        return root;
    }

    /** Returns the entries in tree order, the root first. */
    public List<Entry> entries() {
        return List.copyOf(entries.values());
    }

    /** Returns the recorded relative paths in tree order. */
    public List<BytePath> paths() {
        return List.copyOf(entries.keySet());
    }

    /** Returns the entry for the relative {@code path}, if the tree has it. */
    public Optional<Entry> entry(BytePath path) {
        return Optional.ofNullable(entries.get(path));
    }

    /** Returns the entry for the relative UTF-8 {@code path}, if the tree has it. */
    public Optional<Entry> entry(String path) {
        return entry(BytePath.of(path));
    }

    /** Returns the number of entries, the root included. */
    public int size() {
        return entries.size();
    }

    @Override
    public String toString() {
        return "TreeSnapshot[" + root + ", " + entries.size() + " entries]";
    }

    private static int comparePaths(BytePath a, BytePath b) {
        boolean aRoot = a.equals(ROOT);
        boolean bRoot = b.equals(ROOT);
        if (aRoot || bRoot) {
            return Boolean.compare(bRoot, aRoot);
        }
        List<byte[]> aParts = a.components();
        List<byte[]> bParts = b.components();
        for (int i = 0; i < Math.min(aParts.size(), bParts.size()); i++) {
            int order = Arrays.compareUnsigned(aParts.get(i), bParts.get(i));
            if (order != 0) {
                return order;
            }
        }
        return Integer.compare(aParts.size(), bParts.size());
    }

    /** A file's identity within one walk, to group hard links. */
    private record InodeKey(long dev, long ino) {
    }

    /** One depth-first walk through open directory descriptors. */
    private static final class Walk {

        private final BytePath root;
        private final Map<BytePath, Entry> entries = new LinkedHashMap<>();
        private final Map<InodeKey, List<BytePath>> linkGroups = new HashMap<>();
        private final MessageDigest digest = sha256();

        Walk(BytePath root) {
            this.root = root;
        }

        void run() throws IOException {
            Stat stat = Posix.lstat(root);
            record(ROOT, stat, root, Optional.empty(), Optional.empty());
            if (stat.isDirectory()) {
                try (Fd dir = Posix.open(root, OPEN_DIRECTORY)) {
                    walkDirectory(dir, null);
                }
            }
        }

        private void walkDirectory(Fd dir, BytePath relativeDir) throws IOException {
            List<byte[]> names = Posix.readdir(dir);
            names.sort(Arrays::compareUnsigned);
            for (byte[] name : names) {
                BytePath child = BytePath.of(name);
                BytePath relative = relativeDir == null ? child : relativeDir.resolve(name);
                Stat stat = Posix.fstatat(dir, child, Posix.AT_SYMLINK_NOFOLLOW);
                Optional<BytePath> target = stat.isSymlink()
                        ? Optional.of(BytePath.of(Posix.readlinkat(dir, child)))
                        : Optional.empty();
                Optional<String> content = stat.isRegularFile()
                        ? Optional.of(digestFile(dir, child))
                        : Optional.empty();
                record(relative, stat, xattrPath(dir, name, root.resolve(relative)), target,
                        content);
                if (stat.isDirectory()) {
                    try (Fd subdirectory = Posix.openat(dir, child, OPEN_DIRECTORY, 0)) {
                        walkDirectory(subdirectory, relative);
                    }
                }
            }
        }

        /**
         * Returns a path to the entry {@code name} of {@code dir} for the l*xattr calls: its
         * {@code absolute} path, or when that is longer than one call takes (PATH_MAX, 4096
         * bytes with the NUL), the name below the directory's /proc/self/fd link.
         */
        private static BytePath xattrPath(Fd dir, byte[] name, BytePath absolute) {
            if (absolute.length() < 4096) {
                return absolute;
            }
            return BytePath.of("/proc/self/fd/" + dir.number()).resolve(name);
        }

        /** Records one entry, reading its xattrs through {@code xattrPath}. */
        private void record(BytePath relative, Stat stat, BytePath xattrPath,
                Optional<BytePath> target, Optional<String> content) throws IOException {
            if (!stat.isDirectory() && stat.nlink() > 1) {
                linkGroups.computeIfAbsent(new InodeKey(stat.dev(), stat.ino()),
                        key -> new ArrayList<>()).add(relative);
            }
            boolean device = stat.type() == FileType.CHAR_DEVICE
                    || stat.type() == FileType.BLOCK_DEVICE;
            entries.put(relative, new Entry(relative, stat.type(), stat.permissions(), stat.uid(),
                    stat.gid(), stat.size(), stat.mtime(), stat.nlink(), target,
                    device ? stat.rdevMajor() : 0, device ? stat.rdevMinor() : 0,
                    readXattrs(xattrPath), List.of(), content));
        }

        private static SortedMap<String, String> readXattrs(BytePath path) throws IOException {
            SortedMap<String, String> xattrs = new TreeMap<>();
            for (byte[] name : Xattrs.list(path)) {
                Optional<byte[]> value = Xattrs.get(path, name);
                // An attribute removed between list and get is left out, as if listed later.
                value.ifPresent(bytes ->
                        xattrs.put(BytePath.escape(name), BytePath.escape(bytes)));
            }
            return xattrs;
        }

        private String digestFile(Fd dir, BytePath name) throws IOException {
            digest.reset();
            try (Fd file = Posix.openat(dir, name, OPEN_FILE, 0);
                    Arena arena = Arena.ofConfined()) {
                MemorySegment buffer = arena.allocate(DIGEST_BUFFER_SIZE);
                long count;
                while ((count = file.read(buffer)) > 0) {
                    digest.update(buffer.asSlice(0, count).asByteBuffer());
                }
            }
            return HexFormat.of().formatHex(digest.digest());
        }

        /** Returns the entries in tree order with their hard link peers filled in. */
        Map<BytePath, Entry> finish() {
            Map<BytePath, List<BytePath>> peers = new HashMap<>();
            for (List<BytePath> group : linkGroups.values()) {
                for (BytePath member : group) {
                    List<BytePath> others = new ArrayList<>(group);
                    others.remove(member);
                    others.sort(PATH_ORDER);
                    peers.put(member, others);
                }
            }
            Map<BytePath, Entry> ordered = new LinkedHashMap<>();
            for (Entry entry : entries.values()) {
                List<BytePath> entryPeers = peers.getOrDefault(entry.path(), List.of());
                ordered.put(entry.path(), withPeers(entry, entryPeers));
            }
            return ordered;
        }

        private static Entry withPeers(Entry e, List<BytePath> peers) {
            return new Entry(e.path(), e.type(), e.permissions(), e.uid(), e.gid(), e.size(),
                    e.mtime(), e.nlink(), e.linkTarget(), e.rdevMajor(), e.rdevMinor(),
                    e.xattrs(), peers, e.sha256());
        }

        private static MessageDigest sha256() {
            try {
                return MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("every JDK provides SHA-256", e);
            }
        }
    }
}
