package io.nydus.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.FileType;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Timespec;
import io.nydus.testkit.TreeGenerator.Feature;
import io.nydus.testkit.TreeSnapshot.Entry;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Generates the every-case tree once and checks its cases with the posix calls and tools. */
class TreeGeneratorTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private static TempDir temp;
    private static BytePath root;
    private static TreeDescription description;
    private static TreeSnapshot snapshot;

    @BeforeAll
    static void generate() throws IOException {
        temp = TempDirs.create("generator");
        root = temp.bytes().resolve("every-case");
        description = TreeGenerator.createEveryCase(root);
        snapshot = TreeSnapshot.capture(root);
    }

    @AfterAll
    static void removeTree() throws IOException {
        temp.close();
    }

    private static Entry entry(String path) {
        return entry(BytePath.of(path));
    }

    private static Entry entry(BytePath path) {
        return snapshot.entry(path).orElseThrow(() -> new AssertionError("no entry " + path));
    }

    private static long count(Predicate<Entry> filter) {
        return snapshot.entries().stream().filter(filter).count();
    }

    private static String tool(String... argv) throws IOException {
        return Commands.run(List.of(argv), TIMEOUT).stdoutText();
    }

    @Test
    void descriptionMatchesSnapshot() {
        assertEquals(description.paths() + 1, snapshot.size());
        assertEquals(description.directories() + 1, count(e -> e.type() == FileType.DIRECTORY));
        assertEquals(description.charDevices(), count(e -> e.type() == FileType.CHAR_DEVICE));
        assertEquals(description.blockDevices(), count(e -> e.type() == FileType.BLOCK_DEVICE));
        assertEquals(description.fifos(), count(e -> e.type() == FileType.FIFO));
        assertEquals(description.sockets(), count(e -> e.type() == FileType.SOCKET));
        long xattrs = snapshot.entries().stream().filter(e -> e.hardlinkPeers().isEmpty())
                .mapToLong(e -> e.xattrs().size()).sum();
        // The hard link group of three shares one attribute; the linked symlink shares one.
        assertEquals(description.xattrs(), xattrs + 1 + 1);
    }

    @Test
    void largeDirectorySpansManyBlocks() throws IOException {
        long entries = snapshot.paths().stream()
                .filter(p -> p.toString().startsWith("many/")).count();
        assertEquals(TreeGenerator.LARGE_DIRECTORY_ENTRIES, entries);
        assertTrue(Posix.lstat(root.resolve("many")).size() > 40 * 4096);
        assertEquals(255, snapshot.paths().stream()
                .filter(p -> p.toString().startsWith("many/"))
                .mapToInt(p -> p.fileName().length).max().orElseThrow());
    }

    @Test
    void fileSizesAroundBlockBoundaries() {
        assertEquals(0, entry("files/empty").size());
        assertEquals(1, entry("files/one-byte").size());
        assertEquals(4095, entry("files/4095-bytes").size());
        assertEquals(4096, entry("files/4096-bytes").size());
        assertEquals(4097, entry("files/4097-bytes").size());
        assertEquals(7 << 19, entry("files/multi-chunk-3.5MiB").size());
        assertEquals(entry("files/identical-a").sha256(), entry("files/identical-b").sha256());
    }

    @Test
    void sparseFileHasHoleAndDataAtEnd() throws IOException {
        try (Fd fd = Posix.open(root.resolve("files/sparse-64MiB-data-at-end"),
                OpenFlags.O_RDONLY)) {
            assertEquals(64L << 20, fd.fstat().size());
            assertTrue(fd.fstat().blocks() * 512 <= 64 * 1024, "blocks " + fd.fstat().blocks());
            assertEquals((64L << 20) - 4096, fd.seekData(0).orElseThrow());
        }
    }

    @Test
    void zerosFileIsAllocated() throws IOException {
        assertTrue(Posix.lstat(root.resolve("files/zeros-12MiB")).blocks() * 512 >= 12 << 20);
    }

    @Test
    void symlinksKeepTargets() {
        assertEquals(4095, entry("links/target-4095-bytes").size());
        assertEquals("/etc/hostname", entry("links/absolute").linkTarget().orElseThrow()
                .toString());
        assertEquals("t\\xff\\xfe/\\x80\\x0a", entry("links/non-utf8-target").linkTarget()
                .orElseThrow().toString());
    }

    @Test
    void hardlinkGroupOfThreeAcrossDirectories() {
        List<BytePath> peers = List.of(BytePath.of("hardlinks/original"),
                BytePath.of("hardlinks/sub/second"));
        assertEquals(peers, entry("dirs/third-hardlink").hardlinkPeers());
        assertEquals(3, entry("hardlinks/original").nlink());
        assertEquals(FileType.SYMLINK, entry("hardlinks/symlink-hardlink").type());
        assertEquals(List.of(BytePath.of("links/short")),
                entry("hardlinks/symlink-hardlink").hardlinkPeers());
    }

    @Test
    void devicesKeepLargestKernelNumbers() {
        Entry device = entry("special/block-4095-1048575");
        assertEquals(FileType.BLOCK_DEVICE, device.type());
        assertEquals(4095, device.rdevMajor());
        assertEquals(1048575, device.rdevMinor());
        assertEquals(256, entry("special/char-10-256").rdevMinor());
    }

    @Test
    void aclsReadBackWithGetfacl() throws IOException {
        String acl = tool("getfacl", "-n", "--omit-header",
                root.resolve("xattrs/acl-file").toPath().toString());
        assertEquals("user::rw-\nuser:1000:r--\ngroup::r--\ngroup:2000:rw-\nmask::rw-\n"
                + "other::---\n\n", acl);
        String defaults = tool("getfacl", "-n", "--omit-header", "-d",
                root.resolve("xattrs/acl-directory").toPath().toString());
        assertEquals("user::rwx\ngroup::r-x\ngroup:2000:rwx\nmask::rwx\nother::r-x\n\n",
                defaults);
        assertEquals(0660, entry("xattrs/acl-file").permissions());
    }

    @Test
    void capabilityReadsBackWithGetcap() throws IOException {
        String capability = tool("getcap", root.resolve("xattrs/capability").toPath().toString());
        assertTrue(capability.strip().endsWith("cap_net_bind_service=ep"), capability);
        assertEquals(20, entry("xattrs/capability").xattrs().get("security.capability")
                .replaceAll("\\\\x..", "_").length());
    }

    @Test
    void xattrNamespacesPresent() {
        Map<String, String> several = entry("xattrs/several").xattrs();
        // Sorted by escaped name, so the backslash of \xff sorts before letters.
        assertEquals(List.of("security.c", "trusted.b", "user.\\xff\\x80-name", "user.a",
                "user.empty-value", "user." + "n".repeat(250)), List.copyOf(several.keySet()));
        assertEquals("", several.get("user.empty-value"));
        assertEquals("link", entry("links/short").xattrs().get("trusted.on-symlink"));
    }

    @Test
    void ownersIncludeLargestIds() {
        assertEquals(4294967294L, entry("owners/largest-ids").uid());
        assertEquals(4294967294L, entry("owners/largest-ids").gid());
        assertEquals(1234, entry("owners/symlink-1234-5678").uid());
        Entry setuid = entry("owners/setuid-user-1000");
        assertEquals(1000, setuid.uid());
        assertEquals(04755, setuid.permissions());
    }

    @Test
    void specialModesKept() {
        assertEquals(07777, entry("modes/all-special-bits").permissions());
        assertEquals(0, entry("modes/none").permissions());
        assertEquals(01777, entry("modes/sticky-directory").permissions());
        assertEquals(02775, entry("modes/setgid-directory").permissions());
    }

    @Test
    void timesKeptAfterChildrenCreated() {
        assertEquals(new Timespec(1_700_000_000L, 123_456_789),
                entry("times/nanoseconds").mtime());
        assertEquals(new Timespec(-1_000_000_000L, 987_654_321),
                entry("times/before-1970").mtime());
        assertEquals(new Timespec(0, 0), entry("times/zero").mtime());
        assertEquals(new Timespec(-86_400L, 1), entry("times/symlink").mtime());
        assertEquals(new Timespec(1_690_000_000L, 111_111_111), entry(".").mtime());
        assertEquals(TreeMaker.defaultTime(BytePath.of("many")), entry("many").mtime());
    }

    @Test
    void namesSortingBeforeDotAndNonUtf8() {
        List<String> names = snapshot.paths().stream().map(BytePath::toString)
                .filter(p -> p.startsWith("names/")).collect(Collectors.toList());
        assertTrue(names.indexOf("names/!x") < names.indexOf("names/.hidden"), names.toString());
        assertTrue(names.contains("names/bad\\x80\\xff"), names.toString());
        assertTrue(names.contains("names/\\xfe\\xed-d/in\\xc3"), names.toString());
        assertTrue(names.contains("names/line\\x0abreak"), names.toString());
        assertTrue(names.contains("names/" + "n".repeat(255)), names.toString());
    }

    @Test
    void secondTreeIsIdentical() throws IOException {
        BytePath second = temp.bytes().resolve("second");
        TreeGenerator.createEveryCase(second);
        TreeComparator.assertSameTree(snapshot, TreeSnapshot.capture(second),
                TreeComparator.Options.defaults());
    }

    @Test
    void nonEmptyRootIsRejected() {
        IOException e = assertThrows(IOException.class, () -> TreeGenerator.createSmall(root));
        assertTrue(e.getMessage().contains("empty directory"), e.getMessage());
    }

    @Test
    void featuresCanBeLeftOut() throws IOException {
        BytePath reduced = temp.bytes().resolve("reduced");
        TreeDescription small = TreeGenerator.createEveryCase(reduced, Feature.allExcept(
                Feature.DEVICES, Feature.SOCKETS, Feature.XATTRS, Feature.LARGE_FILES,
                Feature.LONGEST_NAMES));
        assertEquals(0, small.charDevices() + small.blockDevices() + small.sockets());
        assertEquals(0, small.xattrs());
        assertEquals(1, small.fifos());
        TreeSnapshot reducedSnapshot = TreeSnapshot.capture(reduced);
        assertTrue(reducedSnapshot.entry("files/zeros-12MiB").isEmpty());
        assertTrue(reducedSnapshot.entries().stream().allMatch(e -> e.xattrs().isEmpty()));
        int longestName = reducedSnapshot.paths().stream().mapToInt(p -> p.fileName().length)
                .max().orElseThrow();
        assertEquals(254, longestName);
    }
}
