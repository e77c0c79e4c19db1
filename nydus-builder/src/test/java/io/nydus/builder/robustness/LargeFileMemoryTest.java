package io.nydus.builder.robustness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Builds a 4 GiB file of distinct pseudo-random chunks in a child JVM limited to a 256 MiB
 * heap, and expects the build to succeed, which it only can if file data is streamed. The file
 * is a tar stream generated from a seed while it is read, so it never exists on disk.
 *
 * <p>The compressor is none, because random data does not compress and any compressor would
 * only add time. The blob goes to a temporary directory on disk, deleted afterwards. The
 * child prints its peak resident set size (VmHWM).
 */
class LargeFileMemoryTest {
    private static final long FILE_SIZE = 4L << 30;
    private static final int CHUNK_SIZE = 1 << 20;
    private static final String FILE_NAME = "large";
    private static final String HEAP_LIMIT = "-Xmx256m";

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void fourGibFileBuildsInSmallHeap() throws Exception {
        try (TempDir work = TempDirs.create("large-file-")) {
            Path bootstrap = work.resolve("bootstrap");
            Path log = work.resolve("child.log");
            long started = System.nanoTime();
            Process child = childJvm(work.path(), bootstrap).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            int exit = child.waitFor();
            long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
            String output = Files.readString(log, StandardCharsets.UTF_8);
            System.out.printf("4 GiB build with %s, compressor none, 2 threads: %d s%n%s",
                    HEAP_LIMIT, seconds, output);

            assertEquals(0, exit, "the child build failed:\n" + output);
            assertTrue(output.contains("VmHWM"), "the child did not report its peak RSS");
            Inode file = onlyFile(BootstrapReader.read(bootstrap));
            assertEquals(FILE_SIZE, file.size());
            assertEquals(FILE_SIZE / CHUNK_SIZE, file.chunks().size());
            assertEquals(file.chunks().size(), distinctDigests(file.chunks()),
                    "chunks repeat, so the test did not store 4 GiB");
        }
    }

    private static ProcessBuilder childJvm(Path work, Path bootstrap) {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> command = new ArrayList<>(List.of(java.toString(), HEAP_LIMIT,
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), LargeFileMemoryTest.class.getName(),
                work.toString(), bootstrap.toString()));
        return new ProcessBuilder(command);
    }

    private static Inode onlyFile(Bootstrap image) {
        List<Node> children = new ArrayList<>(image.root().children());
        assertEquals(1, children.size(), "entries in the root: " + children);
        Node node = children.getFirst();
        assertEquals(FILE_NAME, node.path().substring(1));
        return node.inode();
    }

    private static int distinctDigests(List<Chunk> chunks) {
        Set<Object> digests = new HashSet<>();
        for (Chunk chunk : chunks) {
            digests.add(chunk.digest());
        }
        return digests.size();
    }

    /**
     * Runs in the child JVM: builds the generated tarball into {@code args[1]} with the blob in
     * {@code args[0]}/blobs, then prints the peak RSS from /proc/self/status.
     */
    public static void main(String[] args) throws IOException {
        Path work = Path.of(args[0]);
        BuildOptions options = new BuildOptions(Compressor.NONE, DigestAlgorithm.BLAKE3,
                CHUNK_SIZE, WhiteoutSpec.OCI, 2, false, true);
        new ImageBuilder(options).buildTar(new SeededTarStream(FILE_NAME, FILE_SIZE, 4),
                "generated.tar", Path.of(args[1]),
                ImageBuilder.BlobTarget.inDirectory(work.resolve("blobs")));
        Runtime runtime = Runtime.getRuntime();
        System.out.printf("heap max %d MiB, used at end %d MiB%n", runtime.maxMemory() >> 20,
                (runtime.totalMemory() - runtime.freeMemory()) >> 20);
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM") || line.startsWith("VmRSS")) {
                System.out.println(line);
            }
        }
    }
}
