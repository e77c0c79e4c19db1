package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.cli.acceptance.NydusdProcess;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * nydusctl against a real nydusd: a shared daemon with one image at /one on a FUSE mount, and
 * its API socket.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NydusctlTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TempDir work;
    private Path mountpoint;
    private Path socket;
    private Path config;
    private Process daemon;

    @BeforeAll
    void startDaemon() throws Exception {
        work = TempDirs.create("nydusctl-");
        Path blobs = work.resolve("blobs");
        Path bootstrap = buildImage("one", "a", "hello", blobs);
        config = Files.writeString(work.resolve("config.json"), """
                {"device": {"backend": {"type": "localfs", "config": {"dir": "%s"}},
                 "cache": {"type": "blobcache", "config": {"work_dir": "%s"}}}}"""
                .formatted(blobs, work.resolve("cache")));
        mountpoint = Files.createDirectory(work.resolve("mnt"));
        socket = work.resolve("api.sock");
        Path log = work.resolve("nydusd.log");
        daemon = NydusdProcess.start(config, bootstrap, mountpoint, socket, log,
                "--virtual-mountpoint", "/one", "--rlimit-nofile", "0");
        NydusdProcess.awaitSocket(daemon, socket, log);
        // The API listens once the FUSE mount is made.
        assertTrue(TempDirs.isMountPoint(mountpoint), "nydusd serves no mount");
    }

    @AfterAll
    void stopDaemon() throws Exception {
        try {
            if (daemon != null) {
                daemon.destroy();
                assertTrue(daemon.waitFor(30, TimeUnit.SECONDS), "nydusd did not stop");
                assertFalse(TempDirs.isMountPoint(mountpoint));
            }
        } finally {
            work.close();
        }
    }

    @Test
    void infoSummarizesDaemon() {
        CapturedRun run = ctl("info");

        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().matches("(?s)State: +RUNNING\n.*"), run.out());
        assertTrue(run.out().contains("\nVersion: "), run.out());
        assertTrue(run.out().contains("\nMounted images: "), run.out());
        assertTrue(run.out().contains("\n  /one\n    Type: "), run.out());
        assertTrue(run.out().contains("    Bootstrap: "), run.out());
        assertTrue(run.out().contains("    Backend: "), run.out());
    }

    @Test
    void rawInfoIsDaemonJson() throws IOException {
        CapturedRun run = ctl("--raw", "info");

        assertEquals(0, run.exitCode(), run.err());
        assertEquals(1, run.out().lines().count(), run.out());
        JsonNode info = JSON.readTree(run.out());
        assertEquals("RUNNING", info.path("state").asText());
        JsonNode image = info.path("backend_collection").path("/one");
        assertEquals("Rafs", image.path("backend_type").asText(), info.toString());
        assertEquals("/one", image.path("mountpoint").asText());
        Instant mounted = Instant.parse(image.path("mounted_time").asText());
        assertFalse(mounted.isAfter(Instant.now()), mounted.toString());
    }

    @Test
    void rawFlagAfterSubcommand() throws IOException {
        CapturedRun run = ctl("info", "-r");

        assertEquals(0, run.exitCode(), run.err());
        assertEquals("RUNNING", JSON.readTree(run.out()).path("state").asText());
    }

    @Test
    void metricsBackendCountsRequests() throws IOException {
        readImageFile("one/a");

        CapturedRun human = ctl("metrics", "backend", "--id", "/one");
        CapturedRun raw = ctl("-r", "metrics", "backend", "--id", "/one");

        assertEquals(0, human.exitCode(), human.err());
        assertTrue(human.out().contains("Backend type:            localfs\n"), human.out());
        assertTrue(human.out().contains("\nRequest size "), human.out());
        assertEquals(0, raw.exitCode(), raw.err());
        JsonNode metrics = JSON.readTree(raw.out());
        long requests = metrics.path("read_count").asLong();
        assertTrue(requests > 0, raw.out());
        assertTrue(human.out().contains("Requests:                " + requests + ", 0 failed"),
                human.out());
        JsonNode sizes = metrics.path("read_count_block_size_dist");
        assertEquals(8, sizes.size(), raw.out());
        long counted = 0;
        for (JsonNode size : sizes) {
            counted += size.asLong();
        }
        assertEquals(requests, counted, raw.out());
    }

    @Test
    void metricsCacheNamesCacheFiles() throws IOException {
        readImageFile("one/a");

        CapturedRun human = ctl("metrics", "cache", "--id", "/one");
        CapturedRun raw = ctl("--raw", "metrics", "cache", "--id", "/one");

        assertEquals(0, human.exitCode(), human.err());
        assertTrue(human.out().contains("Cache directory:         " + work.resolve("cache")
                + "\n"), human.out());
        assertTrue(human.out().contains("Cache files:             1\n"), human.out());
        assertTrue(human.out().contains("Chunks cached:           1 of 1 in 1 blob(s)\n"),
                human.out());
        assertEquals(0, raw.exitCode(), raw.err());
        JsonNode metrics = JSON.readTree(raw.out());
        assertEquals(work.resolve("cache").toString(), metrics.path("store_path").asText());
        assertEquals(1, metrics.path("underlying_files").size(), raw.out());
        assertTrue(metrics.path("total").asLong() > 0, raw.out());
    }

    @Test
    void metricsFsstatsCountsReads() throws IOException {
        readImageFile("one/a");

        CapturedRun human = ctl("metrics", "fsstats", "--id", "/one");
        CapturedRun raw = ctl("-r", "metrics", "fsstats", "--id", "/one");

        assertEquals(0, human.exitCode(), human.err());
        assertTrue(human.out().contains("\nRead latency             <=200us "), human.out());
        assertTrue(human.out().contains("\nRead size                <1K       1K~ "),
                human.out());
        assertEquals(0, raw.exitCode(), raw.err());
        JsonNode metrics = JSON.readTree(raw.out());
        // Reads are FUSE operation 4 of fop_hits, as in upstream's nydusd.
        long reads = metrics.path("fop_hits").path(4).asLong();
        assertTrue(reads > 0, raw.out());
        assertTrue(human.out().startsWith("Reads:                   " + reads + ", 0 failed\n"),
                human.out());
        assertTrue(human.out().contains(String.format("\n%-24s %-9s %-9s ", "read", reads, 0)),
                human.out());
        assertTrue(human.out().contains("\nOperation                Succeeded Failed    Average"),
                human.out());
    }

    @Test
    void setLogLevelReachesDaemon() throws IOException {
        CapturedRun debug = ctl("set", "log-level", "debug");
        CapturedRun info = ctl("set", "log-level", "info");

        assertEquals(0, debug.exitCode(), debug.err());
        assertEquals("log level set to debug\n", debug.out());
        assertEquals(0, info.exitCode(), info.err());
        String log = Files.readString(work.resolve("nydusd.log"));
        assertTrue(log.contains("log level set to debug"), log);
        assertTrue(log.contains("log level set to info"), log);
    }

    @Test
    void rejectedLogLevelShowsDaemonMessage() {
        CapturedRun run = ctl("set", "log-level", "loud");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().startsWith("error: nydusd at " + socket + " rejected PUT"
                + " /api/v1/daemon with status 400: log_level \"loud\" must be one of"),
                run.err());
    }

    @Test
    void mountAndUmountSecondImage() throws Exception {
        Path bootstrap = buildImage("two", "b", "second", work.resolve("blobs"));
        try {
            CapturedRun mount = ctl("mount", "-s", bootstrap.toString(), "-c",
                    config.toString(), "-m", "/two", "-t", "rafs");

            assertEquals(0, mount.exitCode(), mount.err());
            assertEquals("mounted " + bootstrap + " at /two\n", mount.out());
            assertEquals("second", Files.readString(mountpoint.resolve("two/b")));
            JsonNode info = JSON.readTree(ctl("-r", "info").out());
            assertTrue(info.path("backend_collection").has("/two"), info.toString());
            assertTrue(ctl("info").out().contains("\n  /two\n"));

            CapturedRun withoutId = ctl("metrics", "fsstats");
            assertEquals(1, withoutId.exitCode(), withoutId.out());
            assertTrue(withoutId.err().contains("; give --id with one of ["), withoutId.err());
            CapturedRun withId = ctl("-r", "metrics", "fsstats", "--id", "/two");
            assertEquals(0, withId.exitCode(), withId.err());
            assertEquals("/two", JSON.readTree(withId.out()).path("id").asText());
        } finally {
            CapturedRun umount = ctl("umount", "-m", "/two");

            assertEquals(0, umount.exitCode(), umount.err());
            assertEquals("unmounted /two\n", umount.out());
        }
        JsonNode info = JSON.readTree(ctl("-r", "info").out());
        assertFalse(info.path("backend_collection").has("/two"), info.toString());
        assertFalse(Files.exists(mountpoint.resolve("two")));
    }

    @Test
    void umountOfUnknownMountShowsDaemonMessage() {
        CapturedRun run = ctl("umount", "--mountpoint", "/none");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().startsWith("error: nydusd at " + socket + " rejected DELETE"
                + " /api/v1/mount?mountpoint=/none with status "), run.err());
        assertTrue(run.err().contains("/none"), run.err());
        assertEquals("", run.out());
    }

    @Test
    void passthroughFsRejectedWithReason() {
        CapturedRun run = ctl("mount", "-s", work.resolve("config.json").toString(), "-c",
                config.toString(), "-m", "/pass", "-t", "passthrough_fs");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().contains("fs_type 'passthrough_fs' is not supported: this nydusd"
                + " serves only RAFS images"), run.err());
        assertFalse(Files.exists(mountpoint.resolve("pass")));
    }

    @Test
    void missingConfigFileNamed() {
        Path missing = work.resolve("missing.json");

        CapturedRun run = ctl("mount", "-s", missing.toString(), "-c", missing.toString(), "-m",
                "/missing", "-t", "rafs");

        assertEquals(1, run.exitCode(), run.out());
        assertEquals("error: the mount configuration " + missing + " does not exist\n",
                run.err());
    }

    @Test
    void missingSocketNamesPath() {
        Path missing = work.resolve("no.sock");

        CapturedRun run = CapturedRun.nydusctl("--sock", missing.toString(), "info");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().startsWith("error: the nydusd API socket " + missing
                + " does not exist"), run.err());
        assertEquals("", run.out());
    }

    @Test
    void deadSocketNamesPath() throws IOException {
        Path dead = work.resolve("dead.sock");
        // Closing a listening socket leaves its file, as a killed nydusd does.
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(dead));
        }

        CapturedRun run = CapturedRun.nydusctl("-S", dead.toString(), "metrics", "cache");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().startsWith("error: nothing listens on the nydusd API socket "
                + dead + " (connection refused)"), run.err());
    }

    @Test
    void regularFileIsNotSocket() {
        CapturedRun run = CapturedRun.nydusctl("-S", config.toString(), "info");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().startsWith("error: " + config + " is a regular file, not a socket"),
                run.err());
    }

    @Test
    void wrongCommandLinesAreUsageErrors() {
        assertUsageError("missing --sock SOCKET", "info");
        assertUsageError("category 'disk' is not known", "-S", socket.toString(), "metrics",
                "disk");
        assertUsageError("--interval 0 is below 1 second", "-S", socket.toString(), "metrics",
                "backend", "-I", "0");
        assertUsageError("--type 'nfs' is not known; give rafs or passthrough_fs", "-S",
                socket.toString(), "mount", "-s", "x", "-c", "y", "-m", "/z", "-t", "nfs");
        assertUsageError("setting 'level' is not known", "-S", socket.toString(), "set",
                "level", "debug");
        assertUsageError("--timeout 0 is below 1 second", "-S", socket.toString(),
                "--timeout", "0", "info");
    }

    @Test
    void helpNamesUnitsAndDefaults() {
        CapturedRun main = CapturedRun.nydusctl("--help");
        CapturedRun metrics = CapturedRun.nydusctl("metrics", "--help");

        assertEquals(0, main.exitCode(), main.err());
        assertTrue(main.out().contains("--sock=SOCKET"), main.out());
        assertTrue(main.out().contains("(default: 60)"), main.out());
        for (String command : List.of("info", "set", "metrics", "mount", "umount")) {
            assertTrue(main.out().contains("\n  " + command + " "), command);
        }
        assertEquals(0, metrics.exitCode(), metrics.err());
        assertTrue(metrics.out().contains("--interval=SECONDS"), metrics.out());
        assertTrue(metrics.out().contains("Without it, print them once."), metrics.out());
    }

    @Test
    void intervalRepeatsUntilInterrupted() throws Exception {
        List<String> argv = new ArrayList<>(NydusdProcess.javaCommand("io.nydus.cli.Nydusctl"));
        argv.addAll(List.of("-S", socket.toString(), "-r", "metrics", "fsstats", "--id", "/one",
                "-I", "1"));
        Process ctl = new ProcessBuilder(argv)
                .redirectError(work.resolve("nydusctl.err").toFile()).start();
        try {
            BlockingQueue<String> lines = readLines(ctl);
            for (int sample = 0; sample < 3; sample++) {
                String line = lines.poll(60, TimeUnit.SECONDS);
                assertNotNull(line, "no sample " + sample + ": "
                        + Files.readString(work.resolve("nydusctl.err")));
                assertEquals("/one", JSON.readTree(line).path("id").asText(), line);
            }
            assertTrue(ctl.isAlive(), "nydusctl stopped after 3 samples");
            Commands.run(List.of("kill", "-INT", String.valueOf(ctl.pid())),
                    Duration.ofSeconds(10));

            assertTrue(ctl.waitFor(30, TimeUnit.SECONDS), "nydusctl ignored SIGINT");
            assertEquals(130, ctl.exitValue());
        } finally {
            ctl.destroyForcibly();
            ctl.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void intervalStopsWhenPipeCloses() throws Exception {
        List<String> argv = new ArrayList<>(NydusdProcess.javaCommand("io.nydus.cli.Nydusctl"));
        argv.addAll(List.of("-S", socket.toString(), "-r", "metrics", "cache", "--id", "/one",
                "-I", "1"));
        Path err = work.resolve("nydusctl-pipe.err");
        Process ctl = new ProcessBuilder(argv).redirectError(err.toFile()).start();
        try {
            BufferedReader reader = new BufferedReader(new InputStreamReader(
                    ctl.getInputStream(), StandardCharsets.UTF_8));
            assertNotNull(reader.readLine(), Files.readString(err));
            // As `nydusctl ... -I 1 | head -1` does when head exits.
            reader.close();

            assertTrue(ctl.waitFor(60, TimeUnit.SECONDS), "nydusctl wrote on to a closed pipe");
            assertEquals(1, ctl.exitValue(), Files.readString(err));
            assertTrue(Files.readString(err).contains("error: writing to standard output"
                    + " failed"), Files.readString(err));
        } finally {
            ctl.destroyForcibly();
            ctl.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /**
     * Passes the mountpoint's bytes through bash, as a shell does, because Java strings cannot
     * carry bytes that are not UTF-8. The JVM would turn them into U+FFFD, another name.
     */
    @Test
    void nonUtf8MountpointIsUsageError() throws Exception {
        Path bootstrap = buildImage("latin1", "c", "third", work.resolve("blobs"));
        Path err = work.resolve("nydusctl-latin1.err");
        for (List<String> subcommand : List.of(List.of("mount", "-t", "rafs", "-s",
                bootstrap.toString(), "-c", config.toString()), List.of("umount"))) {
            List<String> command = new ArrayList<>(List.of("bash", "-c",
                    "exec \"$@\" -m $'/caf\\xe9'", "bash"));
            command.addAll(NydusdProcess.javaCommand("io.nydus.cli.Nydusctl"));
            command.addAll(List.of("-S", socket.toString()));
            command.addAll(subcommand);
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(err.toFile());
            builder.environment().put("LC_ALL", "C.UTF-8");
            Process ctl = builder.start();
            assertTrue(ctl.waitFor(60, TimeUnit.SECONDS), subcommand.toString());

            assertEquals(2, ctl.exitValue(), Files.readString(err));
            assertTrue(Files.readString(err).contains("is not valid UTF-8"),
                    Files.readString(err));
        }
        JsonNode info = JSON.readTree(ctl("-r", "info").out());
        assertFalse(info.path("backend_collection").has("/caf\ufffd"), info.toString());
    }

    @Test
    void unresponsiveDaemonTimesOut() throws IOException {
        Path silent = work.resolve("silent.sock");
        // The socket listens but never accepts, so a request waits for a response forever.
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(silent));

            CapturedRun run = CapturedRun.nydusctl("-S", silent.toString(), "--timeout", "1",
                    "info");

            assertEquals(1, run.exitCode(), run.out());
            assertTrue(run.err().startsWith("error: nydusd at " + silent + " did not respond to"
                    + " GET /api/v1/daemon within 1000 ms"), run.err());
        }
    }

    /** Chunk sizes count bytes, so a name of multibyte characters must arrive whole. */
    @Test
    void chunkedResponseWithMultibyteName() throws Exception {
        String body = "{\"state\":\"RUNNING\",\"backend_collection\":{\"/caf\u00e9-\u6620\u50cf\":"
                + "{\"mountpoint\":\"/caf\u00e9-\u6620\u50cf\"}}}";
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        int half = bytes.length / 2;
        String reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + Integer.toHexString(half) + "\r\n" + new String(bytes, 0, half,
                        StandardCharsets.ISO_8859_1) + "\r\n"
                + Integer.toHexString(bytes.length - half) + "\r\n" + new String(bytes, half,
                        bytes.length - half, StandardCharsets.ISO_8859_1) + "\r\n0\r\n\r\n";

        CapturedRun run = againstReply("chunked.sock", reply, "info");

        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().contains("\n  /caf\u00e9-\u6620\u50cf\n"), run.out());
    }

    @Test
    void invalidChunkSizeIsNamed() throws Exception {
        CapturedRun run = againstReply("bad-chunk.sock",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "info");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().contains("invalid chunk size 'zz'"), run.err());
    }

    @Test
    void jsonThatIsNoObjectIsRejected() throws Exception {
        CapturedRun run = againstReply("array.sock", "HTTP/1.1 200 OK\r\n\r\n[1, 2]", "info");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().contains("returned a JSON array, not an object, for GET"
                + " /api/v1/daemon"), run.err());
    }

    @Test
    void errorWithoutBodySaysSo() throws Exception {
        CapturedRun run = againstReply("empty-500.sock",
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", "info");

        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().contains("rejected GET /api/v1/daemon with status 500 and no"
                + " message"), run.err());
    }

    /**
     * Runs nydusctl with {@code args} against a socket that replies to one request with
     * {@code reply}, whose characters are its bytes (ISO-8859-1).
     */
    private CapturedRun againstReply(String name, String reply, String... args)
            throws Exception {
        Path path = work.resolve(name);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(path));
            Thread responder = Thread.ofVirtual().start(() -> {
                try (SocketChannel client = server.accept()) {
                    client.read(ByteBuffer.allocate(8192));
                    client.write(ByteBuffer.wrap(reply.getBytes(StandardCharsets.ISO_8859_1)));
                } catch (IOException e) {
                    // The run's output shows what nydusctl made of a missing reply.
                }
            });
            List<String> argv = new ArrayList<>(List.of("--sock", path.toString()));
            argv.addAll(List.of(args));
            CapturedRun run = CapturedRun.nydusctl(argv.toArray(String[]::new));
            responder.join();
            return run;
        }
    }

    @Test
    void backendRatesCoverInterval() throws IOException {
        JsonNode before = JSON.readTree("""
                {"read_count": 10, "read_errors": 0, "read_amount_total": 1048576,
                 "read_cumulative_latency_millis_total": 100}""");
        JsonNode after = JSON.readTree("""
                {"read_count": 20, "read_errors": 1, "read_amount_total": 3145728,
                 "read_cumulative_latency_millis_total": 300}""");

        String rates = DaemonSummary.backendRates(before, after, 2);

        assertTrue(rates.startsWith("In the last 2 s:\n"), rates);
        assertTrue(rates.contains("  Bandwidth:             1024.0 KiB/s\n"), rates);
        assertTrue(rates.contains("  Requests:              10, 1 failed\n"), rates);
        assertTrue(rates.contains("  Average request size:  209715 bytes\n"), rates);
        assertTrue(rates.contains("  Average latency:       20 ms\n"), rates);
    }

    @Test
    void upstreamFsstatsCountsFuseReads() throws IOException {
        // Upstream's nydusd counts reads as FUSE operation 4 of fop_hits and fop_errors.
        JsonNode upstream = JSON.readTree("""
                {"data_read": 8192, "nr_opens": 2,
                 "fop_hits": [5, 0, 3, 3, 7, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0],
                 "fop_errors": [0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0],
                 "read_latency_dist": [6, 1, 0, 0, 0, 0, 0, 0],
                 "block_count_read": [0, 7, 0, 0, 0, 0, 0, 0]}""");

        String summary = DaemonSummary.fsStats(upstream);

        assertTrue(summary.startsWith("Reads:                   7, 1 failed\n"), summary);
        assertTrue(summary.contains("Average read size:       1170 bytes\n"), summary);
        assertTrue(summary.contains("\nRead latency             <=200us   <=1ms "), summary);
        assertTrue(summary.contains("\nReads                    6         1         0 "),
                summary);
        assertTrue(summary.contains("\nlookup                   9         2         0\n"),
                summary);
        assertTrue(summary.contains("\nbatch_forget             0         0         0\n"),
                summary);
        assertTrue(summary.contains("Files open:              2\n"), summary);
    }

    @Test
    void upstreamInfoShowsMountConfiguration() throws IOException {
        // The shape of upstream nydusd's GET /api/v1/daemon, which reports each mount's
        // configuration in place of its bootstrap and backend.
        JsonNode upstream = JSON.readTree("""
                {"version": {"package_ver": "2.3.0", "git_commit": "abc123",
                             "profile": "release"},
                 "state": "RUNNING",
                 "backend_collection": {"/app": {"backend_type": "Rafs", "mountpoint": "/app",
                     "mounted_time": "2024-05-01 10:20:30.0 +00:00:00",
                     "config": {"rafs": {"mode": "direct"},
                                "cache": {"prefetch": {"enable": true,
                                                       "batch_size": 1048576}}}}}}""");

        String summary = DaemonSummary.info(upstream);

        assertTrue(summary.contains("Version:                 2.3.0 (release)\n"), summary);
        assertTrue(summary.contains("Git commit:              abc123\n"), summary);
        assertTrue(summary.contains("    Mode:                direct\n"), summary);
        assertTrue(summary.contains("    Prefetch:            true\n"), summary);
        assertTrue(summary.contains("    Prefetch batch size: 1048576\n"), summary);
    }

    private CapturedRun ctl(String... args) {
        List<String> argv = new ArrayList<>(List.of("--sock", socket.toString()));
        argv.addAll(List.of(args));
        return CapturedRun.nydusctl(argv.toArray(String[]::new));
    }

    private static void assertUsageError(String message, String... args) {
        CapturedRun run = CapturedRun.nydusctl(args);

        assertEquals(2, run.exitCode(), run.err());
        assertTrue(run.err().startsWith("error: " + message), run.err());
        assertEquals("", run.out());
    }

    private void readImageFile(String path) throws IOException {
        Files.readAllBytes(mountpoint.resolve(path));
    }

    /** Builds an image of one file {@code name} with {@code content} and returns its bootstrap. */
    private Path buildImage(String image, String name, String content, Path blobs)
            throws IOException {
        Path source = Files.createDirectories(work.resolve("source-" + image));
        Files.writeString(source.resolve(name), content);
        Path bootstrap = work.resolve(image + ".boot");
        assertEquals(0, Cli.run(new NydusImage(), "create", source.toString(), "--bootstrap",
                bootstrap.toString(), "--blob-dir", blobs.toString(), "--log-level", "warn"));
        return bootstrap;
    }

    /** Reads the standard output of {@code process} line by line in a thread of its own. */
    private static BlockingQueue<String> readLines(Process process) {
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(
                    process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    lines.add(line);
                }
            } catch (IOException e) {
                // The process ended; the test reports the missing lines.
            }
        });
        return lines;
    }
}
