package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.nydusify.ImageLocation;
import io.nydus.nydusify.ImageStore;
import io.nydus.nydusify.ImageStores;
import io.nydus.nydusify.SeedImage;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * `nydusify convert`, `check` and `copy` run in-process on OCI layout archives, with
 * prefetch patterns from standard input, output JSON and the option checks.
 */
class ConvertLocalCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("convert-local-");
        registry = RegistryServer.start(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        client.close();
        registry.close();
        temp.close();
    }

    @Test
    void archiveToArchiveWritesJson() throws Exception {
        try (TempDir dir = TempDirs.create("convert-local-")) {
            Path source = seedArchive(dir, "archive/app");
            Path target = dir.resolve("nydus.tar");
            Path json = dir.resolve("result.json");

            Run run = run(null, "convert", "--source-archive", source.toString(),
                    "--target-archive", target.toString(), "--target", "x/app:v1-nydus",
                    "--work-dir", dir.resolve("work").toString(), "--output-json",
                    json.toString(), "--platform", "linux/amd64");

            assertEquals(0, run.exit(), run.err());
            JsonNode summary = JSON.readTree(json.toFile());
            String raw = Commands.run(List.of("skopeo", "inspect", "--raw",
                    "oci-archive:" + target + ":v1-nydus"), SeedImage.TIMEOUT).stdoutText();
            assertEquals(Digest.of(raw.getBytes(StandardCharsets.UTF_8)).toString(),
                    summary.get("target_manifest").asText());
            assertEquals("oci-archive:" + target + ":v1-nydus", summary.get("target").asText());
            assertEquals(5, summary.get("uploads").asInt());
            assertEquals(0, summary.get("bytes_reused").asLong());
            assertTrue(summary.get("bytes_uploaded").asLong() > 3 << 20,
                    summary.toString());
            assertEquals(1, summary.get("manifests").size());
            assertEquals("linux/amd64", summary.get("manifests").get(0).get("platform")
                    .asText());
        }
    }

    @Test
    void secondRunReportsReusedBytes() throws Exception {
        try (TempDir dir = TempDirs.create("convert-local-")) {
            Path source = seedArchive(dir, "reuse/app");
            String target = "oci:" + dir.resolve("layout") + ":nydus";
            Path first = dir.resolve("first.json");
            Path second = dir.resolve("second.json");

            run(null, "convert", "--source", "oci-archive:" + source, "--target", target,
                    "--work-dir", dir.resolve("work").toString(), "--output-json",
                    first.toString());
            Run again = run(null, "convert", "--source", "oci-archive:" + source, "--target",
                    target, "--work-dir", dir.resolve("work").toString(), "--output-json",
                    second.toString());

            assertEquals(0, again.exit(), again.err());
            JsonNode one = JSON.readTree(first.toFile());
            JsonNode two = JSON.readTree(second.toFile());
            assertEquals(one.get("target_manifest"), two.get("target_manifest"));
            assertEquals(0, two.get("uploads").asInt());
            assertEquals(one.get("bytes_uploaded").asLong(), two.get("bytes_reused").asLong());
            assertEquals("existed", two.get("layers").get(0).get("push").asText());
        }
    }

    @Test
    void prefetchPatternsComeFromStdin() throws Exception {
        try (TempDir dir = TempDirs.create("convert-local-")) {
            Path source = seedArchive(dir, "stdin/app");
            Path layout = dir.resolve("layout");
            byte[] patterns = "/bin/tool\n/etc\n".getBytes(StandardCharsets.UTF_8);

            Run run = run(patterns, "convert", "--source-archive", source.toString(),
                    "--target", "oci:" + layout + ":nydus", "--prefetch-patterns",
                    "--work-dir", dir.resolve("work").toString());

            assertEquals(0, run.exit(), run.err());
            Bootstrap bootstrap = layoutBootstrap(ImageLocation.parse("oci:" + layout
                    + ":nydus"), dir.resolve("image.boot"));
            assertEquals(List.of("/bin/tool", "/etc"),
                    bootstrap.prefetch().stream().map(Node::path).toList());
            Run check = run(null, "check", "--source", "oci-archive:" + source, "--target",
                    "oci:" + layout + ":nydus", "--work-dir", dir.resolve("check").toString());
            assertEquals(0, check.exit(), check.out() + check.err());
            assertTrue(check.out().contains("check passed"), check.out());
        }
    }

    @Test
    void copyToFileAndBack() throws Exception {
        try (TempDir dir = TempDirs.create("convert-local-")) {
            ImageReference source = registry.repository("cli/copy").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            Path archive = dir.resolve("image.tar");
            ImageReference back = registry.repository("cli/copy-back").tag("v1");

            Run out = run(null, "copy", "--source", source.toString(), "--target",
                    "file://" + archive, "--plain-http", "--work-dir",
                    dir.resolve("work").toString());
            Run in = run(null, "copy", "--source", "file://" + archive, "--target",
                    back.toString(), "--plain-http", "--work-dir",
                    dir.resolve("work").toString());

            assertEquals(0, out.exit(), out.err());
            assertEquals(0, in.exit(), in.err());
            assertEquals(client.getManifest(source).digest(), client.getManifest(back).digest());
            assertTrue(out.out().contains("to oci-archive:" + archive), out.out());
        }
    }

    @Test
    void platformAndAllPlatformsConflict() {
        Run run = run(null, "convert", "--source", "example.com/a:v1", "--target",
                "example.com/a:v2", "--platform", "linux/amd64", "--all-platforms");

        assertEquals(2, run.exit());
        assertTrue(run.err().contains("mutually exclusive"), run.err());
    }

    @Test
    void invalidChunkDictIsNamed() {
        Run run = run(null, "convert", "--source", "example.com/a:v1", "--target",
                "example.com/a:v2", "--chunk-dict", "bootstrap:cloud:x");

        assertEquals(2, run.exit());
        assertTrue(run.err().contains("bootstrap:cloud:x"), run.err());
    }

    @Test
    void suffixOnArchiveSourceIsRejected() {
        Run run = run(null, "convert", "--source-archive", "/nonexistent/a.tar",
                "--target-suffix", "-nydus");

        assertEquals(2, run.exit());
        assertTrue(run.err().contains("--target-suffix"), run.err());
    }

    @Test
    void missingSourceIsNamed() {
        Run run = run(null, "convert", "--target", "example.com/a:v2");

        assertEquals(2, run.exit());
        assertTrue(run.err().contains("--source"), run.err());
        assertFalse(run.err().contains("Exception"), run.err());
    }

    /** Reads the bootstrap of the Nydus image at {@code location} into {@code file}. */
    private static Bootstrap layoutBootstrap(ImageLocation location, Path file)
            throws Exception {
        try (ImageStore store = ImageStores.openSource(location, client, file.getParent())) {
            Manifest manifest = store.manifest().toManifest();
            Descriptor layer = manifest.layers().getLast();
            try (InputStream blob = store.blob(layer.digest(), layer.size());
                    TarArchiveInputStream tar = new TarArchiveInputStream(
                            new GZIPInputStream(blob))) {
                TarArchiveEntry entry;
                while ((entry = tar.getNextEntry()) != null) {
                    if (entry.getName().equals("image/image.boot")) {
                        Files.copy(tar, file);
                    }
                }
            }
        }
        return BootstrapReader.read(file);
    }

    /** Pushes the seed image and copies it with skopeo into an OCI layout archive. */
    @Test
    void reverseLayoutWritesJson() throws Exception {
        try (TempDir dir = TempDirs.create("convert-local-")) {
            Path source = seedArchive(dir, "reverse/app");
            String nydus = "oci:" + dir.resolve("nydus-layout") + ":nydus";
            Path layout = dir.resolve("oci-layout");
            Path json = dir.resolve("reverse.json");
            run(null, "convert", "--source", "oci-archive:" + source, "--target", nydus,
                    "--work-dir", dir.resolve("work").toString());

            Run run = run(null, "convert", "--reverse", "--source", nydus, "--target",
                    "oci:" + layout + ":oci", "--work-dir", dir.resolve("work").toString(),
                    "--output-json", json.toString());

            assertEquals(0, run.exit(), run.err());
            JsonNode summary = JSON.readTree(json.toFile());
            String raw = Commands.run(List.of("skopeo", "inspect", "--raw",
                    "oci:" + layout + ":oci"), SeedImage.TIMEOUT).stdoutText();
            assertEquals(Digest.of(raw.getBytes(StandardCharsets.UTF_8)).toString(),
                    summary.get("target_manifest").asText());
            JsonNode layers = summary.get("manifests").get(0).get("layers");
            assertEquals(3, layers.size());
            assertEquals("uploaded", layers.get(0).get("push").asText());
            Path bundle = dir.resolve("bundle");
            Commands.run(List.of("umoci", "unpack", "--image", layout + ":oci",
                    bundle.toString()), SeedImage.TIMEOUT);
            assertTrue(Files.isRegularFile(bundle.resolve("rootfs/bin/tool")));
        }
    }

    @Test
    void reverseRejectsBuildOption() throws Exception {
        try (TempDir dir = TempDirs.create("convert-local-")) {
            Run run = run(null, "convert", "--reverse", "--source",
                    "oci:" + dir.resolve("in") + ":nydus", "--target",
                    "oci:" + dir.resolve("out") + ":oci", "--compressor", "lz4_block");

            assertEquals(2, run.exit(), run.err());
            assertTrue(run.err().contains("--compressor"), run.err());
            assertTrue(run.err().contains("--reverse"), run.err());
            assertFalse(Files.exists(dir.resolve("out")));
        }
    }

    @Test
    void reverseRejectsOciSource() throws Exception {
        try (TempDir dir = TempDirs.create("convert-local-")) {
            Path source = seedArchive(dir, "reverse-oci/app");

            Run run = run(null, "convert", "--reverse", "--source", "oci-archive:" + source,
                    "--target", "oci:" + dir.resolve("out") + ":oci", "--work-dir",
                    dir.resolve("work").toString());

            assertEquals(1, run.exit(), run.err());
            assertTrue(run.err().contains("oci-archive:" + source), run.err());
            assertTrue(run.err().contains("is not a Nydus image"), run.err());
            assertFalse(Files.exists(dir.resolve("out")));
        }
    }

    private static Path seedArchive(TempDir dir, String repository) throws Exception {
        ImageReference reference = registry.repository(repository).tag("v1");
        SeedImage.threeLayers(dir.resolve("seed")).push(client, reference);
        Path archive = dir.resolve("source.tar");
        SeedImage.run("skopeo", "copy", "--src-tls-verify=false", "docker://" + reference,
                "oci-archive:" + archive);
        return archive;
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run run(byte[] stdin, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        InputStream savedIn = System.in;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        System.setIn(new ByteArrayInputStream(stdin == null ? new byte[0] : stdin));
        try {
            String[] withLevel = java.util.Arrays.copyOf(args, args.length + 2);
            withLevel[args.length] = "--log-level";
            withLevel[args.length + 1] = "warn";
            int exit = Cli.run(new Nydusify(), withLevel);
            return new Run(exit, out.toString(StandardCharsets.UTF_8),
                    err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
            System.setIn(savedIn);
        }
    }
}
