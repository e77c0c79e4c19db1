package io.nydus.testkit;

import io.nydus.posix.BytePath;
import io.nydus.posix.FileType;
import io.nydus.testkit.Difference.Field;
import io.nydus.testkit.TreeSnapshot.Entry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assertions;

/**
 * Compares two {@link TreeSnapshot}s field by field and lists every {@link Difference} in tree
 * order.
 *
 * <p>A type difference hides the other fields of that entry. A size difference hides the
 * content digest, and a symlink is compared by its target, not its size. A hard link group
 * difference hides the link count, which follows from it. Access times are never compared.
 */
public final class TreeComparator {

    /** The maximum number of differences that {@link #assertSameTree} lists in its message. */
    public static final int MAX_LISTED = 50;

    private TreeComparator() {
    }

    /**
     * What to leave out of a comparison. Start from {@link #defaults()}.
     *
     * <p>Directory sizes and directory link counts are skipped by default: a directory's size
     * is the space its file system gives its entries (4096 per block on ext4, the dirent bytes
     * on EROFS), and its link count is 2 plus subdirectories on ext4 and EROFS but 1 on btrfs
     * and some FUSE file systems. Neither reflects the tree's content.
     *
     * @param skipSockets leave out sockets in both trees, which tar archives cannot hold
     * @param compareDirectorySize compare the size of directories
     * @param compareDirectoryNlink compare the link count of directories
     * @param compareRootMtime compare the root directory's modification time
     * @param compareOwners compare uid and gid
     * @param ignoredXattrs extended attribute names to leave out, escaped as by
     *     {@link BytePath#escape}, which leaves printable ASCII names unchanged
     */
    public record Options(boolean skipSockets, boolean compareDirectorySize,
            boolean compareDirectoryNlink, boolean compareRootMtime, boolean compareOwners,
            Set<String> ignoredXattrs) {

        /** Copies the ignored names. */
        public Options {
            ignoredXattrs = Set.copyOf(ignoredXattrs);
        }

        /** Returns options that compare everything except directory sizes and link counts. */
        public static Options defaults() {
            return new Options(false, false, false, true, true, Set.of());
        }

        /** Returns these options with sockets left out. */
        public Options skippingSockets() {
            return new Options(true, compareDirectorySize, compareDirectoryNlink,
                    compareRootMtime, compareOwners, ignoredXattrs);
        }

        /** Returns these options comparing directory sizes too. */
        public Options comparingDirectorySize() {
            return new Options(skipSockets, true, compareDirectoryNlink, compareRootMtime,
                    compareOwners, ignoredXattrs);
        }

        /** Returns these options comparing directory link counts too. */
        public Options comparingDirectoryNlink() {
            return new Options(skipSockets, compareDirectorySize, true, compareRootMtime,
                    compareOwners, ignoredXattrs);
        }

        /** Returns these options without the root directory's modification time. */
        public Options ignoringRootMtime() {
            return new Options(skipSockets, compareDirectorySize, compareDirectoryNlink, false,
                    compareOwners, ignoredXattrs);
        }

        /** Returns these options without uid and gid. */
        public Options ignoringOwners() {
            return new Options(skipSockets, compareDirectorySize, compareDirectoryNlink,
                    compareRootMtime, false, ignoredXattrs);
        }

        /** Returns these options leaving out the extended attribute with UTF-8 {@code name}. */
        public Options ignoringXattr(String name) {
            return ignoringXattr(name.getBytes(StandardCharsets.UTF_8));
        }

        /** Returns these options leaving out the extended attribute with raw {@code name}. */
        public Options ignoringXattr(byte[] name) {
            Set<String> names = new HashSet<>(ignoredXattrs);
            names.add(BytePath.escape(name));
            return new Options(skipSockets, compareDirectorySize, compareDirectoryNlink,
                    compareRootMtime, compareOwners, names);
        }
    }

    /** Returns the differences between the trees, in tree order, empty when they match. */
    public static List<Difference> compare(TreeSnapshot expected, TreeSnapshot actual,
            Options options) {
        Set<BytePath> paths = new TreeSet<>(TreeSnapshot.PATH_ORDER);
        paths.addAll(expected.paths());
        paths.addAll(actual.paths());
        List<Difference> differences = new ArrayList<>();
        for (BytePath path : paths) {
            Optional<Entry> want = expected.entry(path).filter(e -> kept(e, options));
            Optional<Entry> have = actual.entry(path).filter(e -> kept(e, options));
            if (want.isPresent() && have.isPresent()) {
                new EntryComparison(want.get(), have.get(), options, differences).run();
            } else if (want.isPresent() || have.isPresent()) {
                differences.add(new Difference(path, Field.ENTRY, describe(want),
                        describe(have)));
            }
        }
        return differences;
    }

    /**
     * Fails the test if the trees differ, listing the first {@value #MAX_LISTED} differences
     * and the number of the others.
     */
    public static void assertSameTree(TreeSnapshot expected, TreeSnapshot actual,
            Options options) {
        List<Difference> differences = compare(expected, actual, options);
        if (!differences.isEmpty()) {
            Assertions.fail(report(expected, actual, differences));
        }
    }

    /** Captures both trees and fails the test if they differ; see {@link #assertSameTree}. */
    public static void assertSameTree(BytePath expectedRoot, BytePath actualRoot,
            Options options) throws IOException {
        assertSameTree(TreeSnapshot.capture(expectedRoot), TreeSnapshot.capture(actualRoot),
                options);
    }

    /** Returns the failure message of {@link #assertSameTree}. */
    static String report(TreeSnapshot expected, TreeSnapshot actual,
            List<Difference> differences) {
        StringBuilder message = new StringBuilder()
                .append("tree ").append(actual.root()).append(" differs from ")
                .append(expected.root()).append(" in ").append(differences.size())
                .append(differences.size() == 1 ? " place:" : " places:");
        differences.stream().limit(MAX_LISTED)
                .forEach(difference -> message.append("\n  ").append(difference));
        if (differences.size() > MAX_LISTED) {
            message.append("\n  ... and ").append(differences.size() - MAX_LISTED)
                    .append(" more");
        }
        return message.toString();
    }

    private static boolean kept(Entry entry, Options options) {
        return !(options.skipSockets() && entry.type() == FileType.SOCKET);
    }

    private static String describe(Optional<Entry> entry) {
        return entry.map(e -> e.type().toString()).orElse(Difference.ABSENT);
    }

    /** The comparison of one path present in both trees. */
    private record EntryComparison(Entry want, Entry have, Options options,
            List<Difference> out) {

        void run() {
            if (want.type() != have.type()) {
                add(Field.TYPE, Entry::type);
                return;
            }
            add(Field.MODE, e -> String.format("%04o", e.permissions()));
            if (options.compareOwners()) {
                add(Field.UID, Entry::uid);
                add(Field.GID, Entry::gid);
            }
            if (options.compareRootMtime() || !want.path().equals(TreeSnapshot.ROOT)) {
                add(Field.MTIME, Entry::mtime);
            }
            compareTypeSpecific();
            compareXattrs();
            compareLinks();
        }

        private void compareTypeSpecific() {
            switch (want.type()) {
                case REGULAR -> {
                    if (!add(Field.SIZE, Entry::size)) {
                        add(Field.CONTENT, e -> e.sha256().orElse(Difference.ABSENT));
                    }
                }
                case SYMLINK -> add(Field.LINK_TARGET,
                        e -> e.linkTarget().map(BytePath::toString).orElse(Difference.ABSENT));
                case CHAR_DEVICE, BLOCK_DEVICE ->
                        add(Field.RDEV, e -> e.rdevMajor() + ":" + e.rdevMinor());
                case DIRECTORY -> {
                    if (options.compareDirectorySize()) {
                        add(Field.SIZE, Entry::size);
                    }
                }
                case FIFO, SOCKET -> {
                }
            }
        }

        private void compareXattrs() {
            Set<String> names = new TreeSet<>(want.xattrs().keySet());
            names.addAll(have.xattrs().keySet());
            names.removeAll(options.ignoredXattrs());
            for (String name : names) {
                String expected = xattrText(want, name);
                String actual = xattrText(have, name);
                if (!expected.equals(actual)) {
                    out.add(new Difference(want.path(), Field.XATTR, expected, actual));
                }
            }
        }

        private static String xattrText(Entry entry, String name) {
            String value = entry.xattrs().get(name);
            return value == null ? name + " " + Difference.ABSENT : name + "=" + value;
        }

        private void compareLinks() {
            boolean directory = want.type() == FileType.DIRECTORY;
            if (directory) {
                if (options.compareDirectoryNlink()) {
                    add(Field.NLINK, Entry::nlink);
                }
                return;
            }
            if (!add(Field.HARDLINKS, e -> e.hardlinkPeers().stream()
                    .map(BytePath::toString).collect(Collectors.joining(", ", "[", "]")))) {
                add(Field.NLINK, Entry::nlink);
            }
        }

        /** Adds a difference if the field's values differ and returns whether it did. */
        private boolean add(Field field, Function<Entry, Object> value) {
            String expected = String.valueOf(value.apply(want));
            String actual = String.valueOf(value.apply(have));
            if (Objects.equals(expected, actual)) {
                return false;
            }
            out.add(new Difference(want.path(), field, expected, actual));
            return true;
        }
    }
}
