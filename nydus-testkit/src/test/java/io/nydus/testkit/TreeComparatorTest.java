package io.nydus.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.posix.Devices;
import io.nydus.posix.Fd;
import io.nydus.posix.FileType;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Timespec;
import io.nydus.posix.Xattrs;
import io.nydus.testkit.Difference.Field;
import io.nydus.testkit.TreeComparator.Options;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/**
 * Builds two identical real trees, changes one property in the second, and checks that the
 * comparator reports exactly that property.
 */
class TreeComparatorTest {

    @FunctionalInterface
    private interface Change {
        void apply(BytePath root) throws IOException;
    }

    private TempDir temp;
    private BytePath expected;
    private BytePath actual;

    @BeforeEach
    void buildTwoTrees() throws IOException {
        temp = TempDirs.create("comparator");
        expected = temp.bytes().resolve("expected");
        actual = temp.bytes().resolve("actual");
        buildBase(expected);
        buildBase(actual);
    }

    @AfterEach
    void removeTrees() throws IOException {
        temp.close();
    }

    private static void buildBase(BytePath root) throws IOException {
        // The umask applies to mkdir and mknod, so chmod sets the modes that the tests change.
        Posix.mkdir(root, 0755);
        Posix.chmod(root, 0755);
        write(root.resolve("file"), "hello");
        Posix.mkdir(root.resolve("dir"), 0755);
        Posix.chmod(root.resolve("dir"), 0755);
        write(root.resolve("dir/nested"), "nested");
        Posix.link(root.resolve("file"), root.resolve("dir/hardlink"));
        Posix.symlink(utf8("file"), root.resolve("link"));
        Posix.mknod(root.resolve("char"), FileType.CHAR_DEVICE.mode(0644), Devices.makedev(1, 3));
        Posix.chmod(root.resolve("char"), 0644);
        Posix.mknod(root.resolve("fifo"), FileType.FIFO.mode(0644), 0);
        Posix.chmod(root.resolve("fifo"), 0644);
        write(root.resolve("xattr-file"), "x");
        Xattrs.set(root.resolve("xattr-file"), "user.a", utf8("value-1"));
        Xattrs.set(root.resolve("xattr-file"), "trusted.b", new byte[] {0, (byte) 0xff});
    }

    private static void write(BytePath path, String content) throws IOException {
        int flags = OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_TRUNC;
        try (Fd fd = Posix.open(path, flags, 0644)) {
            fd.writeAll(utf8(content));
        }
        Posix.chmod(path, 0644);
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static void fixTimes(BytePath root) throws IOException {
        new TreeMaker(root).applyTimes();
    }

    private List<Difference> differencesAfter(Change change, Options options) throws IOException {
        change.apply(actual);
        fixTimes(expected);
        fixTimes(actual);
        return TreeComparator.compare(TreeSnapshot.capture(expected),
                TreeSnapshot.capture(actual), options);
    }

    private List<Difference> differencesAfter(Change change) throws IOException {
        return differencesAfter(change, Options.defaults());
    }

    private static void assertOnly(List<Difference> differences, String path, Field field) {
        assertEquals(1, differences.size(), differences.toString());
        assertEquals(BytePath.of(path), differences.get(0).path());
        assertEquals(field, differences.get(0).field());
    }

    @Test
    void equalTreesHaveNoDifferences() throws IOException {
        assertEquals(List.of(), differencesAfter(root -> { }));
    }

    @Test
    void modeDifference() throws IOException {
        List<Difference> differences = differencesAfter(root ->
                Posix.chmod(root.resolve("dir/nested"), 04644));
        assertOnly(differences, "dir/nested", Field.MODE);
        assertEquals("0644", differences.get(0).expected());
        assertEquals("4644", differences.get(0).actual());
    }

    @Test
    void uidDifference() throws IOException {
        List<Difference> differences = differencesAfter(root ->
                Posix.lchown(root.resolve("link"), 4294967294L, -1));
        assertOnly(differences, "link", Field.UID);
        assertEquals("4294967294", differences.get(0).actual());
    }

    @Test
    void gidDifference() throws IOException {
        assertOnly(differencesAfter(root -> Posix.lchown(root.resolve("fifo"), -1, 1000)),
                "fifo", Field.GID);
    }

    @Test
    void nanosecondMtimeDifference() throws IOException {
        fixTimes(expected);
        fixTimes(actual);
        BytePath file = actual.resolve("dir/nested");
        Timespec mtime = Posix.lstat(file).mtime();
        Timespec changed = new Timespec(mtime.seconds(), (mtime.nanos() + 1) % 1_000_000_000);
        Posix.lutimens(file, changed, changed);
        List<Difference> differences = TreeComparator.compare(TreeSnapshot.capture(expected),
                TreeSnapshot.capture(actual), Options.defaults());
        assertOnly(differences, "dir/nested", Field.MTIME);
        assertEquals(changed.toString(), differences.get(0).actual());
    }

    @Test
    void xattrValueDifference() throws IOException {
        List<Difference> differences = differencesAfter(root ->
                Xattrs.set(root.resolve("xattr-file"), "user.a", utf8("value-2")));
        assertOnly(differences, "xattr-file", Field.XATTR);
        assertEquals("user.a=value-1", differences.get(0).expected());
        assertEquals("user.a=value-2", differences.get(0).actual());
    }

    @Test
    void missingXattr() throws IOException {
        List<Difference> differences = differencesAfter(root ->
                Xattrs.remove(root.resolve("xattr-file"), utf8("trusted.b")));
        assertOnly(differences, "xattr-file", Field.XATTR);
        assertEquals("trusted.b=\\x00\\xff", differences.get(0).expected());
        assertEquals("trusted.b " + Difference.ABSENT, differences.get(0).actual());
    }

    @Test
    void ignoredXattrIsSkipped() throws IOException {
        Options options = Options.defaults().ignoringXattr("trusted.b");
        assertEquals(List.of(), differencesAfter(root ->
                Xattrs.remove(root.resolve("xattr-file"), utf8("trusted.b")), options));
    }

    @Test
    void hardlinkGroupDifference() throws IOException {
        BytePath copy = actual.resolve("dir/hardlink");
        Posix.unlink(copy);
        write(copy, "hello");
        fixTimes(expected);
        fixTimes(actual);
        // The copy gets the time the shared inode got in the expected tree.
        Timespec shared = Posix.lstat(expected.resolve("dir/hardlink")).mtime();
        Posix.lutimens(copy, shared, shared);
        List<Difference> differences = TreeComparator.compare(TreeSnapshot.capture(expected),
                TreeSnapshot.capture(actual), Options.defaults());
        assertEquals(2, differences.size(), differences.toString());
        assertEquals(new Difference(BytePath.of("dir/hardlink"), Field.HARDLINKS, "[file]", "[]"),
                differences.get(0));
        assertEquals(new Difference(BytePath.of("file"), Field.HARDLINKS, "[dir/hardlink]", "[]"),
                differences.get(1));
    }

    @Test
    void nlinkDifferenceWithSameGroup() throws IOException {
        BytePath outside = temp.bytes().resolve("outside-link");
        List<Difference> differences = differencesAfter(root ->
                Posix.link(root.resolve("file"), outside));
        assertEquals(2, differences.size(), differences.toString());
        assertEquals(new Difference(BytePath.of("dir/hardlink"), Field.NLINK, "2", "3"),
                differences.get(0));
        assertEquals(new Difference(BytePath.of("file"), Field.NLINK, "2", "3"),
                differences.get(1));
    }

    @Test
    void rdevDifference() throws IOException {
        List<Difference> differences = differencesAfter(root -> {
            Posix.unlink(root.resolve("char"));
            Posix.mknod(root.resolve("char"), FileType.CHAR_DEVICE.mode(0644),
                    Devices.makedev(4095, 1048575));
            Posix.chmod(root.resolve("char"), 0644);
        });
        assertOnly(differences, "char", Field.RDEV);
        assertEquals("1:3", differences.get(0).expected());
        assertEquals("4095:1048575", differences.get(0).actual());
    }

    @Test
    void contentDifferenceWithSameSize() throws IOException {
        assertOnly(differencesAfter(root -> write(root.resolve("dir/nested"), "NESTED")),
                "dir/nested", Field.CONTENT);
    }

    @Test
    void sizeDifferenceHidesContent() throws IOException {
        List<Difference> differences = differencesAfter(root ->
                write(root.resolve("dir/nested"), "nested!"));
        assertOnly(differences, "dir/nested", Field.SIZE);
        assertEquals("6", differences.get(0).expected());
        assertEquals("7", differences.get(0).actual());
    }

    @Test
    void symlinkTargetDifference() throws IOException {
        List<Difference> differences = differencesAfter(root -> {
            Posix.unlink(root.resolve("link"));
            Posix.symlink(new byte[] {'f', 'i', 'l', (byte) 0xff}, root.resolve("link"));
        });
        assertOnly(differences, "link", Field.LINK_TARGET);
        assertEquals("fil\\xff", differences.get(0).actual());
    }

    @Test
    void typeDifferenceHidesOtherFields() throws IOException {
        List<Difference> differences = differencesAfter(root -> {
            Posix.unlink(root.resolve("fifo"));
            Posix.mkdir(root.resolve("fifo"), 0700);
        });
        assertOnly(differences, "fifo", Field.TYPE);
        assertEquals("fifo", differences.get(0).expected());
        assertEquals("directory", differences.get(0).actual());
    }

    @Test
    void missingEntry() throws IOException {
        List<Difference> differences = differencesAfter(root ->
                Posix.unlink(root.resolve("dir/nested")));
        assertOnly(differences, "dir/nested", Field.ENTRY);
        assertEquals("regular file", differences.get(0).expected());
        assertEquals(Difference.ABSENT, differences.get(0).actual());
    }

    @Test
    void extraEntry() throws IOException {
        byte[] name = {'e', (byte) 0xff};
        List<Difference> differences = differencesAfter(root ->
                Posix.symlink(utf8("x"), root.resolve(name)));
        assertEquals(List.of(new Difference(BytePath.of(name), Field.ENTRY, Difference.ABSENT,
                "symbolic link")), differences);
    }

    @Test
    void socketsSkippedOnRequest() throws IOException {
        Change addSocket = root ->
                Posix.mknod(root.resolve("socket"), FileType.SOCKET.mode(0755), 0);
        assertEquals(List.of(), differencesAfter(addSocket, Options.defaults().skippingSockets()));
        assertOnly(TreeComparator.compare(TreeSnapshot.capture(expected),
                TreeSnapshot.capture(actual), Options.defaults()), "socket", Field.ENTRY);
    }

    @Test
    void rootMtimeIgnoredOnRequest() throws IOException {
        fixTimes(expected);
        fixTimes(actual);
        Posix.lutimens(actual, Timespec.ofSeconds(5), Timespec.ofSeconds(5));
        TreeSnapshot want = TreeSnapshot.capture(expected);
        TreeSnapshot have = TreeSnapshot.capture(actual);
        assertOnly(TreeComparator.compare(want, have, Options.defaults()), ".", Field.MTIME);
        assertEquals(List.of(),
                TreeComparator.compare(want, have, Options.defaults().ignoringRootMtime()));
    }

    @Test
    void rootModeIsCompared() throws IOException {
        assertOnly(differencesAfter(root -> Posix.chmod(root, 0700)), ".", Field.MODE);
    }

    @Test
    void directoryNlinkComparedOnRequest() throws IOException {
        Change addDirectory = root -> Posix.mkdir(root.resolve("dir/sub"), 0755);
        List<Difference> byDefault = differencesAfter(addDirectory);
        assertOnly(byDefault, "dir/sub", Field.ENTRY);
        List<Difference> withNlink = TreeComparator.compare(TreeSnapshot.capture(expected),
                TreeSnapshot.capture(actual), Options.defaults().comparingDirectoryNlink());
        assertEquals(2, withNlink.size(), withNlink.toString());
        assertEquals(new Difference(BytePath.of("dir"), Field.NLINK, "2", "3"), withNlink.get(0));
    }

    @Test
    void differencesComeInTreeOrder() throws IOException {
        List<Difference> differences = differencesAfter(root -> {
            Posix.chmod(root.resolve("xattr-file"), 0600);
            Posix.chmod(root.resolve("dir/nested"), 0600);
            Posix.chmod(root.resolve("char"), 0600);
        });
        List<String> paths = differences.stream().map(d -> d.path().toString()).toList();
        assertEquals(List.of("char", "dir/nested", "xattr-file"), paths);
    }

    @Test
    void assertSameTreeListsFiftyAndCount() throws IOException {
        Change manyModes = root -> {
            for (int i = 0; i < 60; i++) {
                write(root.resolve(String.format("m%02d", i)), "m");
                Posix.chmod(root.resolve(String.format("m%02d", i)), 0600);
            }
        };
        manyModes.apply(expected);
        Change sameFilesOtherMode = root -> {
            manyModes.apply(root);
            for (int i = 0; i < 60; i++) {
                Posix.chmod(root.resolve(String.format("m%02d", i)), 0644);
            }
        };
        differencesAfter(sameFilesOtherMode);
        AssertionFailedError error = assertThrows(AssertionFailedError.class, () ->
                TreeComparator.assertSameTree(expected, actual, Options.defaults()));
        String message = error.getMessage();
        assertTrue(message.contains("in 60 places:"), message);
        assertTrue(message.contains("m49: MODE expected 0600, actual 0644"), message);
        assertTrue(!message.contains("m50: MODE"), message);
        assertTrue(message.endsWith("... and 10 more"), message);
    }

    @Test
    void differenceToStringEscapesPath() {
        Difference difference = new Difference(BytePath.of(new byte[] {'a', (byte) 0xff}),
                Field.MODE, "0644", "0600");
        assertEquals("a\\xff: MODE expected 0644, actual 0600", difference.toString());
    }
}
