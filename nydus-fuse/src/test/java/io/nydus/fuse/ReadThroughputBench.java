package io.nydus.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Measures sequential read throughput of a 512 MiB file served from memory and the time of
 * {@code find -ls} over a 3000-entry directory. Its name keeps it out of the test suite; run it
 * with {@code mvn -pl nydus-fuse test -Dtest=ReadThroughputBench}. It drops the machine's page
 * cache before each run.
 */
class ReadThroughputBench {

    private static final Logger LOG = LoggerFactory.getLogger(ReadThroughputBench.class);
    private static final long FILE_SIZE = 512L * 1024 * 1024;
    private static final Duration TIMEOUT = Duration.ofMinutes(5);
    private static final int RUNS = 5;

    @Test
    void sequentialReadAndListing() throws IOException {
        try (Arena arena = Arena.ofShared(); TempDir temp = TempDirs.create("fuse-bench")) {
            TestTree tree = new TestTree(arena);
            tree.fileSystem.file(FuseFileSystem.ROOT, TestTree.bytes("512m"), 0644, 0, 0,
                    MemoryFileSystem.PatternData.of(arena, FILE_SIZE));
            Path mountpoint = Files.createDirectory(temp.resolve("mnt"));
            try (FuseSession session = FuseSession.mount(mountpoint, tree.fileSystem,
                    benchOptions())) {
                for (int run = 0; run < RUNS; run++) {
                    long readsBefore = tree.fileSystem.reads();
                    long bytesBefore = tree.fileSystem.bytesRead();
                    measure(mountpoint);
                    long reads = tree.fileSystem.reads() - readsBefore;
                    long bytes = tree.fileSystem.bytesRead() - bytesBefore;
                    LOG.warn("{} reads of {} KiB on average", reads, bytes / reads / 1024);
                }
            }
        }
    }

    private static void measure(Path mountpoint) throws IOException {
        dropCaches();
        long cpuBefore = processCpuNanos();
        CommandResult dd = run("dd", "if=" + mountpoint + "/512m", "of=/dev/null", "bs=1M");
        long serverCpuMillis = (processCpuNanos() - cpuBefore) / 1_000_000;
        String ddLine = dd.stderrText().strip().lines().reduce((a, b) -> b).orElse("");
        dropCaches();
        long coldMillis = timeFind(mountpoint);
        long warmMillis = timeFind(mountpoint);
        LOG.warn("dd bs=1M of 512 MiB: {}, server CPU {} ms; find -ls of {} entries: {} ms cold,"
                + " {} ms warm", ddLine, serverCpuMillis, TestTree.BIG_DIRECTORY_ENTRIES,
                coldMillis, warmMillis);
    }

    private static long timeFind(Path mountpoint) throws IOException {
        long start = System.nanoTime();
        CommandResult find = run("find", mountpoint + "/big", "-ls");
        long millis = (System.nanoTime() - start) / 1_000_000;
        long lines = find.stdoutText().lines().count();
        assertEquals(TestTree.BIG_DIRECTORY_ENTRIES + 1, lines);
        return millis;
    }

    private static MountOptions benchOptions() {
        MountOptions defaults = MountOptions.defaults();
        return new MountOptions(defaults.fsName(), defaults.subtype(),
                Integer.getInteger("nydus.fuse.bench.workers", defaults.workers()),
                Integer.getInteger("nydus.fuse.bench.readahead", defaults.readAheadKib()));
    }

    /** Returns the CPU time of this JVM, all threads, user and system. */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean)
                ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static void dropCaches() throws IOException {
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    }

    private static CommandResult run(String... argv) throws IOException {
        return Commands.run(List.of(argv), TIMEOUT);
    }
}
