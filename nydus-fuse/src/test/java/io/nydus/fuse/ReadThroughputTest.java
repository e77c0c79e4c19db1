package io.nydus.fuse;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Measures sequential read throughput of a 512 MiB file served from memory and the time of
 * {@code find -ls} over a 3000-entry directory. Run with {@code -Dnydus.fuse.bench=true}; it
 * drops the machine's page cache before each run.
 */
@EnabledIfSystemProperty(named = "nydus.fuse.bench", matches = "true")
class ReadThroughputTest {

    private static final Logger LOG = LoggerFactory.getLogger(ReadThroughputTest.class);
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
                    MountOptions.defaults().withWorkers(workers()))) {
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
        CommandResult dd = run("dd", "if=" + mountpoint + "/512m", "of=/dev/null", "bs=1M");
        String ddLine = dd.stderrText().strip().lines().reduce((a, b) -> b).orElse("");
        dropCaches();
        long start = System.nanoTime();
        CommandResult find = run("find", mountpoint + "/big", "-ls");
        long millis = (System.nanoTime() - start) / 1_000_000;
        long lines = find.stdoutText().lines().count();
        LOG.warn("dd bs=1M of 512 MiB: {}; find -ls of {} entries: {} ms", ddLine, lines,
                millis);
        assertTrue(lines > TestTree.BIG_DIRECTORY_ENTRIES, "find listed " + lines + " lines");
    }

    private static int workers() {
        return Integer.getInteger("nydus.fuse.bench.workers", MountOptions.DEFAULT_WORKERS);
    }

    private static void dropCaches() throws IOException {
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    }

    private static CommandResult run(String... argv) throws IOException {
        return Commands.run(List.of(argv), TIMEOUT);
    }
}
