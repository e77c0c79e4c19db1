package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** `nydus-image merge` run in-process on layers that `nydus-image create` built. */
class MergeCommandTest {

    @Test
    void mergeWritesBootstrapAndJson() throws IOException {
        try (TempDir temp = TempDirs.create("merge-cli-")) {
            Path blobs = temp.resolve("blobs");
            Path one = layer(temp, "one", List.of(), "a", ".wh.x");
            Path two = layer(temp, "two", List.of(), ".wh.a", "b");
            Path out = temp.resolve("merged.boot");
            Path json = temp.resolve("merged.json");

            int exit = withStdin("/b\n", () -> Cli.run(new NydusImage(), "merge", "-B",
                    out.toString(), "-D", blobs.toString(), "-J", json.toString(),
                    "--prefetch-policy", "fs", one.toString(), two.toString()));

            assertEquals(0, exit);
            Bootstrap merged = BootstrapReader.read(out);
            String topBlob = BootstrapReader.read(two).blobs().getFirst().blobId();
            JsonNode summary = new ObjectMapper().readTree(json.toFile());
            assertEquals(topBlob, summary.get("blobs").get(0).asText());
            assertEquals(1, summary.get("blobs").size());
            assertEquals(1, summary.get("dropped_blobs").size());
            assertEquals(List.of("/b"), merged.prefetch().stream().map(n -> n.path()).toList());
        }
    }

    @Test
    void perLayerValueCountIsUsageError() throws IOException {
        try (TempDir temp = TempDirs.create("merge-cli-")) {
            Path one = layer(temp, "one", List.of(), "a");
            Path two = layer(temp, "two", List.of(), "b");
            Path out = temp.resolve("merged.boot");
            List<String> options = List.of("--blob-digests", "--original-blob-ids",
                    "--blob-sizes", "--blob-toc-digests", "--blob-toc-sizes");
            for (String option : options) {
                CapturedRun run = CapturedRun.nydusImage("merge", "-B", out.toString(),
                        option, "1", one.toString(), two.toString());

                assertEquals(2, run.exitCode(), option + ": " + run.err());
                assertTrue(run.err().startsWith("error: " + option + " has 1 values for 2"
                        + " layer bootstraps"), option + ": " + run.err());
                assertFalse(Files.exists(out), option + ": merge wrote " + out);
            }
        }
    }

    @Test
    void mismatchedChunkSizeFails() throws IOException {
        try (TempDir temp = TempDirs.create("merge-cli-")) {
            Path one = layer(temp, "one", List.of(), "a");
            Path two = layer(temp, "two", List.of("-S", "0x10000"), "b");
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream saved = System.err;
            int exit;
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            try {
                exit = Cli.run(new NydusImage(), "merge", "-B",
                        temp.resolve("merged.boot").toString(), one.toString(), two.toString());
            } finally {
                System.setErr(saved);
            }

            assertEquals(1, exit);
            String message = err.toString(StandardCharsets.UTF_8);
            assertTrue(message.contains("differ in chunk size"), message);
            assertTrue(message.contains(two.toString()), message);
        }
    }

    @Test
    void chunkDictBlobKeepsItsId() throws IOException {
        try (TempDir temp = TempDirs.create("merge-cli-")) {
            Path dict = layer(temp, "dict", List.of(), "shared");
            Path one = layer(temp, "one", List.of("--chunk-dict", "bootstrap=" + dict), "shared",
                    "own");
            String dictBlob = BootstrapReader.read(dict).blobs().getFirst().blobId();
            String digest = "c".repeat(64);
            Path out = temp.resolve("merged.boot");

            int exit = Cli.run(new NydusImage(), "merge", "-B", out.toString(), "--chunk-dict",
                    dict.toString(), "--blob-digests", "sha256:" + digest, one.toString());

            assertEquals(0, exit);
            List<String> ids = BootstrapReader.read(out).blobs().stream()
                    .map(blob -> blob.blobId()).toList();
            assertEquals(2, ids.size());
            assertTrue(ids.contains(dictBlob), ids.toString());
            assertTrue(ids.contains(digest), ids.toString());
        }
    }

    @Test
    void negativeBlobSizesAreUsageErrors() throws IOException {
        try (TempDir temp = TempDirs.create("merge-cli-")) {
            Path one = layer(temp, "one", List.of(), "a");
            Path out = temp.resolve("merged.boot");
            String digest = "d".repeat(64);
            for (String option : List.of("--blob-sizes", "--blob-toc-sizes")) {
                CapturedRun run = CapturedRun.nydusImage("merge", "-B", out.toString(),
                        "--blob-digests", digest, option + "=-5", one.toString());

                assertEquals(2, run.exitCode(), option + ": " + run.err());
                assertTrue(run.err().startsWith("error: " + option + ": -5 is negative"),
                        option + ": " + run.err());
                assertFalse(Files.exists(out), option + " wrote " + out);
            }
        }
    }

    /**
     * Builds a layer with one file per name into {@code name}.boot, running `create` in
     * per-layer mode with {@code createOptions} added. Whiteout files are empty.
     */
    private static Path layer(TempDir temp, String name, List<String> createOptions,
            String... files) throws IOException {
        Path dir = Files.createDirectories(temp.resolve(name));
        for (String file : files) {
            Files.writeString(dir.resolve(file), file.startsWith(".wh.") ? ""
                    : "content of " + file);
        }
        Path tar = temp.resolve(name + ".tar");
        Commands.run(List.of("tar", "--format=gnu", "--sort=name", "-C", dir.toString(), "-cf",
                tar.toString(), "."), Duration.ofSeconds(60));
        Path boot = temp.resolve(name + ".boot");
        List<String> args = new java.util.ArrayList<>(List.of("create", "-t", "tar-rafs",
                "--whiteout-spec", "none", "--blob-inline-meta", "-B", boot.toString(), "-D",
                temp.resolve("blobs").toString()));
        args.addAll(createOptions);
        args.add(tar.toString());
        assertEquals(0, Cli.run(new NydusImage(), args.toArray(String[]::new)));
        return boot;
    }

    @FunctionalInterface
    private interface Run {
        int call();
    }

    private static int withStdin(String text, Run run) {
        InputStream saved = System.in;
        System.setIn(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
        try {
            return run.call();
        } finally {
            System.setIn(saved);
        }
    }
}
