package io.nydus.cli.robustness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.cli.NydusImage;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Runs {@code nydus-image create} in a child JVM on tarballs cut short: inside entry headers,
 * inside file data, and inside gzip and zstd streams. Each run must exit with 1 and print one
 * "error:" message that names the tarball and an offset, with no stack trace, and must leave
 * neither a bootstrap nor a blob nor a temporary file in the output directories.
 */
class TruncatedTarCliTest {
    private static final Duration RUN_LIMIT = Duration.ofMinutes(2);

    private static TempDir work;
    private static Path tar;

    @BeforeAll
    static void createTarball() throws IOException {
        work = TempDirs.create("truncated-tar-");
        Path tree = Files.createDirectories(work.resolve("tree/dir"));
        SplittableRandom random = new SplittableRandom(3);
        for (int i = 0; i < 6; i++) {
            byte[] content = new byte[i == 0 ? 3 << 20 : 20_000 + random.nextInt(60_000)];
            random.nextBytes(content);
            Files.write(tree.resolve("file-" + i), content);
        }
        Files.createSymbolicLink(tree.resolve("link"), Path.of("file-1"));
        tar = work.resolve("layer.tar");
        Commands.run(List.of("tar", "--format=pax", "--sort=name", "-C",
                work.resolve("tree").toString(), "-cf", tar.toString(), "."), RUN_LIMIT);
        Commands.run(List.of("gzip", "-k", tar.toString()), RUN_LIMIT);
        Commands.run(List.of("zstd", "-q", "-k", tar.toString()), RUN_LIMIT);
    }

    @AfterAll
    static void removeTarball() throws IOException {
        work.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"layer.tar", "layer.tar.gz", "layer.tar.zst"})
    void truncatedTarballFailsCleanly(String name) throws Exception {
        byte[] whole = Files.readAllBytes(work.resolve(name));
        List<String> failures = new ArrayList<>();
        for (long cut : cutPoints(name, whole)) {
            Path source = work.resolve("cut-" + cut + "-" + name);
            Files.write(source, Arrays.copyOf(whole, (int) cut));
            String failure = runCut(source);
            if (failure != null) {
                failures.add("cut at " + cut + " of " + whole.length + ": " + failure);
            }
            Files.delete(source);
        }
        assertEquals(List.of(), failures);
    }

    /** Returns null when the run failed as expected, else what went wrong. */
    private static String runCut(Path source) throws Exception {
        Path out = work.resolve("out");
        TempDirs.remove(out);
        Path bootstrapDir = Files.createDirectories(out.resolve("bootstrap"));
        Path blobDir = Files.createDirectories(out.resolve("blobs"));
        Process child = new ProcessBuilder(childCommand(source, bootstrapDir, blobDir))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        byte[] stderr = child.getErrorStream().readAllBytes();
        if (!child.waitFor(RUN_LIMIT.toSeconds(), TimeUnit.SECONDS)) {
            child.destroyForcibly();
            return "did not finish in " + RUN_LIMIT;
        }
        String errors = withoutJvmWarnings(new String(stderr, StandardCharsets.UTF_8));
        List<String> left = new ArrayList<>(listing(bootstrapDir));
        left.addAll(listing(blobDir));
        if (child.exitValue() != 1) {
            return "exit code " + child.exitValue() + ", stderr: " + errors;
        }
        if (!errors.startsWith("error: ") || errors.contains("\tat ")) {
            return "stderr is not one error message: " + errors;
        }
        if (!errors.contains(source.toString()) || !errors.contains("offset")) {
            return "the message does not name the tarball and an offset: " + errors;
        }
        return left.isEmpty() ? null : "files were left behind: " + left;
    }

    private static List<String> childCommand(Path source, Path bootstrapDir, Path blobDir) {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        return List.of(java.toString(), "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                NydusImage.class.getName(), "create", "--type", "tar-rafs", "--bootstrap",
                bootstrapDir.resolve("image.boot").toString(), "--blob-dir", blobDir.toString(),
                source.toString());
    }

    /** Drops the JVM's own notice about incubator modules, which is not the tool's output. */
    private static String withoutJvmWarnings(String stderr) {
        return stderr.lines().filter(line -> !line.startsWith("WARNING: Using incubator"))
                .reduce("", (a, b) -> a.isEmpty() ? b : a + "\n" + b);
    }

    private static List<String> listing(Path dir) throws IOException {
        try (var paths = Files.list(dir)) {
            return paths.map(Path::toString).toList();
        }
    }

    /**
     * For a plain tarball: points inside every other header and inside the data after the
     * headers in between, up to the end-of-archive blocks. For a compressed one: points spread
     * over the stream, its first bytes and its last bytes.
     */
    private static TreeSet<Long> cutPoints(String name, byte[] whole) {
        TreeSet<Long> cuts = new TreeSet<>();
        if (name.endsWith(".tar")) {
            List<Long> headers = headerOffsets(whole);
            cuts.add(headers.getFirst() + 1);
            cuts.add(headers.getLast() + 511);
            for (int i = 0; i < headers.size(); i++) {
                cuts.add(headers.get(i) + (i % 2 == 0 ? 200 : 512 + 700));
            }
        } else {
            for (int percent : new int[] {1, 10, 33, 50, 75, 99}) {
                cuts.add(whole.length * (long) percent / 100);
            }
            cuts.add(5L);
            cuts.add(whole.length - 1L);
            cuts.add(whole.length - 6L);
        }
        return cuts;
    }

    /** Walks the plain tarball's headers by their size fields, stopping at the end blocks. */
    private static List<Long> headerOffsets(byte[] tar) {
        List<Long> offsets = new ArrayList<>();
        int at = 0;
        while (at + 512 <= tar.length && tar[at] != 0) {
            offsets.add((long) at);
            String sizeField = new String(tar, at + 124, 12, StandardCharsets.US_ASCII).trim();
            long size = Long.parseLong(sizeField.replace("\0", ""), 8);
            at += 512 + (int) ((size + 511) / 512 * 512);
        }
        assertTrue(offsets.size() > 8, "headers found: " + offsets.size());
        return offsets;
    }
}
