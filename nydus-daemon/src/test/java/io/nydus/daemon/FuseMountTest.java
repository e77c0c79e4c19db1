package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildResult;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeGenerator;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Images mounted through the kernel's FUSE driver by the daemon, with blobs read from a local
 * directory through the blob cache: the mounted tree equals the source.
 */
class FuseMountTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static TempDir work;
    private static Path source;
    private static BuildResult image;

    @BeforeAll
    static void build() throws IOException {
        work = TempDirs.create("fuse-mount-");
        source = work.resolve("source");
        TreeGenerator.createEveryCase(BytePath.of(source));
        Path access = Files.createDirectories(work.resolve("access"));
        Files.setPosixFilePermissions(access, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(Files.writeString(access.resolve("public"), "public\n"),
                PosixFilePermissions.fromString("rw-r--r--"));
        Files.setPosixFilePermissions(Files.writeString(access.resolve("private"), "secret\n"),
                PosixFilePermissions.fromString("rw-------"));
        image = TestImages.build(source, work.resolve("image"));
    }

    @AfterAll
    static void remove() throws IOException {
        work.close();
    }

    private static String localConfig(Path blobs, Path cache) {
        return "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\": {\"dir\": \""
                + blobs + "\"}}, \"cache\": {\"type\": \"blobcache\", \"config\":"
                + " {\"work_dir\": \"" + cache + "\"}}}, \"mode\": \"direct\","
                + " \"digest_validate\": false, \"enable_xattr\": true}";
    }

    /** Returns the body of {@code POST /api/v1/mount} for the test image. */
    private static String mountBody(String config) throws IOException {
        return "{\"source\": \"" + image.bootstrapFile() + "\", \"fs_type\": \"rafs\","
                + " \"config\": " + new com.fasterxml.jackson.databind.ObjectMapper()
                .writeValueAsString(config) + "}";
    }

    private static MountOptions options() {
        return new MountOptions("nydusd", "nydusd", 4, MountOptions.DEFAULT_READ_AHEAD_KIB);
    }

    @Test
    void mountedTreeEqualsSource() throws Exception {
        Path mnt = Files.createDirectories(work.resolve("mnt-single"));
        DaemonConfig config = DaemonConfig.parse("test", localConfig(
                work.resolve("image/blobs"), work.resolve("cache-single")));
        try (Daemon daemon = new Daemon("single", false, StorageImageData::open)) {
            daemon.mount("/", image.bootstrapFile(), config, List.of());
            try (FuseSession session = FuseSession.mount(mnt, daemon.vfs(), options())) {
                TreeComparator.assertSameTree(BytePath.of(source), BytePath.of(mnt),
                        TreeComparator.Options.defaults().ignoringRootMtime());
            }
        }
        assertFalse(TempDirs.isMountPoint(mnt));
    }

    @Test
    void otherUserGetsWhatModesAllow() throws Exception {
        // The other user must be able to walk down to the mount.
        Files.setPosixFilePermissions(work.path(), PosixFilePermissions.fromString("rwxr-xr-x"));
        Path mnt = Files.createDirectories(work.resolve("mnt-access"));
        Path accessImage = work.resolve("access-image");
        BuildResult built = TestImages.build(work.resolve("access"), accessImage);
        DaemonConfig config = DaemonConfig.parse("test", localConfig(
                accessImage.resolve("blobs"), work.resolve("cache-access")));
        try (Daemon daemon = new Daemon("access", false, StorageImageData::open)) {
            daemon.mount("/", built.bootstrapFile(), config, List.of());
            try (FuseSession session = FuseSession.mount(mnt, daemon.vfs(), options())) {
                CommandResult readable = asUser1000("cat", mnt.resolve("public").toString());
                assertEquals(0, readable.exitCode(), readable.stderrText());
                assertEquals("public\n", readable.stdoutText());
                CommandResult denied = asUser1000("cat", mnt.resolve("private").toString());
                assertNotEquals(0, denied.exitCode());
                assertTrue(denied.stderrText().contains("Permission denied"), denied.stderrText());
            }
        }
    }

    @Test
    void imageXattrsServedWithXattrDisabled() throws Exception {
        Path tree = Files.createDirectories(work.resolve("xattr-source"));
        Path file = Files.writeString(tree.resolve("tagged"), "tagged\n");
        Files.getFileAttributeView(file, UserDefinedFileAttributeView.class)
                .write("demo", StandardCharsets.US_ASCII.encode("value"));
        BuildResult built = TestImages.build(tree, work.resolve("xattr-image"));
        Path mnt = Files.createDirectories(work.resolve("mnt-xattr"));
        // Upstream serves the xattrs of an image that has some, whatever enable_xattr is set to.
        String json = localConfig(work.resolve("xattr-image/blobs"), work.resolve("cache-xattr"))
                .replace("\"enable_xattr\": true", "\"enable_xattr\": false");
        DaemonConfig config = DaemonConfig.parse("test", json);
        try (Daemon daemon = new Daemon("xattr", false, StorageImageData::open)) {
            daemon.mount("/", built.bootstrapFile(), config, List.of());
            try (FuseSession session = FuseSession.mount(mnt, daemon.vfs(), options())) {
                UserDefinedFileAttributeView view = Files.getFileAttributeView(
                        mnt.resolve("tagged"), UserDefinedFileAttributeView.class);
                assertEquals(List.of("demo"), view.list());
                ByteBuffer value = ByteBuffer.allocate(16);
                view.read("demo", value);
                assertEquals("value", new String(value.array(), 0, value.position(),
                        StandardCharsets.US_ASCII));
            }
        }
    }

    private static CommandResult asUser1000(String... command) throws IOException {
        List<String> argv = new java.util.ArrayList<>(List.of("setpriv", "--reuid=1000",
                "--regid=1000", "--clear-groups"));
        argv.addAll(List.of(command));
        return Commands.runAllowingFailure(argv, TIMEOUT, new byte[0]);
    }

    /**
     * A daemon in shared mode, mounted at {@code mnt} with its API on {@code socket}, and the
     * body of a mount request for the test image.
     */
    private record SharedDaemon(Path mnt, Path socket, String body, Daemon daemon,
            FuseSession session, ApiServer api) implements AutoCloseable {

        /** Starts a daemon whose mount point, socket and cache are named after {@code name}. */
        static SharedDaemon start(String name) throws IOException {
            Path mnt = Files.createDirectories(work.resolve("mnt-" + name));
            Path socket = work.resolve(name + ".sock");
            String body = mountBody(localConfig(work.resolve("image/blobs"),
                    work.resolve("cache-" + name)));
            Daemon daemon = new Daemon(name, true, StorageImageData::open);
            FuseSession session = null;
            try {
                session = FuseSession.mount(mnt, daemon.vfs(), options());
                ApiServer api = ApiServer.start(socket, daemon, "test", level -> { });
                daemon.running(mnt.toString());
                return new SharedDaemon(mnt, socket, body, daemon, session, api);
            } catch (IOException | RuntimeException e) {
                try (daemon; FuseSession opened = session) {
                    throw e;
                }
            }
        }

        @Override
        public void close() throws IOException {
            try (daemon; session; api) {
                // The statement closes the API, the mount and the daemon, in this order.
            }
        }
    }

    @Test
    void sharedDaemonMountsThroughTheApi() throws Exception {
        try (SharedDaemon shared = SharedDaemon.start("shared")) {
            Path mnt = shared.mnt();
            Path socket = shared.socket();
            assertEquals(204, ApiClient.send(socket, "POST", "/api/v1/mount?mountpoint=/image",
                    shared.body()).status());
            TreeComparator.assertSameTree(BytePath.of(source), BytePath.of(mnt.resolve("image")),
                    TreeComparator.Options.defaults().ignoringRootMtime());
            assertEquals(204, ApiClient.send(socket, "DELETE",
                    "/api/v1/mount?mountpoint=/image", null).status());
            assertFalse(Files.exists(mnt.resolve("image")));
        }
    }

    @Test
    void sharedRootShowsRuntimeMountsAtOnce() throws Exception {
        Path mnt = Files.createDirectories(work.resolve("mnt-listing"));
        Path socket = work.resolve("listing.sock");
        String body = mountBody(localConfig(work.resolve("image/blobs"),
                work.resolve("cache-listing")));
        try (Daemon daemon = new Daemon("listing", true, StorageImageData::open);
                FuseSession session = FuseSession.mount(mnt, daemon.vfs(), options());
                ApiServer api = ApiServer.start(socket, daemon, "test", level -> { })) {
            daemon.running(mnt.toString());
            // Listing and stat first put the root's listing and attributes in the kernel.
            String emptyListing = run("ls", "-a", mnt.toString());
            String emptyRoot = run("stat", "-c", "%h %y", mnt.toString());
            int mounted = ApiClient.send(socket, "POST", "/api/v1/mount?mountpoint=/x1", body)
                    .status();
            String mountedListing = run("ls", "-a", mnt.toString());
            String mountedRoot = run("stat", "-c", "%h %y", mnt.toString());
            String imageListing = run("ls", mnt.resolve("x1").toString());
            int unmounted = ApiClient.send(socket, "DELETE", "/api/v1/mount?mountpoint=/x1",
                    null).status();
            String unmountedListing = run("ls", "-a", mnt.toString());
            String unmountedRoot = run("stat", "-c", "%h", mnt.toString());
            CommandResult statOfUnmounted = Commands.runAllowingFailure(
                    List.of("stat", mnt.resolve("x1").toString()), TIMEOUT, new byte[0]);

            assertEquals(".\n..\n", emptyListing);
            assertEquals(204, mounted);
            assertEquals(".\n..\nx1\n", mountedListing);
            assertTrue(mountedRoot.startsWith("3 "), mountedRoot);
            assertNotEquals(emptyRoot.substring(2), mountedRoot.substring(2));
            assertFalse(imageListing.isEmpty());
            assertEquals(204, unmounted);
            assertEquals(".\n..\n", unmountedListing);
            assertEquals("2\n", unmountedRoot);
            assertNotEquals(0, statOfUnmounted.exitCode());
            assertTrue(statOfUnmounted.stderrText().contains("No such file or directory"),
                    statOfUnmounted.stderrText());
        }
        assertFalse(TempDirs.isMountPoint(mnt));
    }

    @Test
    void sharedRootListsNothingPastItsEnd() throws Exception {
        try (SharedDaemon shared = SharedDaemon.start("seekdir")) {
            assertEquals(204, ApiClient.send(shared.socket(), "POST",
                    "/api/v1/mount?mountpoint=/a", shared.body()).status());
            assertEquals(204, ApiClient.send(shared.socket(), "POST",
                    "/api/v1/mount?mountpoint=/b", shared.body()).status());
            // Positions past the two images, as a program's seekdir or lseek may set them. The
            // images in slots 1 and 2 are at offsets 4 and 5.
            try (Fd root = Posix.open(BytePath.of(shared.mnt()), OpenFlags.O_RDONLY
                    | OpenFlags.O_DIRECTORY)) {
                assertEquals(List.of("b"), names(Posix.readdir(root, 4)));
                assertEquals(List.of(), names(Posix.readdir(root, 5)));
                assertEquals(List.of(), names(Posix.readdir(root, 1L << 32 | 2)));
                assertEquals(List.of(), names(Posix.readdir(root, 1L << 31)));
                assertEquals(List.of(), names(Posix.readdir(root, Long.MAX_VALUE)));
                assertEquals(List.of("a", "b"), names(Posix.readdir(root, 0)));
            }
        }
    }

    /**
     * A listing resumed after an unmount goes on where it stopped, because each image keeps
     * its offset while it is mounted.
     */
    @Test
    void sharedRootListingResumesPastUnmount() throws Exception {
        try (SharedDaemon shared = SharedDaemon.start("resume")) {
            for (String name : List.of("a", "b", "c")) {
                assertEquals(204, ApiClient.send(shared.socket(), "POST",
                        "/api/v1/mount?mountpoint=/" + name, shared.body()).status());
            }
            try (Fd root = Posix.open(BytePath.of(shared.mnt()), OpenFlags.O_RDONLY
                    | OpenFlags.O_DIRECTORY)) {
                // The offset of "b", where a listing that read ".", "..", "a" and "b" goes on.
                long afterB = 5;
                assertEquals(204, ApiClient.send(shared.socket(), "DELETE",
                        "/api/v1/mount?mountpoint=/a", null).status());

                assertEquals(List.of("c"), names(Posix.readdir(root, afterB)));
            }
        }
    }

    private static List<String> names(List<byte[]> names) {
        return names.stream().map(String::new).toList();
    }

    /** Runs a command on the mount, with a timeout in case the daemon stops replying. */
    private static String run(String... command) throws IOException {
        return Commands.run(List.of(command), TIMEOUT).stdoutText();
    }
}
