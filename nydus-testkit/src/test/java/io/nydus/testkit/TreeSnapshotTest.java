package io.nydus.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.posix.FileType;
import io.nydus.posix.Timespec;
import io.nydus.testkit.TreeGenerator.Feature;
import io.nydus.testkit.TreeSnapshot.Entry;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TreeSnapshotTest {

    private TempDir temp;
    private TreeSnapshot snapshot;

    @BeforeEach
    void captureSmallTree() throws IOException {
        temp = TempDirs.create("snapshot");
        TreeGenerator.createSmall(temp.bytes().resolve("tree"));
        snapshot = TreeSnapshot.capture(temp.bytes().resolve("tree"));
    }

    @AfterEach
    void removeTree() throws IOException {
        temp.close();
    }

    private Entry entry(String path) {
        return snapshot.entry(path).orElseThrow(() -> new AssertionError("no entry " + path));
    }

    @Test
    void rootComesFirst() {
        Entry root = snapshot.entries().get(0);
        assertEquals(TreeSnapshot.ROOT, root.path());
        assertEquals(FileType.DIRECTORY, root.type());
        assertEquals(0755, root.permissions());
    }

    @Test
    void pathsAreInTreeOrder() {
        List<String> paths = snapshot.paths().stream().map(BytePath::toString).toList();
        assertEquals(List.of(".", "char-device", "dir", "dir/hardlink", "dir/nested", "empty",
                "fifo", "file", "link", "socket"), paths);
    }

    @Test
    void regularFileHasDigestAndSize() {
        Entry file = entry("file");
        assertEquals(6, file.size());
        // SHA-256 of "hello\n".
        assertEquals(Optional.of(
                "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"),
                file.sha256());
    }

    @Test
    void hardlinksListPeers() {
        assertEquals(List.of(BytePath.of("dir/hardlink")), entry("file").hardlinkPeers());
        assertEquals(List.of(BytePath.of("file")), entry("dir/hardlink").hardlinkPeers());
        assertEquals(2, entry("file").nlink());
        assertEquals(List.of(), entry("empty").hardlinkPeers());
    }

    @Test
    void symlinkTargetRecorded() {
        assertEquals(Optional.of(BytePath.of("file")), entry("link").linkTarget());
        assertEquals(Optional.empty(), entry("link").sha256());
    }

    @Test
    void deviceNumbersRecorded() {
        assertEquals(1, entry("char-device").rdevMajor());
        assertEquals(3, entry("char-device").rdevMinor());
    }

    @Test
    void xattrsAreEscaped() {
        assertEquals("\\x00a\\xff\\x0a\\x00\\x80", entry("file").xattrs().get("user.small"));
    }

    @Test
    void ownerAndNanosecondTimeRecorded() {
        assertEquals(1000, entry("dir/nested").uid());
        assertEquals(new Timespec(1_700_000_000L, 123_456_789), entry("file").mtime());
    }

    @Test
    void smallTreeWithoutFeaturesHasOnlyPlainFiles() throws IOException {
        BytePath plain = temp.bytes().resolve("plain");
        TreeDescription description = TreeGenerator.createSmall(plain,
                java.util.EnumSet.noneOf(Feature.class));
        TreeSnapshot plainSnapshot = TreeSnapshot.capture(plain);
        assertEquals(description.paths() + 1, plainSnapshot.size());
        assertTrue(plainSnapshot.entries().stream().allMatch(e -> e.xattrs().isEmpty()));
        assertTrue(plainSnapshot.entry("fifo").isEmpty());
    }

    @Test
    void pathOrderPutsRootFirstAndComparesComponents() {
        List<BytePath> sorted = new java.util.ArrayList<>(List.of(BytePath.of("a/b"),
                BytePath.of("a-"), BytePath.of("."), BytePath.of("a"), BytePath.of("!")));
        sorted.sort(TreeSnapshot.PATH_ORDER);
        assertEquals(List.of(BytePath.of("."), BytePath.of("!"), BytePath.of("a"),
                BytePath.of("a/b"), BytePath.of("a-")), sorted);
    }
}
