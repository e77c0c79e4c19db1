package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.BuildResult;
import io.nydus.fuse.DirEntry;
import io.nydus.fuse.DirSink;
import io.nydus.fuse.Entry;
import io.nydus.fuse.FuseException;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The per-operation figures of {@code GET /api/v1/metrics} while the kernel's FUSE driver
 * serves an image: each test takes the figures before and after some system calls on the mount
 * and checks what changed.
 */
class FileOperationMetricsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Makes statx ask the file system for fresh attributes instead of the kernel's cache. */
    private static final int AT_STATX_FORCE_SYNC = 0x2000;
    private static final int FILE_SIZE = 5000;
    /** Upper bound of the wait for the RELEASE that the kernel sends after a close. */
    private static final long RELEASE_WAIT_MILLIS = 30_000;

    private TempDir work;
    private Path mnt;
    private Daemon daemon;
    private FuseSession session;
    private ApiServer api;
    private Path socket;

    @BeforeEach
    void mount() throws IOException {
        work = TempDirs.create("fop-metrics-");
        Path source = Files.createDirectories(work.resolve("source"));
        Path hello = Files.writeString(source.resolve("hello"), "h".repeat(FILE_SIZE));
        Files.getFileAttributeView(hello, UserDefinedFileAttributeView.class)
                .write("demo", StandardCharsets.US_ASCII.encode("value"));
        Files.writeString(Files.createDirectories(source.resolve("dir")).resolve("inner"), "x");
        Files.createSymbolicLink(source.resolve("link"), Path.of("hello"));
        daemon = new Daemon("fop-metrics", false, StorageImageData::open);
        daemon.mount("/", buildImage(source, "image"), config("image", true), List.of());
        mnt = Files.createDirectories(work.resolve("mnt"));
        session = FuseSession.mount(mnt, daemon.vfs(), options());
        socket = work.resolve("api.sock");
        api = ApiServer.start(socket, daemon, "test", level -> { });
        daemon.running(mnt.toString());
    }

    @AfterEach
    void unmount() throws IOException {
        try (TempDir dir = work; Daemon closedLast = daemon; FuseSession mounted = session;
                ApiServer server = api) {
            // The statement closes the API, the mount, the daemon and the directory.
        }
    }

    private BuildResult build(Path source, String name) throws IOException {
        return TestImages.build(source, work.resolve(name));
    }

    private Path buildImage(Path source, String name) throws IOException {
        return build(source, name).bootstrapFile();
    }

    /**
     * Returns a configuration that reads the blobs of image {@code name} from its directory,
     * with {@code iostats_files}, {@code access_pattern} and {@code latest_read_files} set to
     * {@code recordFiles}.
     */
    private DaemonConfig config(String name, boolean recordFiles) throws IOException {
        String json = "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\": {\"dir\": \""
                + work.resolve(name + "/blobs") + "\"}}, \"cache\": {\"type\": \"blobcache\","
                + " \"config\": {\"work_dir\": \"" + work.resolve("cache-" + name) + "\"}}},"
                + " \"mode\": \"direct\", \"digest_validate\": false, \"enable_xattr\": true,"
                + " \"iostats_files\": " + recordFiles + ", \"access_pattern\": " + recordFiles
                + ", \"latest_read_files\": " + recordFiles + ","
                + " \"fs_prefetch\": {\"enable\": false}}";
        return DaemonConfig.parse("test", json);
    }

    private static MountOptions options() {
        return new MountOptions("nydusd", "nydusd", 4, MountOptions.DEFAULT_READ_AHEAD_KIB);
    }

    private JsonNode metrics() throws IOException {
        return get("/api/v1/metrics");
    }

    private JsonNode get(String path) throws IOException {
        ApiClient.Response response = ApiClient.send(socket, "GET", path, null);
        assertEquals(200, response.status(), response.body());
        return JSON.readTree(response.body());
    }

    private long inode(String name) throws IOException {
        return ((Number) Files.getAttribute(mnt.resolve(name), "unix:ino")).longValue();
    }

    private static long hits(JsonNode metrics, FileOperation operation) {
        return metrics.path("fop_hits").path(operation.ordinal()).asLong();
    }

    private static long errors(JsonNode metrics, FileOperation operation) {
        return metrics.path("fop_errors").path(operation.ordinal()).asLong();
    }

    private static long sum(JsonNode array) {
        long total = 0;
        for (JsonNode value : array) {
            total += value.asLong();
        }
        return total;
    }

    private static String hex(String text) {
        return HexFormat.of().formatHex(text.getBytes(StandardCharsets.US_ASCII));
    }

    private BytePath path(String name) {
        return BytePath.of(mnt.resolve(name));
    }

    @Test
    void globalFieldsFollowUpstream() throws IOException {
        JsonNode metrics = metrics();

        List<String> names = List.of("files_account_enabled", "access_pattern_enabled",
                "record_latest_read_files_enabled", "measure_latency", "id", "nr_opens",
                "data_read", "block_count_read", "fop_hits", "fop_errors",
                "fop_cumulative_latency_total", "read_latency_dist");
        List<String> fields = new ArrayList<>();
        metrics.fieldNames().forEachRemaining(fields::add);
        assertEquals(names, fields);
        assertEquals(15, metrics.path("fop_hits").size(), metrics.toString());
        assertEquals(15, metrics.path("fop_errors").size(), metrics.toString());
        assertEquals(15, metrics.path("fop_cumulative_latency_total").size(),
                metrics.toString());
        assertEquals(8, metrics.path("block_count_read").size(), metrics.toString());
        assertEquals(8, metrics.path("read_latency_dist").size(), metrics.toString());
        assertTrue(metrics.path("measure_latency").asBoolean(), metrics.toString());
    }

    @Test
    void warmUpLeavesCountsAtZero() throws IOException {
        // Daemon.mount warms the image up with lookups, getattrs and readdirs.
        try (Daemon unmounted = new Daemon("warm-up", false, StorageImageData::open)) {
            Path source = Files.createDirectories(work.resolve("warm-source"));
            Files.writeString(Files.createDirectories(source.resolve("a")).resolve("b"), "b");
            unmounted.mount("/", buildImage(source, "warm"), config("warm", true), List.of());

            JsonNode metrics = JSON.valueToTree(unmounted.image(null).metrics().global());

            assertEquals(0, sum(metrics.path("fop_hits")), metrics.toString());
            assertEquals(0, sum(metrics.path("fop_errors")), metrics.toString());
        }
    }

    @Test
    void missingNameCountsAsLookupHit() throws IOException {
        JsonNode before = metrics();

        for (int i = 0; i < 3; i++) {
            assertTrue(Files.notExists(mnt.resolve("absent")));
        }

        JsonNode after = metrics();
        assertEquals(3, hits(after, FileOperation.LOOKUP) - hits(before, FileOperation.LOOKUP),
                after.toString());
        assertEquals(0, errors(after, FileOperation.LOOKUP)
                - errors(before, FileOperation.LOOKUP), after.toString());
    }

    @Test
    void forcedStatCountsGetattr() throws IOException {
        Syscalls.statx(path("hello"), 0);
        JsonNode before = metrics();

        Syscalls.statx(path("hello"), AT_STATX_FORCE_SYNC);
        Syscalls.statx(path("hello"), AT_STATX_FORCE_SYNC);

        JsonNode after = metrics();
        assertEquals(2, hits(after, FileOperation.GETATTR)
                - hits(before, FileOperation.GETATTR), after.toString());
        assertEquals(0, errors(after, FileOperation.GETATTR), after.toString());
    }

    @Test
    void readCountsBytesSizesAndOpenFiles() throws Exception {
        Syscalls.statx(path("hello"), 0);
        JsonNode before = metrics();
        JsonNode whileOpen;
        try (FileChannel channel = FileChannel.open(mnt.resolve("hello"))) {
            whileOpen = metrics();
            ByteBuffer buffer = ByteBuffer.allocate(FILE_SIZE * 2);
            while (channel.read(buffer) > 0) {
                // Reads to the end of the file.
            }
            assertEquals(FILE_SIZE, buffer.position());
        }

        JsonNode after = awaitReleases(hits(before, FileOperation.RELEASE) + 1);
        assertEquals(1, hits(whileOpen, FileOperation.OPEN) - hits(before, FileOperation.OPEN),
                whileOpen.toString());
        assertEquals(1, whileOpen.path("nr_opens").asLong(), whileOpen.toString());
        assertEquals(0, after.path("nr_opens").asLong(), after.toString());
        assertEquals(FILE_SIZE, after.path("data_read").asLong()
                - before.path("data_read").asLong(), after.toString());
        long reads = hits(after, FileOperation.READ);
        assertTrue(reads > hits(before, FileOperation.READ), after.toString());
        assertEquals(0, errors(after, FileOperation.READ), after.toString());
        // The one read that returned data took 5000 bytes, in the 4 KiB to 16 KiB bucket.
        assertEquals(1, after.path("block_count_read").path(2).asLong(), after.toString());
        assertEquals(reads, sum(after.path("block_count_read")), after.toString());
        assertEquals(reads, sum(after.path("read_latency_dist")), after.toString());
    }

    /**
     * Returns the metrics once {@code releases} files have been released. The kernel sends
     * RELEASE in the background after the last close, so it may arrive after close returns.
     */
    private JsonNode awaitReleases(long releases) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + RELEASE_WAIT_MILLIS;
        JsonNode metrics = metrics();
        while (hits(metrics, FileOperation.RELEASE) < releases
                && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
            metrics = metrics();
        }
        assertEquals(releases, hits(metrics, FileOperation.RELEASE), metrics.toString());
        return metrics;
    }

    @Test
    void listingCountsOpendirAndReaddir() throws IOException {
        Syscalls.statx(path("dir"), 0);
        JsonNode before = metrics();

        List<Path> entries;
        try (Stream<Path> listing = Files.list(mnt.resolve("dir"))) {
            entries = listing.toList();
        }

        JsonNode after = metrics();
        assertEquals(List.of(mnt.resolve("dir/inner")), entries);
        assertEquals(1, hits(after, FileOperation.OPENDIR)
                - hits(before, FileOperation.OPENDIR), after.toString());
        long listings = hits(after, FileOperation.READDIR) + hits(after, FileOperation.READDIRPLUS)
                - hits(before, FileOperation.READDIR) - hits(before, FileOperation.READDIRPLUS);
        assertTrue(listings >= 1, after.toString());
        assertEquals(0, errors(after, FileOperation.READDIR)
                + errors(after, FileOperation.READDIRPLUS), after.toString());
    }

    @Test
    void xattrCallsCountMissingNameAsHit() throws IOException {
        Syscalls.statx(path("hello"), 0);
        JsonNode before = metrics();

        String present = Syscalls.getxattr(path("hello"), "user.demo".getBytes(), 64, true);
        String missing = Syscalls.getxattr(path("hello"), "user.none".getBytes(), 64, true);
        String names = Syscalls.listxattr(path("hello"), 256, true);

        JsonNode after = metrics();
        assertEquals("5:" + hex("value"), present);
        assertEquals("ENODATA", missing);
        assertEquals("10:" + hex("user.demo") + "00", names);
        assertEquals(2, hits(after, FileOperation.GETXATTR)
                - hits(before, FileOperation.GETXATTR), after.toString());
        assertEquals(0, errors(after, FileOperation.GETXATTR), after.toString());
        assertEquals(1, hits(after, FileOperation.LISTXATTR)
                - hits(before, FileOperation.LISTXATTR), after.toString());
    }

    @Test
    void xattrRangeErrorsCountAsUpstream() throws IOException {
        Syscalls.statx(path("hello"), 0);
        JsonNode before = metrics();

        String value = Syscalls.getxattr(path("hello"), "user.demo".getBytes(), 2, true);
        String names = Syscalls.listxattr(path("hello"), 2, true);

        JsonNode after = metrics();
        assertEquals("ERANGE", value);
        assertEquals("ERANGE", names);
        // Upstream checks getxattr's buffer before it counts the call, and listxattr's after.
        assertCounted(before, after, FileOperation.GETXATTR, 0, 1);
        assertCounted(before, after, FileOperation.LISTXATTR, 1, 0);
    }

    @Test
    void tooLongNameCountsAsLookupHit() throws IOException {
        JsonNode before = metrics();

        String outcome = Syscalls.access(path("n".repeat(300)), 0);

        JsonNode after = metrics();
        assertEquals("ENAMETOOLONG", outcome);
        assertCounted(before, after, FileOperation.LOOKUP, 1, 0);
    }

    /** Checks that {@code operation} gained {@code hits} hits and {@code errors} errors. */
    private static void assertCounted(JsonNode before, JsonNode after, FileOperation operation,
            long hits, long errors) {
        assertEquals(hits, hits(after, operation) - hits(before, operation),
                operation + " hits in " + after);
        assertEquals(errors, errors(after, operation) - errors(before, operation),
                operation + " errors in " + after);
    }

    @Test
    void openForWritingCountsOpenError() throws Exception {
        // The kernel rejects writes on the read-only mount itself, so only a mount remounted
        // read-write sends the daemon an open for writing.
        remount("rw");
        JsonNode before = metrics();

        IOException e = assertThrows(IOException.class, () -> FileChannel.open(
                mnt.resolve("hello"), StandardOpenOption.WRITE).close());

        JsonNode after = metrics();
        assertTrue(e.getMessage().contains("Read-only file system"), e.toString());
        assertCounted(before, after, FileOperation.OPEN, 0, 1);
        remount("ro");
    }

    private void remount(String mode) throws IOException, InterruptedException {
        Process mount = new ProcessBuilder("mount", "--internal-only", "-o", "remount," + mode,
                mnt.toString())
                .redirectErrorStream(true).start();
        String output = new String(mount.getInputStream().readAllBytes(),
                StandardCharsets.UTF_8);
        assertEquals(0, mount.waitFor(), output);
    }

    @Test
    void readlinkAndStatfsCount() throws IOException {
        Syscalls.statx(path("link"), Syscalls.AT_SYMLINK_NOFOLLOW);
        JsonNode before = metrics();

        String target = Syscalls.readlink(path("link"), 64);
        long total = Files.getFileStore(mnt).getTotalSpace();

        JsonNode after = metrics();
        assertEquals("5:" + hex("hello"), target);
        assertTrue(total >= 0);
        assertEquals(1, hits(after, FileOperation.READLINK)
                - hits(before, FileOperation.READLINK), after.toString());
        assertTrue(hits(after, FileOperation.STATFS) > hits(before, FileOperation.STATFS),
                after.toString());
    }

    @Test
    void failedBlobReadCountsReadError() throws Exception {
        Path source = Files.createDirectories(work.resolve("broken-source"));
        Files.writeString(source.resolve("data"), "d".repeat(FILE_SIZE));
        BuildResult broken = build(source, "broken");
        Path brokenMnt = Files.createDirectories(work.resolve("broken-mnt"));
        try (Daemon brokenDaemon = new Daemon("broken", false, StorageImageData::open)) {
            brokenDaemon.mount("/", broken.bootstrapFile(), config("broken", true),
                    List.of());
            try (FuseSession mounted = FuseSession.mount(brokenMnt, brokenDaemon.vfs(),
                    options());
                    Stream<Path> blobs = Files.list(work.resolve("broken/blobs"))) {
                for (Path blob : blobs.toList()) {
                    try (FileChannel channel = FileChannel.open(blob,
                            StandardOpenOption.WRITE)) {
                        channel.truncate(0);
                    }
                }

                assertThrows(IOException.class,
                        () -> Files.readAllBytes(brokenMnt.resolve("data")));

                JsonNode metrics = JSON.valueToTree(brokenDaemon.image(null).metrics().global());
                assertTrue(errors(metrics, FileOperation.READ) >= 1, metrics.toString());
                assertEquals(0, hits(metrics, FileOperation.READ), metrics.toString());
                assertEquals(0, metrics.path("data_read").asLong(), metrics.toString());
                assertEquals(0, sum(metrics.path("read_latency_dist")), metrics.toString());
            }
        }
    }

    @Test
    void errnoRepliesCountAsErrors() throws Exception {
        Vfs vfs = daemon.vfs();
        long file = vfs.lookup(FuseFileSystem.ROOT, "hello".getBytes()).attr().inode();
        long dir = vfs.lookup(FuseFileSystem.ROOT, "dir".getBytes()).attr().inode();
        long unknown = 1L << 40;
        JsonNode before = metrics();

        assertErrno(Errno.ENOTDIR, () -> vfs.lookup(file, "x".getBytes()));
        assertErrno(Errno.ENOENT, () -> vfs.getattr(unknown));
        assertErrno(Errno.EINVAL, () -> vfs.readlink(file));
        assertErrno(Errno.EISDIR, () -> vfs.open(dir, 0));
        assertErrno(Errno.ENOTDIR, () -> vfs.opendir(file));
        assertErrno(Errno.ENOTDIR, () -> vfs.readdir(file, 0, 0, new DirSink() {
            @Override
            public boolean wantsAttributes() {
                return false;
            }

            @Override
            public boolean add(DirEntry dirEntry, Entry entry) {
                return true;
            }
        }));
        assertErrno(Errno.ENOENT, () -> vfs.getxattr(unknown, "user.demo".getBytes()));
        assertErrno(Errno.ENOENT, () -> vfs.listxattr(unknown));
        assertErrno(Errno.ENOENT, () -> vfs.access(unknown, 0));
        assertErrno(Errno.EINVAL, () -> vfs.read(dir, 0, 0, MemorySegment.ofArray(new byte[16])));

        JsonNode after = metrics();
        for (FileOperation operation : List.of(FileOperation.LOOKUP, FileOperation.GETATTR,
                FileOperation.READLINK, FileOperation.OPEN, FileOperation.OPENDIR,
                FileOperation.READDIR, FileOperation.GETXATTR, FileOperation.LISTXATTR,
                FileOperation.ACCESS, FileOperation.READ)) {
            assertEquals(1, errors(after, operation) - errors(before, operation),
                    operation + " in " + after);
        }
    }

    /** A call of the file system that should fail. */
    private interface FailingCall {
        void run() throws FuseException;
    }

    private static void assertErrno(int errno, FailingCall call) {
        FuseException e = assertThrows(FuseException.class, call::run);
        assertEquals(errno, e.errno(), e.getMessage());
    }

    @Test
    void forgetsCountPerRequest() throws Exception {
        Vfs vfs = daemon.vfs();
        long file = vfs.lookup(FuseFileSystem.ROOT, "hello".getBytes()).attr().inode();
        long dir = vfs.lookup(FuseFileSystem.ROOT, "dir".getBytes()).attr().inode();
        JsonNode before = metrics();

        vfs.forget(file, 1);
        vfs.batchForget(new long[] {file, dir}, new long[] {1, 1});
        vfs.access(file, 0);

        JsonNode after = metrics();
        assertEquals(1, hits(after, FileOperation.FORGET) - hits(before, FileOperation.FORGET),
                after.toString());
        assertEquals(1, hits(after, FileOperation.BATCH_FORGET)
                - hits(before, FileOperation.BATCH_FORGET), after.toString());
        assertEquals(1, hits(after, FileOperation.ACCESS) - hits(before, FileOperation.ACCESS),
                after.toString());
    }

    @Test
    void prometheusShowsOperationCounts() throws IOException {
        assertTrue(Files.notExists(mnt.resolve("absent")));
        JsonNode metrics = metrics();

        String text = ApiClient.send(socket, "GET", "/metrics", null).body();

        String labels = "{mountpoint=\"/\",op=\"lookup\"}";
        // The kernel may look names up between the two requests, never fewer.
        long lookups = Long.parseLong(valueOf(text, "nydusd_fop_hits_total" + labels));
        assertTrue(lookups >= hits(metrics, FileOperation.LOOKUP), text);
        assertTrue(text.contains("# TYPE nydusd_fop_errors_total counter\n"), text);
        assertTrue(text.contains("nydusd_fop_errors_total" + labels + " 0\n"), text);
        assertTrue(text.contains("# TYPE nydusd_open_files gauge\n"), text);
        assertTrue(text.contains("# TYPE nydusd_read_size_bytes histogram\n"), text);
        assertTrue(text.contains("nydusd_read_size_bytes_bucket{mountpoint=\"/\",le=\"1023\"} "),
                text);
        assertTrue(text.contains("nydusd_fop_latency_seconds_total{mountpoint=\"/\","
                + "op=\"batch_forget\"} "), text);
    }

    @Test
    void filesEndpointHasUpstreamShape() throws IOException {
        long hello = inode("hello");

        byte[] data = Files.readAllBytes(mnt.resolve("hello"));

        JsonNode files = get("/api/v1/metrics/files");
        JsonNode file = files.path(Long.toString(hello));
        assertEquals(FILE_SIZE, data.length);
        assertTrue(file.isObject(), files.toString());
        List<String> fields = new ArrayList<>();
        file.fieldNames().forEachRemaining(fields::add);
        assertEquals(List.of("total_fops", "data_read", "block_count_read", "fop_hits",
                "fop_errors"), fields);
        assertEquals(FILE_SIZE, file.path("data_read").asLong(), file.toString());
        assertEquals(8, file.path("block_count_read").size(), file.toString());
        assertEquals(15, file.path("fop_hits").size(), file.toString());
        assertEquals(15, file.path("fop_errors").size(), file.toString());
        long reads = file.path("fop_hits").path(FileOperation.READ.ordinal()).asLong();
        assertTrue(reads >= 1, file.toString());
        assertEquals(reads, sum(file.path("block_count_read")), file.toString());
        assertEquals(sum(file.path("fop_hits")) + sum(file.path("fop_errors")),
                file.path("total_fops").asLong(), file.toString());
    }

    @Test
    void filesCountCallsOnTheFileOnly() throws IOException {
        long hello = inode("hello");
        long dir = inode("dir");
        JsonNode before = get("/api/v1/metrics/files");

        Syscalls.statx(path("hello"), AT_STATX_FORCE_SYNC);
        Syscalls.statx(path("hello"), AT_STATX_FORCE_SYNC);
        String missing = Syscalls.getxattr(path("hello"), "user.none".getBytes(), 64, true);

        JsonNode after = get("/api/v1/metrics/files");
        assertEquals("ENODATA", missing);
        JsonNode file = after.path(Long.toString(hello));
        JsonNode fileBefore = before.path(Long.toString(hello));
        assertEquals(2, fileHits(file, FileOperation.GETATTR)
                - fileHits(fileBefore, FileOperation.GETATTR), after.toString());
        assertEquals(1, fileHits(file, FileOperation.GETXATTR)
                - fileHits(fileBefore, FileOperation.GETXATTR), after.toString());
        assertEquals(before.path(Long.toString(dir)), after.path(Long.toString(dir)));
    }

    private static long fileHits(JsonNode file, FileOperation operation) {
        return file.path("fop_hits").path(operation.ordinal()).asLong();
    }

    @Test
    void latestReadFilesEmptyAfterRequest() throws IOException {
        long hello = inode("hello");
        long inner = inode("dir/inner");
        get("/api/v1/metrics/files?latest=true");

        Files.readAllBytes(mnt.resolve("hello"));
        Files.readAllBytes(mnt.resolve("dir/inner"));

        JsonNode latest = get("/api/v1/metrics/files?latest=true");
        JsonNode again = get("/api/v1/metrics/files?latest=true");
        List<Long> read = new ArrayList<>();
        for (JsonNode run : latest) {
            assertTrue(run.size() == 1 || run.size() == 2, latest.toString());
            for (long id = run.get(0).asLong(); id <= run.get(run.size() - 1).asLong(); id++) {
                read.add(id);
            }
        }
        assertEquals(List.of(Math.min(hello, inner), Math.max(hello, inner)), read);
        assertTrue(again.isArray(), again.toString());
        assertEquals(0, again.size(), again.toString());
        assertTrue(metrics().path("record_latest_read_files_enabled").asBoolean());
    }

    @Test
    void patternHasFirstReadOfEachFile() throws IOException {
        long hello = inode("hello");
        long secondBefore = Instant.now().getEpochSecond();

        Files.readAllBytes(mnt.resolve("hello"));

        long secondAfter = Instant.now().getEpochSecond();
        JsonNode pattern = get("/api/v1/metrics/pattern");
        assertEquals(1, pattern.size(), pattern.toString());
        JsonNode row = pattern.get(0);
        List<String> fields = new ArrayList<>();
        row.fieldNames().forEachRemaining(fields::add);
        assertEquals(List.of("ino", "nr_read", "first_access_time_secs",
                "first_access_time_nanos", "path"), fields);
        assertEquals(hello, row.path("ino").asLong(), row.toString());
        assertTrue(row.path("nr_read").asLong() >= 1, row.toString());
        long second = row.path("first_access_time_secs").asLong();
        assertTrue(second >= secondBefore, row.toString());
        assertTrue(second <= secondAfter, row.toString());
        long nanos = row.path("first_access_time_nanos").asLong();
        assertTrue(nanos >= 0, row.toString());
        assertTrue(nanos < 1_000_000_000, row.toString());
        assertEquals("/hello", row.path("path").asText(), row.toString());
    }

    @Test
    void fileRecordingOffRecordsNothing() throws Exception {
        Path source = Files.createDirectories(work.resolve("quiet-source"));
        Files.writeString(source.resolve("data"), "q".repeat(FILE_SIZE));
        Path quietMnt = Files.createDirectories(work.resolve("quiet-mnt"));
        Path quietSocket = work.resolve("quiet.sock");
        try (Daemon quiet = new Daemon("quiet", false, StorageImageData::open)) {
            quiet.mount("/", buildImage(source, "quiet"), config("quiet", false), List.of());
            try (FuseSession mounted = FuseSession.mount(quietMnt, quiet.vfs(), options());
                    ApiServer quietApi = ApiServer.start(quietSocket, quiet, "test",
                            level -> { })) {
                assertEquals(FILE_SIZE, Files.readAllBytes(quietMnt.resolve("data")).length);

                String files = ApiClient.send(quietSocket, "GET", "/api/v1/metrics/files",
                        null).body();
                String latest = ApiClient.send(quietSocket, "GET",
                        "/api/v1/metrics/files?latest=true", null).body();
                String pattern = ApiClient.send(quietSocket, "GET", "/api/v1/metrics/pattern",
                        null).body();
                JsonNode global = JSON.valueToTree(quiet.image(null).metrics().global());
                assertEquals("{}", files);
                assertEquals("[]", latest);
                assertEquals("[]", pattern);
                assertEquals(FILE_SIZE, global.path("data_read").asLong(), global.toString());
            }
        }
    }

    private static String valueOf(String text, String series) {
        for (String line : text.split("\n")) {
            if (line.startsWith(series + " ")) {
                return line.substring(series.length() + 1);
            }
        }
        throw new AssertionError(series + " is missing from\n" + text);
    }
}
