package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.ImageChecker;
import io.nydus.builder.Unpacker;
import io.nydus.nydusify.SeedImage;
import io.nydus.posix.BytePath;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeGenerator;
import io.nydus.testkit.TreeSnapshot;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** `nydusify pack` and `nydusify copy` run in-process, copy against a local registry. */
class NydusifyPackCopyTest {
    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("nydusify-pack-copy-");
        registry = RegistryServer.start(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        client.close();
        registry.close();
        temp.close();
    }

    @Test
    void packNameWithoutExtensionGetsMeta() throws Exception {
        try (TempDir dir = TempDirs.create("pack-cli-")) {
            Path source = Files.createDirectories(dir.resolve("source"));
            Files.writeString(source.resolve("a"), "hello");
            Path output = dir.resolve("output");

            Run run = run("pack", "--source-dir", source.toString(), "-o", output.toString(),
                    "--name", "image", "--log-level", "warn");

            assertEquals(0, run.exit(), run.err());
            assertTrue(hasLineStarting(run.out(), "bootstrap: " + output.resolve("image.meta")),
                    run.out());
            ImageChecker.check(output.resolve("image.meta"), output);
        }
    }

    @Test
    void packWritesBootstrapAndBlob() throws Exception {
        try (TempDir dir = TempDirs.create("pack-cli-")) {
            Path source = dir.resolve("source");
            TreeGenerator.createSmall(BytePath.of(source));
            Path output = dir.resolve("output");

            Run run = run("pack", "--target-dir", source.toString(), "--output-dir",
                    output.toString(), "--bootstrap", "image.boot", "--compressor", "lz4_block",
                    "--chunk-size", "0x10000", "--log-level", "warn");

            assertEquals(0, run.exit(), run.err());
            Path bootstrap = output.resolve("image.boot");
            assertTrue(hasLineStarting(run.out(), "bootstrap: " + bootstrap), run.out());
            List<Path> blobs = blobFiles(output);
            assertEquals(1, blobs.size(), blobs.toString());
            assertTrue(hasLineStarting(run.out(), "blob: " + blobs.getFirst()), run.out());
            ImageChecker.check(bootstrap, output);
            Path unpacked = dir.resolve("unpacked");
            Unpacker.unpack(bootstrap, output, unpacked);
            TreeComparator.assertSameTree(TreeSnapshot.capture(source),
                    TreeSnapshot.capture(unpacked),
                    TreeComparator.Options.defaults().ignoringRootMtime());
        }
    }

    @Test
    void buildAliasTakesUpstreamNames() throws Exception {
        try (TempDir dir = TempDirs.create("pack-cli-")) {
            Path source = Files.createDirectories(dir.resolve("source"));
            Files.writeString(source.resolve("file"), "data\n");
            Path output = dir.resolve("output");
            Run first = run("build", "--source-dir", source.toString(), "--output-dir",
                    output.toString(), "--name", "dict.boot", "--log-level", "warn");
            assertEquals(0, first.exit(), first.err());

            Run second = run("build", "--source-dir", source.toString(), "--output-dir",
                    output.toString(), "--meta", "again.boot", "--chunk-dict",
                    "bootstrap:local:" + output.resolve("dict.boot"), "--log-level", "warn");

            assertEquals(0, second.exit(), second.err());
            assertTrue(hasLineStarting(second.out(), "blob: none"), second.out());
            ImageChecker.check(output.resolve("again.boot"), output);
        }
    }

    @Test
    void packFsVersionFiveIsUsageError() throws Exception {
        try (TempDir dir = TempDirs.create("pack-cli-")) {
            Run run = run("pack", "--target-dir", dir.path().toString(), "--output-dir",
                    dir.resolve("out").toString(), "--bootstrap", "boot", "--fs-version", "5");

            assertEquals(2, run.exit());
            assertTrue(run.err().contains("--fs-version 5"), run.err());
        }
    }

    @Test
    void packMissingSourceExitsOne() throws Exception {
        try (TempDir dir = TempDirs.create("pack-cli-")) {
            Path source = dir.resolve("absent");

            Run run = run("pack", "--target-dir", source.toString(), "--output-dir",
                    dir.resolve("out").toString(), "--bootstrap", "boot");

            assertEquals(1, run.exit());
            assertTrue(run.err().contains(source.toString()), run.err());
        }
    }

    @Test
    void packOutputDirThatIsFileIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("pack-cli-")) {
            Path source = Files.createDirectories(dir.resolve("source"));
            Files.writeString(source.resolve("a"), "hello");
            Path output = Files.writeString(dir.resolve("output"), "kept");

            Run run = run("pack", "--target-dir", source.toString(), "--output-dir",
                    output.toString(), "--bootstrap", "boot");

            assertEquals(1, run.exit());
            assertTrue(run.err().startsWith("error: " + output + " exists and is not a"
                    + " directory"), run.err());
            assertEquals("kept", Files.readString(output));
        }
    }

    @Test
    void copyToArchiveThatIsDirectoryFailsFirst() throws Exception {
        try (TempDir dir = TempDirs.create("copy-cli-")) {
            ImageReference source = registry.repository("cli/to-dir").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            Path archive = Files.createDirectories(dir.resolve("archive.tar"));
            Files.writeString(archive.resolve("kept"), "kept");

            Run copy = run("copy", "--source", source.toString(), "--target",
                    "file://" + archive, "--plain-http", "--platform", "linux/amd64",
                    "--work-dir", dir.resolve("work").toString());

            assertEquals(1, copy.exit());
            assertTrue(copy.err().contains("error: cannot write " + archive
                    + ": it is a directory"), copy.err());
            assertFalse(copy.err().contains("copied"), copy.err());
            assertEquals("kept", Files.readString(archive.resolve("kept")));
            try (Stream<Path> left = Files.list(dir.path())) {
                assertEquals(List.of(), left.filter(path -> path.getFileName().toString()
                        .startsWith(".archive.tar")).toList());
            }
        }
    }

    @Test
    void copyFromTruncatedArchiveNamesIt() throws Exception {
        try (TempDir dir = TempDirs.create("copy-cli-")) {
            Path archive = dir.resolve("app.tar");
            Run copy = copySeedToArchive(dir, "cli/truncated", archive);
            assertEquals(0, copy.exit(), copy.err());
            byte[] whole = Files.readAllBytes(archive);
            Path truncated = Files.write(dir.resolve("truncated.tar"),
                    java.util.Arrays.copyOf(whole, whole.length / 2 + 100));

            Run again = run("copy", "--source", "file://" + truncated, "--target",
                    registry.repository("cli/truncated-copy").tag("v1").toString(),
                    "--plain-http", "--platform", "linux/amd64", "--work-dir",
                    dir.resolve("work").toString());

            assertEquals(1, again.exit());
            assertTrue(again.err().startsWith("error: archive " + truncated + ": "),
                    again.err());
            assertTrue(again.err().contains("truncated"), again.err());
        }
    }

    @Test
    void copyLogsEachBlobItCopies() throws Exception {
        try (TempDir dir = TempDirs.create("copy-cli-")) {
            Run copy = copySeedToArchive(dir, "cli/progress", dir.resolve("app.tar"));

            assertEquals(0, copy.exit(), copy.err());
            Manifest manifest = client.getManifest(registry.repository("cli/progress").tag("v1"))
                    .toManifest();
            assertTrue(copy.err().contains("config " + manifest.config().digest() + " ("
                    + manifest.config().size() + " bytes): uploaded"), copy.err());
            for (int i = 0; i < 3; i++) {
                Descriptor layer = manifest.layers().get(i);
                assertTrue(copy.err().contains("layer " + (i + 1) + "/3 " + layer.digest()
                        + " (" + layer.size() + " bytes): uploaded in "), copy.err());
            }
        }
    }

    @Test
    void copyKeepsConvertedDigest() throws Exception {
        try (TempDir dir = TempDirs.create("copy-cli-")) {
            ImageReference source = registry.repository("cli/app").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            Run convert = run("convert", "--source", source.toString(), "--target-suffix",
                    "-nydus", "--plain-http", "--platform", "linux/amd64", "--work-dir",
                    dir.resolve("work").toString(), "--log-level", "warn");
            assertEquals(0, convert.exit(), convert.err());
            ImageReference nydus = source.toRepository().tag("v1-nydus");
            ImageReference target = registry.repository("cli/mirror").tag("v1-nydus");

            Run copy = run("copy", "--source", nydus.toString(), "--target", target.toString(),
                    "--plain-http", "--platform", "linux/amd64", "--log-level", "warn");

            assertEquals(0, copy.exit(), copy.err());
            assertEquals(client.getManifest(nydus).digest(),
                    client.getManifest(target).digest());
            assertTrue(hasLineStarting(copy.out(), "copied " + nydus + " to " + target),
                    copy.out());
            Run again = run("copy", "--source", nydus.toString(), "--target",
                    target.toString(), "--plain-http", "--platform", "linux/amd64",
                    "--log-level", "warn");
            assertEquals(0, again.exit(), again.err());
            assertTrue(again.out().contains(": 0 blobs uploaded, 0 mounted, 5 already in"
                    + " target"), again.out());
        }
    }

    @Test
    void pushChunkSizeSplitsUploads() throws Exception {
        try (TempDir dir = TempDirs.create("copy-cli-");
                RegistryServer logged = RegistryServer.startWithAccessLog(dir)) {
            ImageReference source = registry.repository("cli/chunked").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            ImageReference target = logged.repository("cli/chunked").tag("v1");

            Run copy = run("copy", "--source", source.toString(), "--target", target.toString(),
                    "--plain-http", "--platform", "linux/amd64", "--push-chunk-size", "64KiB",
                    "--log-level", "warn");

            assertEquals(0, copy.exit(), copy.err());
            assertEquals(client.getManifest(source).digest(), client.getManifest(target).digest());
            long patches = logged.accessLog().stream()
                    .filter(entry -> entry.method().equals("PATCH")).count();
            assertTrue(patches > 3, "PATCH requests: " + patches);
        }
    }

    /**
     * A convert into an empty registry sends each blob while it is built; with
     * {@code --push-chunk-size} its parts, and every other upload, stay within that size.
     */
    @Test
    void convertPushChunkSizeSplitsUploads() throws Exception {
        try (TempDir dir = TempDirs.create("convert-cli-");
                RegistryServer logged = RegistryServer.startWithAccessLog(dir)) {
            ImageReference source = registry.repository("cli/random").tag("v1");
            byte[] random = new byte[1 << 20];
            new java.util.Random(7).nextBytes(random);
            SeedImage.oneLayer(dir.resolve("seed"),
                    layer -> Files.write(layer.resolve("random.bin"), random))
                    .push(client, source);
            ImageReference target = logged.repository("cli/random").tag("nydus");

            Run convert = run("convert", "--source", source.toString(), "--target",
                    target.toString(), "--plain-http", "--push-chunk-size", "64KiB",
                    "--log-level", "warn");

            assertEquals(0, convert.exit(), convert.err());
            long patches = logged.accessLog().stream()
                    .filter(entry -> entry.method().equals("PATCH")).count();
            assertTrue(patches >= 16, "PATCH requests: " + patches);
        }
    }

    @Test
    void invalidPushChunkSizeIsUsageError() {
        for (String command : new String[] {"copy", "convert"}) {
            for (String size : new String[] {"lots", "1B", "100", "63KiB"}) {
                Run run = run(command, "--source", registry.address() + "/cli/app:v1",
                        "--target", registry.address() + "/cli/other:v1", "--push-chunk-size",
                        size);

                assertEquals(2, run.exit(), command + " " + size);
                assertTrue(run.err().contains("--push-chunk-size '" + size + "'"), run.err());
            }
        }
    }

    @Test
    void copyMissingTagExitsOne() throws Exception {
        String source = registry.address() + "/cli/absent:nope";

        Run run = run("copy", "--source", source, "--target",
                registry.address() + "/cli/absent-copy:v1", "--plain-http");

        assertEquals(1, run.exit());
        assertTrue(run.err().contains("registry " + registry.address()), run.err());
        assertTrue(run.err().contains("repository cli/absent"), run.err());
        assertTrue(run.err().contains("tag nope"), run.err());
    }

    @Test
    void platformAndAllPlatformsConflict() throws Exception {
        Run run = run("copy", "--source", "example.com/a:v1", "--target", "example.com/b:v1",
                "--platform", "linux/amd64", "--all-platforms");

        assertEquals(2, run.exit());
        assertTrue(run.err().contains("mutually exclusive"), run.err());
    }

    /** Pushes the three-layer seed image as {@code repository}:v1 and copies it to a tar. */
    private static Run copySeedToArchive(TempDir dir, String repository, Path archive)
            throws Exception {
        ImageReference source = registry.repository(repository).tag("v1");
        SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
        return run("copy", "--source", source.toString(), "--target", "file://" + archive,
                "--plain-http", "--platform", "linux/amd64", "--work-dir",
                dir.resolve("work").toString());
    }

    private static List<Path> blobFiles(Path output) throws IOException {
        try (Stream<Path> files = Files.list(output)) {
            return files.filter(file -> file.getFileName().toString().matches("[0-9a-f]{64}"))
                    .toList();
        }
    }

    /** Finds a line of command output among the log lines that the test logger adds. */
    private static boolean hasLineStarting(String output, String prefix) {
        return output.lines().anyMatch(line -> line.startsWith(prefix));
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int exit = Cli.run(new Nydusify(), args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8),
                    err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
    }
}
