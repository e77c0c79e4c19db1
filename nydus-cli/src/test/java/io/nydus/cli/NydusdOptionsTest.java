package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.util.LogbackMDCAdapter;
import ch.qos.logback.core.FileAppender;
import io.nydus.posix.OpenFileLimit;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** nydusd's options that upstream's nydusd and snapshotter pass: limits, threads, logs. */
class NydusdOptionsTest {
    private static final long WAIT_MILLIS = 60_000;

    private TempDir work;

    @BeforeEach
    void createWork() throws IOException {
        work = TempDirs.create("nydusd-options-");
    }

    @AfterEach
    void removeWork() throws IOException {
        work.close();
    }

    @Test
    void openFileLimitCappedByFileMax() {
        OpenFileLimit current = new OpenFileLimit(1024, 4096);

        assertEquals(new OpenFileLimit(1_000_000, 1_000_000),
                Nydusd.openFileTarget(1_000_000, 2_466_093, current));
        assertEquals(new OpenFileLimit(83_616, 83_616),
                Nydusd.openFileTarget(1_000_000, 100_000, current));
        assertEquals(new OpenFileLimit(4096, 4096),
                Nydusd.openFileTarget(4096, 2_466_093, current));
    }

    @Test
    void openFileLimitKeepsHigherCurrentLimit() {
        OpenFileLimit current = new OpenFileLimit(2_000_000, 2_000_000);

        assertEquals(new OpenFileLimit(1_500_000, 1_500_000),
                Nydusd.openFileTarget(1_500_000, 10_000_000, current));
    }

    @Test
    void openFileLimitRejectsTinyFileMax() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Nydusd.openFileTarget(1_000_000, 20_000, new OpenFileLimit(1024, 1024)));

        assertTrue(e.getMessage().contains("fs.file-max 20000"), e.getMessage());
    }

    @Test
    void unprivilegedRaiseKeepsHardLimit() throws IOException {
        OpenFileLimit current = new OpenFileLimit(1024, 20_000);
        List<OpenFileLimit> tried = new ArrayList<>();

        OpenFileLimit applied = Nydusd.applyOrKeepHard(new OpenFileLimit(1_000_000, 1_000_000),
                current, limit -> {
                    tried.add(limit);
                    return limit.hard() <= current.hard();
                });

        assertEquals(new OpenFileLimit(20_000, 20_000), applied);
        assertEquals(List.of(new OpenFileLimit(1_000_000, 1_000_000),
                new OpenFileLimit(20_000, 20_000)), tried);
    }

    @Test
    void permittedRaiseIsApplied() throws IOException {
        OpenFileLimit target = new OpenFileLimit(1_000_000, 1_000_000);

        assertEquals(target, Nydusd.applyOrKeepHard(target, new OpenFileLimit(1024, 4096),
                limit -> true));
    }

    @Test
    void refusedFallbackFailsNamingOption() {
        IOException e = assertThrows(IOException.class, () -> Nydusd.applyOrKeepHard(
                new OpenFileLimit(1_000_000, 1_000_000), new OpenFileLimit(1024, 4096),
                limit -> false));

        assertTrue(e.getMessage().contains("--rlimit-nofile 0"), e.getMessage());
    }

    @Test
    void badOptionValuesAreUsageErrors() throws IOException {
        Path mountpoint = Files.createDirectory(work.resolve("mnt"));
        Path list = Files.writeString(work.resolve("list"), "/a\n");
        String mnt = mountpoint.toString();

        assertUsageError("--fuse-threads 0 is outside 1..64",
                "--mountpoint", mnt, "--localfs-dir", mnt, "--thread-num", "0");
        assertUsageError("--fuse-threads 65 is outside 1..64",
                "--mountpoint", mnt, "--localfs-dir", mnt, "--fuse-threads", "65");
        assertUsageError("--virtual-mountpoint '/a/b' must be / or /NAME",
                "--mountpoint", mnt, "--localfs-dir", mnt, "--virtual-mountpoint", "/a/b");
        assertUsageError("--prefetch-files needs --bootstrap",
                "--mountpoint", mnt, "--localfs-dir", mnt, "--prefetch-files", list.toString());
        assertUsageError("--log-rotation-size -1 is outside",
                "--mountpoint", mnt, "--localfs-dir", mnt, "--log-rotation-size", "-1");
        assertUsageError("--upgrade needs --supervisor",
                "--mountpoint", mnt, "--localfs-dir", mnt, "--upgrade", "--apisock",
                work.resolve("api.sock").toString());
        assertUsageError("--failover-policy: failover policy 'flush' is not known",
                "--mountpoint", mnt, "--localfs-dir", mnt, "--failover-policy", "flush");
        assertUsageError("--bootstrap needs --config FILE, or --localfs-dir DIR",
                "--mountpoint", mnt, "--bootstrap", list.toString());
        assertFalse(TempDirs.isMountPoint(mountpoint));
    }

    @Test
    void missingMountpointIsNamed() throws IOException {
        Path blobs = work.resolve("blobs");
        Path bootstrap = buildImage(blobs);
        Path mountpoint = work.resolve("no-such-mnt");

        Run run = runNydusd("--mountpoint", mountpoint.toString(), "--localfs-dir",
                blobs.toString(), "--bootstrap", bootstrap.toString(), "--rlimit-nofile", "0");

        assertEquals(1, run.code(), run.err());
        assertTrue(run.err().contains("error: mountpoint " + mountpoint + " does not exist;"
                + " create the directory first"), run.err());
        assertFalse(Files.exists(mountpoint));
    }

    @Test
    void binaryPrefetchListIsNamed() throws IOException {
        Path blobs = work.resolve("blobs");
        Path bootstrap = buildImage(blobs);
        Path list = Files.write(work.resolve("list"), new byte[] {'/', (byte) 0xff, '\n'});
        Path mountpoint = Files.createDirectory(work.resolve("mnt"));
        PrintStream savedErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Cli.run(new Nydusd(), "--mountpoint", mountpoint.toString(), "--localfs-dir",
                    blobs.toString(), "--bootstrap", bootstrap.toString(), "--prefetch-files",
                    list.toString(), "--rlimit-nofile", "0");
        } finally {
            System.setErr(savedErr);
        }

        assertEquals(1, code);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--prefetch-files " + list
                + " is not UTF-8 text"), err.toString(StandardCharsets.UTF_8));
        assertFalse(TempDirs.isMountPoint(mountpoint));
    }

    @Test
    void unusableCacheWorkDirNamesField() throws IOException {
        Path blobs = work.resolve("blobs");
        Path bootstrap = buildImage(blobs);
        Path file = Files.writeString(work.resolve("file"), "not a directory");
        Path mountpoint = Files.createDirectory(work.resolve("mnt"));

        for (Path workDir : List.of(file, file.resolve("cache"))) {
            Path config = Files.writeString(work.resolve("config.json"), """
                    {"device": {"backend": {"type": "localfs", "config": {"dir": "%s"}},
                     "cache": {"type": "blobcache", "config": {"work_dir": "%s"}}}}"""
                    .formatted(blobs, workDir));
            Run run = runNydusd("--mountpoint", mountpoint.toString(), "--config",
                    config.toString(), "--bootstrap", bootstrap.toString(), "--rlimit-nofile",
                    "0");

            assertEquals(1, run.code(), run.err());
            assertTrue(run.err().contains("error: cannot create the blob cache's work_dir "
                    + workDir + " (device.cache.config.work_dir): "), run.err());
        }
        assertFalse(TempDirs.isMountPoint(mountpoint));
    }

    @Test
    void logFileRotatesAtSize() throws Exception {
        Path file = work.resolve("nydusd.log");
        LoggerContext context = new LoggerContext();
        context.setMDCAdapter(new LogbackMDCAdapter());
        FileAppender<ILoggingEvent> appender = LogFile.appender(context, file, 1);
        Logger logger = context.getLogger("test");
        logger.addAppender(appender);
        String line = "x".repeat(1000);

        for (int i = 0; i < 1200; i++) {
            logger.info("{} {}", i, line);
        }
        // The size is looked at no more than once a second.
        Thread.sleep(1100);
        logger.info("after the limit");
        logger.info("in the new file");
        appender.stop();

        String rotated = gunzip(file.resolveSibling("nydusd.log.1.gz"));
        assertTrue(rotated.contains(" 0 " + line), "first line missing from the rotated file");
        assertTrue(rotated.contains(" 1199 " + line), "last line missing from the rotated file");
        assertTrue(Files.readString(file).contains("in the new file"));
        assertTrue(Files.size(file) < 1000, "live file size " + Files.size(file));
    }

    @Test
    void standardStreamsFollowRotatedLogFile() throws Exception {
        Path file = work.resolve("nydusd.log");
        Files.writeString(file, "");
        Process child = new ProcessBuilder(javaCommand(RotatingLogProcess.class.getName(),
                file.toString())).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(file.toFile())).start();

        assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the logging process did not end");
        String live = Files.readString(file);
        String rotated = gunzip(file.resolveSibling("nydusd.log.1.gz"));
        assertEquals(0, child.exitValue(), live);
        assertTrue(rotated.contains(" 1199 x"), "last line missing from the rotated file");
        assertTrue(live.contains(RotatingLogProcess.STDOUT_LINE), live);
        assertTrue(live.contains(RotatingLogProcess.STDERR_LINE), live);
        assertFalse(rotated.contains(RotatingLogProcess.STDERR_LINE));
    }

    @Test
    void unwritableLogFileFailsStart() throws Exception {
        Path notDirectory = Files.writeString(work.resolve("file"), "");
        Path log = notDirectory.resolve("nydusd.log");
        Path mountpoint = Files.createDirectory(work.resolve("mnt"));

        Process daemon = start("--mountpoint", mountpoint.toString(), "--rlimit-nofile", "0",
                "--log-file", log.toString());
        boolean exited;
        try {
            exited = daemon.waitFor(20, TimeUnit.SECONDS);
        } finally {
            daemon.destroy();
            assertTrue(daemon.waitFor(30, TimeUnit.SECONDS), "nydusd did not stop");
        }

        String output = Files.readString(work.resolve("nydusd.out"));
        assertTrue(exited, "nydusd ran without its log: " + output);
        assertEquals(1, daemon.exitValue(), output);
        assertTrue(output.contains("error: cannot write the log file " + log + ": "), output);
        assertFalse(TempDirs.isMountPoint(mountpoint));
    }

    @Test
    void upstreamOptionsServeImage() throws Exception {
        Path blobs = work.resolve("blobs");
        Path bootstrap = buildImage(blobs);
        Path config = Files.writeString(work.resolve("config.json"), """
                {"device": {"backend": {"type": "localfs", "config": {"dir": "%s"}}},
                 "fs_prefetch": {"enable": true}}""".formatted(blobs));
        Path list = Files.writeString(work.resolve("prefetch.list"), "\n/a\n");
        Path mountpoint = Files.createDirectory(work.resolve("mnt"));
        Path log = work.resolve("nydusd.log");

        Process daemon = start("--config", config.toString(), "--bootstrap",
                bootstrap.toString(), "--mountpoint", mountpoint.toString(), "--thread-num", "2",
                "--virtual-mountpoint", "/img", "--prefetch-files", list.toString(),
                "--rlimit-nofile", "4096", "--log-file", log.toString(),
                "--log-rotation-size", "10");
        try {
            // The FUSE session logs its workers just after the mount appears.
            awaitMount(daemon, mountpoint, log, "prefetching", "with 2 workers");

            assertEquals("hello", Files.readString(mountpoint.resolve("img/a")));
            assertEquals(List.of("4096", "4096"), openFileLimits(daemon.pid()));
            String text = Files.readString(log);
            assertTrue(text.contains("set the open file limit to 4096"), text);
            assertTrue(text.contains("with 2 workers"), text);
            assertTrue(text.contains("mounted " + bootstrap + " at /img"), text);
            assertTrue(text.contains("prefetching 1 chunks of the listed files"), text);
        } finally {
            daemon.destroy();
            assertTrue(daemon.waitFor(30, TimeUnit.SECONDS), "nydusd did not stop");
        }
        assertFalse(TempDirs.isMountPoint(mountpoint));
    }

    @Test
    void sharedDaemonStartsWithoutConfig() throws Exception {
        Path mountpoint = Files.createDirectory(work.resolve("mnt"));
        Path log = work.resolve("nydusd.log");

        Process daemon = start("--mountpoint", mountpoint.toString(), "--apisock",
                work.resolve("api.sock").toString(), "--rlimit-nofile", "0", "--log-file",
                log.toString());
        try {
            awaitMount(daemon, mountpoint, log, "API listening on");

            assertTrue(Files.exists(work.resolve("api.sock")));
            try (var entries = Files.list(mountpoint)) {
                assertEquals(List.of(), entries.toList());
            }
        } finally {
            daemon.destroy();
            assertTrue(daemon.waitFor(30, TimeUnit.SECONDS), "nydusd did not stop");
        }
        assertFalse(TempDirs.isMountPoint(mountpoint));
    }

    @Test
    void defaultOpenFileLimitStartsDaemon() throws Exception {
        Path blobs = work.resolve("blobs");
        Path bootstrap = buildImage(blobs);
        Path mountpoint = Files.createDirectory(work.resolve("mnt"));
        Path log = work.resolve("nydusd.log");
        OpenFileLimit before = OpenFileLimit.current();

        Process daemon = start("--localfs-dir", blobs.toString(), "--bootstrap",
                bootstrap.toString(), "--mountpoint", mountpoint.toString(), "--log-file",
                log.toString());
        try {
            awaitMount(daemon, mountpoint, log, "serving");

            assertEquals("hello", Files.readString(mountpoint.resolve("a")));
            long soft = Long.parseLong(openFileLimits(daemon.pid()).getFirst());
            assertTrue(soft >= Math.min(1_000_000, before.hard()), "soft limit " + soft);
        } finally {
            daemon.destroy();
            assertTrue(daemon.waitFor(30, TimeUnit.SECONDS), "nydusd did not stop");
        }
    }

    @Test
    void interruptStopsDaemonStartedWithItIgnored() throws Exception {
        Path blobs = work.resolve("blobs");
        Path bootstrap = buildImage(blobs);
        Path mountpoint = Files.createDirectory(work.resolve("mnt"));
        Path log = work.resolve("nydusd.log");
        // A shell starts background jobs with SIGINT ignored, and exec passes that on.
        List<String> shell = List.of("sh", "-c", "trap '' INT; exec \"$0\" \"$@\"");

        Process daemon = start(shell, "--localfs-dir", blobs.toString(), "--bootstrap",
                bootstrap.toString(), "--mountpoint", mountpoint.toString(), "--log-file",
                log.toString());
        try {
            awaitMount(daemon, mountpoint, log, "serving");
            Commands.run(List.of("kill", "-INT", String.valueOf(daemon.pid())),
                    Duration.ofSeconds(10));

            assertTrue(daemon.waitFor(20, TimeUnit.SECONDS), "nydusd ignored SIGINT");
            assertEquals(130, daemon.exitValue());
        } finally {
            daemon.destroyForcibly();
            daemon.waitFor(30, TimeUnit.SECONDS);
        }
        assertFalse(TempDirs.isMountPoint(mountpoint));
    }

    /** Builds an image of one file, "a" with "hello", and returns its bootstrap. */
    private Path buildImage(Path blobs) throws IOException {
        Path source = Files.createDirectory(work.resolve("source"));
        Files.writeString(source.resolve("a"), "hello");
        Path bootstrap = work.resolve("image.boot");
        assertEquals(0, Cli.run(new NydusImage(), "create", source.toString(), "--bootstrap",
                bootstrap.toString(), "--blob-dir", blobs.toString(), "--log-level", "warn"));
        return bootstrap;
    }

    /** The exit status and standard error of a nydusd run in this JVM. */
    private record Run(int code, String err) {
    }

    private static Run runNydusd(String... args) {
        PrintStream savedErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Cli.run(new Nydusd(), args);
            return new Run(code, err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(savedErr);
        }
    }

    private static void assertUsageError(String message, String... args) {
        Run run = runNydusd(args);

        assertEquals(2, run.code(), run.err());
        assertTrue(run.err().startsWith("error: " + message), run.err());
    }

    /** Starts nydusd in a JVM of its own, as its limits and threads are the process's. */
    private Process start(String... args) throws IOException {
        return start(List.of(), args);
    }

    /** Starts nydusd in a JVM of its own, run by the command {@code launcher}. */
    private Process start(List<String> launcher, String... args) throws IOException {
        List<String> argv = new ArrayList<>(launcher);
        argv.addAll(javaCommand("io.nydus.cli.Nydusd", args));
        return new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(work.resolve("nydusd.out").toFile()).start();
    }

    /** Returns the command that runs {@code mainClass} in a JVM of its own. */
    private static List<String> javaCommand(String mainClass, String... args) {
        List<String> argv = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC", "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), mainClass));
        argv.addAll(List.of(args));
        return argv;
    }

    private void awaitMount(Process daemon, Path mountpoint, Path log, String... logTexts)
            throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MILLIS;
        while (!TempDirs.isMountPoint(mountpoint) || !logged(log, logTexts)) {
            assertTrue(daemon.isAlive(), "nydusd exited: "
                    + Files.readString(work.resolve("nydusd.out")));
            assertTrue(System.currentTimeMillis() < deadline, "nydusd did not mount");
            Thread.sleep(50);
        }
    }

    private static boolean logged(Path log, String... texts) throws IOException {
        if (!Files.exists(log)) {
            return false;
        }
        String content = Files.readString(log);
        for (String text : texts) {
            if (!content.contains(text)) {
                return false;
            }
        }
        return true;
    }

    /** Returns the soft and hard "Max open files" of a process, from /proc/PID/limits. */
    private static List<String> openFileLimits(long pid) throws IOException {
        String line = Files.readAllLines(Path.of("/proc/" + pid + "/limits")).stream()
                .filter(l -> l.startsWith("Max open files"))
                .findFirst().orElseThrow();
        String[] words = line.substring("Max open files".length()).trim().split("\\s+");
        return List.of(words[0], words[1]);
    }

    private static String gunzip(Path file) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(file))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
