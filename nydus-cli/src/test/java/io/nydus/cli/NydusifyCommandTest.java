package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.nydusify.ImageLocation;
import io.nydus.nydusify.MountSource;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Digest;
import io.nydus.registry.ForwardingProxy;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.RetryPolicy;
import io.nydus.registry.TestCertificates;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.KernelErofs;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** `nydusify convert` run in-process against a local {@code docker-registry}. */
class NydusifyCommandTest {
    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("nydusify-cli-");
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
    void convertWithSuffixWritesJson() throws Exception {
        try (TempDir dir = TempDirs.create("convert-cli-")) {
            ImageReference source = registry.repository("cli/app").tag("v1");
            SeedImage.threeLayers(dir.path()).push(client, source);
            Path json = dir.resolve("result.json");

            int exit = Cli.run(new Nydusify(), "convert", "--source", source.toString(),
                    "--target-suffix", "-nydus", "--plain-http", "--work-dir",
                    dir.resolve("work").toString(), "--output-json", json.toString(),
                    "--log-level", "warn");

            assertEquals(0, exit);
            assertFalse(Files.exists(dir.resolve("work")), "the run's work directory stays");
            ImageReference target = registry.repository("cli/app").tag("v1-nydus");
            Manifest manifest = client.getManifest(target).toManifest();
            JsonNode summary = new ObjectMapper().readTree(json.toFile());
            assertEquals(client.getManifest(target).digest().toString(),
                    summary.get("target_manifest").asText());
            assertEquals(3, summary.get("layers").size());
            assertEquals(manifest.layers().getLast().digest().toString(),
                    summary.get("bootstrap").get("digest").asText());
            assertEquals(5, summary.get("uploads").asInt());
            assertTrue(manifest.isNydus());
        }
    }

    @Test
    void missingSourceTagExitsOne() throws Exception {
        try (TempDir dir = TempDirs.create("convert-cli-")) {
            String source = registry.address() + "/cli/absent:nope";
            Run run = runCapturingErr("convert", "--source", source, "--target",
                    registry.address() + "/cli/absent:nydus", "--plain-http", "--work-dir",
                    dir.resolve("work").toString());

            assertEquals(1, run.exit());
            assertTrue(run.err().contains("registry " + registry.address()), run.err());
            assertTrue(run.err().contains("repository cli/absent"), run.err());
            assertTrue(run.err().contains("tag nope"), run.err());
        }
    }

    @Test
    void fsVersionFiveIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("convert-cli-")) {
            Run run = runCapturingErr("convert", "--source", registry.address() + "/a:v1",
                    "--target", registry.address() + "/a:v2", "--plain-http",
                    "--fs-version", "5", "--work-dir", dir.resolve("work").toString());

            assertEquals(2, run.exit());
            assertTrue(run.err().contains("--fs-version 5"), run.err());
        }
    }

    @Test
    void targetAndSuffixConflict() throws Exception {
        Run run = runCapturingErr("convert", "--source", "example.com/a:v1", "--target",
                "example.com/a:v2", "--target-suffix", "-nydus");

        assertEquals(2, run.exit());
        assertTrue(run.err().contains("mutually exclusive"), run.err());
    }

    @Test
    void checkAfterConvertPasses() throws Exception {
        try (TempDir dir = TempDirs.create("check-cli-")) {
            ImageReference source = registry.repository("cli/checked").tag("v1");
            SeedImage.oneLayer(dir.resolve("seed"), layer -> { }).push(client, source);
            ImageReference target = convert(source, dir);

            Output run = runCapturingOut("check", "--source", source.toString(), "--target",
                    target.toString(), "--plain-http", "--platform", "linux/amd64",
                    "--work-dir", dir.resolve("work").toString(), "--log-level", "warn");

            assertEquals(0, run.exit(), run.out());
            assertTrue(hasLineStarting(run.out(), "check passed: 6 entries match"), run.out());
            assertFalse(Files.exists(dir.resolve("work")), "the run's work directory stays");
        }
    }

    @Test
    void checkWithoutSourceReadsTarget() throws Exception {
        try (TempDir dir = TempDirs.create("check-cli-")) {
            ImageReference target = seedAndConvert(dir, "cli/alone", layer -> { });

            Output run = runCapturingOut("check", "--target", target.toString(), "--plain-http",
                    "--work-dir", dir.resolve("work").toString(), "--log-level", "warn");

            assertEquals(0, run.exit(), run.out());
            assertTrue(hasLineStarting(run.out(), "check passed: 6 entries read"), run.out());
        }
    }

    @Test
    void checkLogsEachBlobItDownloads() throws Exception {
        try (TempDir dir = TempDirs.create("check-cli-")) {
            ImageReference target = seedAndConvert(dir, "cli/check-progress", layer -> { });
            List<Descriptor> layers = client.getManifest(target).toManifest().layers();
            List<Descriptor> blobs = layers.subList(0, layers.size() - 1);

            CapturedRun run = CapturedRun.nydusify("check", "--target", target.toString(),
                    "--plain-http", "--work-dir", dir.resolve("work").toString());

            assertEquals(0, run.exitCode(), run.err());
            for (int i = 0; i < blobs.size(); i++) {
                Descriptor blob = blobs.get(i);
                assertTrue(run.err().contains("downloaded blob " + (i + 1) + "/" + blobs.size()
                        + " " + blob.digest() + " (" + blob.size() + " bytes)"), run.err());
            }
        }
    }

    @Test
    void checkWithoutSourceFindsFlippedBlobByte() throws Exception {
        try (TempDir dir = TempDirs.create("check-cli-")) {
            // Content of its own, because the registry stores a blob once for all repositories.
            ImageReference target = seedAndConvert(dir, "cli/flipped", layer -> SeedImage.write(
                    layer.resolve("flipped"), "only in this image"));
            Digest blob = client.getManifest(target).toManifest().layers().getFirst().digest();
            byte[] data = Files.readAllBytes(registry.blobFile(blob));
            data[10] ^= 0x01;
            Files.write(registry.blobFile(blob), data);

            Run run = runCapturingErr("check", "--target", target.toString(), "--plain-http",
                    "--work-dir", dir.resolve("work").toString(), "--log-level", "warn");

            assertEquals(1, run.exit(), run.err());
            assertTrue(run.err().contains("blob " + blob + " in "), run.err());
            assertTrue(run.err().contains("digest mismatch"), run.err());
        }
    }

    @Test
    void checkOfChangedFileExitsOne() throws Exception {
        try (TempDir dir = TempDirs.create("check-cli-")) {
            ImageReference source = registry.repository("cli/original").tag("v1");
            SeedImage.oneLayer(dir.resolve("original"), layer -> { }).push(client, source);
            ImageReference changed = registry.repository("cli/changed").tag("v1");
            SeedImage.oneLayer(dir.resolve("changed"), layer -> SeedImage.write(
                    layer.resolve("bin/run"), "#!/bin/sh\nexec app\r")).push(client, changed);
            ImageReference target = convert(changed, dir);

            Output run = runCapturingOut("check", "--source", source.toString(), "--target",
                    target.toString(), "--plain-http", "--work-dir",
                    dir.resolve("work").toString(), "--log-level", "warn");

            assertEquals(1, run.exit(), run.out());
            assertTrue(hasLineStarting(run.out(), "/bin/run: content differs"), run.out());
            assertTrue(hasLineStarting(run.out(), "check failed: 1 differences"), run.out());
        }
    }

    @Test
    void pushRetriesGetPastFailingTarget() throws Exception {
        try (TempDir dir = TempDirs.create("convert-cli-");
                ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            ImageReference source = seedOneLayer(dir, "cli/retry");
            // Four failures in a row use up all attempts of the client's default policy.
            proxy.failNext(4);

            int exit = Cli.run(new Nydusify(), "convert", "--source", source.toString(),
                    "--target", proxy.address() + "/cli/retry:v1-nydus", "--plain-http",
                    "--push-retry-count", "5", "--push-retry-delay", "10ms", "--work-dir",
                    dir.resolve("work").toString(), "--log-level", "warn");

            assertEquals(0, exit);
            String first = proxy.requests().getFirst();
            assertEquals(5, proxy.requests().stream().filter(first::equals).count(),
                    proxy.requests().toString());
            assertTrue(client.getManifest(source.toRepository().tag("v1-nydus")).toManifest()
                    .isNydus());
        }
    }

    @Test
    void pushRetryCountOneStopsAtFirstFailure() throws Exception {
        try (TempDir dir = TempDirs.create("convert-cli-");
                ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            ImageReference source = seedOneLayer(dir, "cli/no-retry");
            // The first upload session fails. Requests before it only read the target.
            proxy.failNext("POST", 1);

            Run run = runCapturingErr("convert", "--source", source.toString(), "--target",
                    proxy.address() + "/cli/no-retry:v1-nydus", "--plain-http",
                    "--push-retry-count", "1", "--work-dir", dir.resolve("work").toString(),
                    "--log-level", "warn");

            assertEquals(1, run.exit());
            assertTrue(run.err().contains("503"), run.err());
            List<String> posts = proxy.requests().stream()
                    .filter(request -> request.startsWith("POST ")).toList();
            assertEquals(1, posts.size(), proxy.requests().toString());
        }
    }

    @Test
    void pushRetryOptionsDefaultAsUpstream() {
        ConvertCommand command = new ConvertCommand();
        new CommandLine(command).parseArgs("--source", "a/b:v1", "--target", "a/b:v2",
                "--push-retry-count", "0", "--push-retry-delay", "0");

        assertEquals(RetryPolicy.fixedDelay(3, Duration.ofSeconds(5)), command.pushRetryPolicy());
    }

    @Test
    void invalidPushRetryDelayIsUsageError() {
        Run run = runCapturingErr("convert", "--source", "example.com/a:v1", "--target",
                "example.com/a:v2", "--push-retry-delay", "soon");

        assertEquals(2, run.exit());
        assertTrue(run.err().contains("'soon'"), run.err());
    }

    @Test
    void chunkDictInsecureReadsDictionaryOverTls() throws Exception {
        try (TempDir dir = TempDirs.create("dict-tls-")) {
            Path ca = dir.resolve("ca.pem");
            Path key = dir.resolve("server.key");
            Path cert = dir.resolve("server.pem");
            TestCertificates.make(dir.path(), ca, key, cert);
            try (RegistryServer tls = RegistryServer.start(dir, """
                      tls:
                        certificate: %s
                        key: %s
                    """.formatted(cert, key), "")) {
                ImageReference nydus = seedAndConvert(dir, "cli/dict", layer -> { });
                ImageReference dict = tls.repository("cli/dict").tag("v1-nydus");
                Run copy = runCapturingErr("copy", "--source", nydus.toString(), "--target",
                        dict.toString(), "--source-insecure", "--target-insecure",
                        "--platform", "linux/amd64");
                assertEquals(0, copy.exit(), copy.err());
                ImageReference source = seedOneLayer(dir, "cli/dict-user");

                Run plain = convertWithDict(dir, source, dict, "plain");
                Run insecure = convertWithDict(dir, source, dict, "insecure",
                        "--chunk-dict-insecure");

                assertEquals(1, plain.exit(), plain.err());
                assertEquals(0, insecure.exit(), insecure.err());
                Digest dictBlob = client.getManifest(nydus).toManifest().layers().getFirst()
                        .digest();
                List<Digest> layers = client.getManifest(source.toRepository().tag("insecure"))
                        .toManifest().layers().stream().map(layer -> layer.digest()).toList();
                assertTrue(layers.contains(dictBlob), layers.toString());
            }
        }
    }

    private static Run convertWithDict(TempDir dir, ImageReference source, ImageReference dict,
            String tag, String... extra) {
        List<String> args = new ArrayList<>(List.of("convert", "--source", source.toString(),
                "--target", source.toRepository().tag(tag).toString(), "--plain-http",
                "--platform", "linux/amd64", "--chunk-dict", "bootstrap:registry:" + dict,
                "--work-dir", dir.resolve("work-" + tag).toString(), "--log-level", "warn"));
        args.addAll(List.of(extra));
        return runCapturingErr(args.toArray(String[]::new));
    }

    @Test
    void commandLineSuffixBeatsTargetVariable() throws Exception {
        try (TempDir dir = TempDirs.create("env-rival-")) {
            ImageReference source = seedOneLayer(dir, "cli/env-rival");
            // TARGET names a closed port, so the run fails if it takes TARGET.
            Map<String, String> environment = Map.of("TARGET", "127.0.0.1:1/cli/env:v2",
                    "PLAIN_HTTP", "true");

            int exit = Cli.run(new Nydusify(), environment, "convert", "--source",
                    source.toString(), "--target-suffix", "-cli", "--work-dir",
                    dir.resolve("work").toString(), "--log-level", "warn");

            assertEquals(0, exit);
            assertTrue(client.getManifest(source.toRepository().tag("v1-cli")).toManifest()
                    .isNydus());
        }
    }

    @Test
    void commandLineArchiveBeatsSourceVariable() throws Exception {
        try (TempDir dir = TempDirs.create("env-rival-")) {
            Path archive = dir.resolve("missing.tar");
            Map<String, String> environment = Map.of("SOURCE", "127.0.0.1:1/cli/env:v1");
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream saved = System.err;
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit;
            try {
                exit = Cli.run(new Nydusify(), environment, "convert", "--source-archive",
                        archive.toString(), "--target", "oci:" + dir.resolve("out") + ":v1",
                        "--work-dir", dir.resolve("work").toString());
            } finally {
                System.setErr(saved);
            }

            assertEquals(1, exit, err.toString(StandardCharsets.UTF_8));
            assertTrue(err.toString(StandardCharsets.UTF_8).contains(archive.toString()),
                    err.toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void invalidLocationsAreUsageErrors() {
        String image = "127.0.0.1:1/cli/app:v1";
        List<String[]> cases = List.of(
                new String[] {"invalid image reference 'bad ref!'", "copy", "--source",
                    "bad ref!", "--target", image},
                new String[] {"invalid image location 'oci:'", "copy", "--source", image,
                    "--target", "oci:"},
                new String[] {"invalid platform 'bogus'", "copy", "--source", image,
                    "--target", image + "-copy", "--platform", "bogus"},
                new String[] {"invalid image reference 'bad ref!'", "check", "--target",
                    "bad ref!"},
                new String[] {"invalid image reference 'bad ref!'", "check", "--source",
                    "bad ref!", "--target", image},
                new String[] {"invalid platform 'bogus'", "check", "--target", image,
                    "--platform", "bogus"},
                new String[] {"invalid image reference 'bad ref!'", "mount", "--target",
                    "bad ref!"},
                new String[] {"invalid platform 'bogus'", "mount", "--target", image,
                    "--platform", "bogus"});
        for (String[] entry : cases) {
            String[] args = java.util.Arrays.copyOfRange(entry, 1, entry.length);

            CapturedRun run = CapturedRun.nydusify(args);

            assertEquals(2, run.exitCode(), String.join(" ", args) + ": " + run.err());
            assertTrue(run.err().startsWith("error: " + entry[0]),
                    String.join(" ", args) + ": " + run.err());
        }
    }

    @Test
    void badVariableIsNamedInUsageError() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream saved = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int exit;
        try {
            exit = Cli.run(new Nydusify(), Map.of("PLAIN_HTTP", "yes", "LOG_LEVEL", "info"),
                    "convert", "--source", "127.0.0.1:1/a:v1", "--target", "127.0.0.1:1/a:v2");
        } finally {
            System.setErr(saved);
        }

        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, exit, text);
        assertTrue(text.contains("'yes'"), text);
        assertTrue(text.contains("(from the environment variable PLAIN_HTTP)"), text);
    }

    @Test
    void invalidLogLevelIsUsageError() {
        Run flag = runCapturingErr("convert", "--source", "127.0.0.1:1/a:v1", "--target",
                "127.0.0.1:1/a:v2", "--log-level", "bogus");

        assertEquals(2, flag.exit(), flag.err());
        assertTrue(flag.err().contains("'bogus' is not a log level"), flag.err());
    }

    @Test
    void unpackReadsBlobsFromRegistryBackend() throws Exception {
        try (TempDir dir = TempDirs.create("unpack-backend-")) {
            MountSource source = convertAndFetch(dir, "cli/unpack");
            Path output = dir.resolve("unpacked");

            int exit = Cli.run(new NydusImage(), "unpack", source.bootstrap().toString(),
                    "--backend-type", "registry", "--backend-config",
                    source.backend().get("config").toString(), "--output", output.toString());

            assertEquals(0, exit);
            assertEquals("name = app\nport = 8080\n",
                    Files.readString(output.resolve("etc/app.conf")));
            try (var left = Files.list(dir.path())) {
                assertEquals(List.of(), left.filter(p -> p.getFileName().toString()
                        .startsWith(".nydus-unpack-blobs-")).toList());
            }
        }
    }

    @Test
    void ociRefImageUnpacksFromRegistryBackend() throws Exception {
        try (TempDir dir = TempDirs.create("oci-ref-unpack-")) {
            ImageReference source = registry.repository("cli/oci-ref").tag("v1");
            SeedImage seed = SeedImage.oneLayer(dir.resolve("seed"), layer -> { });
            seed.push(client, source);
            int convert = Cli.run(new Nydusify(), "convert", "--source", source.toString(),
                    "--target-suffix", "-nydus", "--plain-http", "--platform", "linux/amd64",
                    "--oci-ref", "--work-dir", dir.resolve("convert-work").toString(),
                    "--log-level", "warn");
            assertEquals(0, convert);
            MountSource image = MountSource.fetch(ImageLocation.registry(
                    source.toRepository().tag("v1-nydus")), client, TransportMode.PLAIN_HTTP,
                    CredentialProvider.anonymous(), PlatformSpec.parse("linux/amd64"),
                    dir.resolve("fetched"));
            Path output = dir.resolve("unpacked");

            int exit = Cli.run(new NydusImage(), "unpack", image.bootstrap().toString(),
                    "--backend-type", "registry", "--backend-config",
                    image.backend().get("config").toString(), "--output", output.toString());

            assertEquals(0, exit);
            io.nydus.testkit.TreeComparator.assertSameTree(
                    io.nydus.testkit.TreeSnapshot.capture(seed.expected()),
                    io.nydus.testkit.TreeSnapshot.capture(output),
                    io.nydus.testkit.TreeComparator.Options.defaults().ignoringRootMtime());
        }
    }

    @Test
    void ociRefIgnoresDockerFormatWithWarning() throws Exception {
        try (TempDir dir = TempDirs.create("oci-ref-docker-")) {
            ImageReference source = registry.repository("cli/oci-ref-docker").tag("v1");
            SeedImage.oneLayer(dir.resolve("seed"), layer -> { }).push(client, source);

            CapturedRun convert = CapturedRun.nydusify("convert", "--source", source.toString(),
                    "--target-suffix", "-nydus", "--plain-http", "--platform", "linux/amd64",
                    "--oci-ref", "--docker-v2-format", "--work-dir",
                    dir.resolve("convert-work").toString());

            assertEquals(0, convert.exitCode(), convert.err());
            assertTrue(convert.err().contains("--docker-v2-format is ignored"), convert.err());
            Manifest target = Manifest.parse(client.getManifest(
                    source.toRepository().tag("v1-nydus")).bytes(), "target");
            assertEquals(MediaTypes.OCI_MANIFEST, target.mediaType());
        }
    }

    @Test
    void ociRefNamesOptionItRejects() {
        String[][] cases = {
            {"--chunk-dict", "bootstrap:local:/tmp/dict.boot", "--chunk-dict"},
            {"--build-cache-tag", "cache", "--build-cache"},
        };
        for (String[] c : cases) {
            CapturedRun run = CapturedRun.nydusify("convert", "--oci-ref", "--plain-http",
                    "--source", "127.0.0.1:9/app:v1", "--target", "127.0.0.1:9/app:v1-nydus",
                    c[0], c[1]);

            assertEquals(2, run.exitCode(), run.err());
            assertTrue(run.err().contains("--oci-ref cannot be combined with " + c[2]),
                    run.err());
        }
    }

    @Test
    void unpackBackendOptionsAreChecked() {
        String[][] cases = {
            {"--backend-type", "localfs", "--backend-config", "{}"},
            {"--backend-type", "registry"},
            {"--backend-type", "registry", "--backend-config", "{not json"},
            {"--backend-type", "registry", "--backend-config", "{}", "--blob-dir", "/tmp"},
            {"--backend-config", "{}"},
            {"--backend-type", "s3", "--backend-config", "{}"},
            {"--backend-type", "registry", "--backend-config", "[]"},
            {"--backend-type", "registry", "--backend-config", "{}", "--backend-config-file",
                "/nonexistent/config.json"},
        };
        for (String[] options : cases) {
            List<String> args = new ArrayList<>(List.of("unpack", "/nonexistent/image.boot",
                    "--output", "/nonexistent/out"));
            args.addAll(List.of(options));
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream saved = System.err;
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit;
            try {
                exit = Cli.run(new NydusImage(), args.toArray(String[]::new));
            } finally {
                System.setErr(saved);
            }
            assertEquals(2, exit, String.join(" ", options) + ": " + err);
        }
    }

    @Test
    void exportReadsBlobsFromConfigEntry() throws Exception {
        try (TempDir dir = TempDirs.create("export-config-")) {
            MountSource source = convertAndFetch(dir, "cli/export");
            String registryConfig = source.backend().get("config").toString();
            Path v2 = dir.resolve("entry-v2.json");
            Files.writeString(v2, "{\"type\": \"bootstrap\", \"id\": \"app\", \"config_v2\":"
                    + " {\"version\": 2, \"backend\": {\"type\": \"registry\", \"registry\": "
                    + registryConfig + "}, \"metadata_path\": \"" + source.bootstrap() + "\"}}");
            Path legacy = dir.resolve("entry-legacy.json");
            Files.writeString(legacy, "{\"type\": \"bootstrap\", \"id\": \"app\", \"config\":"
                    + " {\"backend_type\": \"registry\", \"backend_config\": " + registryConfig
                    + "}}");
            Path fromV2 = dir.resolve("v2.disk");
            Path fromLegacy = dir.resolve("legacy.disk");

            int exitV2 = Cli.run(new NydusImage(), "export", "--block", "-C", v2.toString(),
                    "-O", fromV2.toString());
            int exitLegacy = Cli.run(new NydusImage(), "export", "--block", "--config",
                    legacy.toString(), "--bootstrap", source.bootstrap().toString(), "--output",
                    fromLegacy.toString());

            assertEquals(0, exitV2);
            assertEquals(0, exitLegacy);
            assertArrayEquals(Files.readAllBytes(fromV2), Files.readAllBytes(fromLegacy));
            Path mountPoint = Files.createDirectories(dir.resolve("mnt"));
            try (KernelErofs mount = KernelErofs.mount(fromV2, mountPoint)) {
                assertEquals("name = app\nport = 8080\n",
                        Files.readString(mount.mountPoint().resolve("etc/app.conf")));
            }
            try (var left = Files.list(dir.path())) {
                assertEquals(List.of(), left.filter(p -> p.getFileName().toString()
                        .startsWith(".nydus-export-blobs-")).toList());
            }
        }
    }

    @Test
    void statReadsBootstrapInlinedInRegistryBlob() throws Exception {
        try (TempDir dir = TempDirs.create("stat-config-")) {
            MountSource source = convertAndFetch(dir, "cli/stat");
            String blobId = BootstrapReader.read(source.bootstrap()).blobs().getFirst().blobId();
            Path named = Files.write(dir.resolve(blobId), new byte[0]);
            Path config = Files.writeString(dir.resolve("nydusd.json"), "{\"version\": 2,"
                    + " \"backend\": {\"type\": \"registry\", \"registry\": "
                    + source.backend().get("config") + "}}");
            Path fromBlob = dir.resolve("blob-stat.json");
            Path fromBootstrap = dir.resolve("bootstrap-stat.json");
            List<Path> copiesBefore = statBlobCopies();

            int exitBlob = Cli.run(new NydusImage(), "stat", "-B", named.toString(), "-C",
                    config.toString(), "-J", fromBlob.toString());
            int exitBootstrap = Cli.run(new NydusImage(), "stat", "-B",
                    source.bootstrap().toString(), "-J", fromBootstrap.toString());

            assertEquals(0, exitBlob);
            assertEquals(0, exitBootstrap);
            // One layer: its inlined bootstrap has the tree and chunks of the merged one.
            JsonNode layer = new ObjectMapper().readTree(fromBlob.toFile());
            JsonNode merged = new ObjectMapper().readTree(fromBootstrap.toFile());
            assertTrue(layer.get("base_image").get("files").asLong() > 0, layer.toString());
            assertEquals(merged, layer);
            assertEquals(copiesBefore, statBlobCopies());
        }
    }

    /** Lists the temporary directories that stat copies blobs of a backend into. */
    private static List<Path> statBlobCopies() throws IOException {
        try (var entries = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return entries.filter(p -> p.getFileName().toString()
                    .startsWith(".nydus-stat-blobs-")).sorted().toList();
        }
    }

    @Test
    void buildCacheConflictsWithTag() {
        Run run = runCapturingErr("convert", "--source", "127.0.0.1:1/a:v1", "--target",
                "127.0.0.1:1/a:v2", "--build-cache", "127.0.0.1:1/a:cache",
                "--build-cache-tag", "cache");

        assertEquals(2, run.exit(), run.err());
        assertTrue(run.err().contains("--build-cache and --build-cache-tag conflict"),
                run.err());
    }

    @Test
    void buildCacheTagOfTargetIsUsageError() {
        Run run = runCapturingErr("convert", "--source", "127.0.0.1:1/a:v1", "--target",
                "127.0.0.1:1/a:same", "--build-cache-tag", "same");

        assertEquals(2, run.exit(), run.err());
        assertTrue(run.err().contains("build cache 127.0.0.1:1/a:same is the target image"
                + " 127.0.0.1:1/a:same"), run.err());
    }

    @Test
    void buildCacheOfSourceIsUsageError() {
        for (String[] cache : List.of(new String[] {"--build-cache-tag", "v1"},
                new String[] {"--build-cache", "127.0.0.1:1/a:v1"})) {
            Run run = runCapturingErr("convert", "--source", "127.0.0.1:1/a:v1", "--target",
                    "127.0.0.1:1/a:v2", cache[0], cache[1]);

            assertEquals(2, run.exit(), run.err());
            assertTrue(run.err().contains("build cache 127.0.0.1:1/a:v1 is the source image"
                    + " 127.0.0.1:1/a:v1"), run.err());
        }
    }

    @Test
    void buildCacheMaxRecordsOutOfRange() {
        for (String records : List.of("0", "201")) {
            Run run = runCapturingErr("convert", "--source", "127.0.0.1:1/a:v1", "--target",
                    "127.0.0.1:1/a:v2", "--build-cache-tag", "cache",
                    "--build-cache-max-records", records);

            assertEquals(2, run.exit(), run.err());
            assertTrue(run.err().contains("--build-cache-max-records " + records
                    + " is out of range: give 1 to 200"), run.err());
        }
    }

    @Test
    void exportConfigEntryErrorsAreUsageErrors() throws IOException {
        try (TempDir dir = TempDirs.create("export-config-")) {
            Path entry = dir.resolve("entry.json");
            String[][] cases = {
                {"{\"type\": \"datablob\", \"config_v2\": {}}", "type is 'datablob'"},
                {"{\"type\": \"bootstrap\"}", "has neither config_v2 nor config"},
                {"{\"type\": \"bootstrap\", \"config_v2\": {\"version\": 1}}",
                    "version is 1, expected 2"},
                {"{\"type\": \"bootstrap\", \"config_v2\": {\"version\": 2, \"backend\":"
                    + " {\"type\": \"registry\"}}}", "backend.registry is missing"},
                {"{\"type\": \"bootstrap\", \"config_v2\": {\"version\": 2, \"backend\":"
                    + " {\"type\": \"s3\", \"s3\": {}}}}", "'s3'"},
                {"{\"type\": \"bootstrap\", \"config_v2\": {\"version\": 2, \"backend\":"
                    + " {\"type\": \"localfs\", \"localfs\": {}}, \"metadata_path\":"
                    + " \"/other.boot\"}}", "differs from metadata_path /other.boot"},
                {"[1]", "must be a JSON object"},
                {"{\"type\": \"bootstrap\", \"config_v2\": {\"version\": 2, \"backend\":"
                    + " {\"type\": \"registry\", \"registry\": {\"repo\": \"a\"}}}}",
                    "config_v2.backend.registry.host"},
                {"{\"type\": \"bootstrap\", \"config\": {\"backend_type\": \"registry\","
                    + " \"backend_config\": {\"host\": \"127.0.0.1:1\", \"repo\": \"a\","
                    + " \"auth\": \"bm9jb2xvbg==\"}}}",
                    "config.backend_config.auth does not decode to user:password"},
            };
            for (String[] c : cases) {
                Files.writeString(entry, c[0]);
                Run run = runImageCapturingErr("export", "--block", "-C", entry.toString(),
                        "-B", "/nonexistent/image.boot", "-O", dir.resolve("x.disk").toString());
                assertEquals(2, run.exit(), c[0] + ": " + run.err());
                assertTrue(run.err().contains(c[1]), c[0] + ": " + run.err());
            }
            Run both = runImageCapturingErr("export", "--block", "-C", entry.toString(),
                    "--localfs-dir", dir.toString(), "-B", "/x.boot");
            assertTrue(both.err().contains("exclude each other"), both.err());
            Run neither = runImageCapturingErr("export", "--block", "-B", "/x.boot");
            assertTrue(neither.err().contains("both -C/--config and --localfs-dir are missing"),
                    neither.err());
        }
    }

    /** Converts a one-layer image in {@code repository} and fetches its bootstrap. */
    private static MountSource convertAndFetch(TempDir dir, String repository)
            throws IOException {
        ImageReference target = seedAndConvert(dir, repository, layer -> { });
        return MountSource.fetch(ImageLocation.registry(target), client,
                TransportMode.PLAIN_HTTP, CredentialProvider.anonymous(),
                PlatformSpec.parse("linux/amd64"), dir.resolve("fetched"));
    }

    @Test
    void buildCacheTagNeedsRegistryTarget() throws Exception {
        try (TempDir dir = TempDirs.create("cache-layout-")) {
            Run run = runCapturingErr("convert", "--source", "127.0.0.1:1/a:v1", "--target",
                    "oci:" + dir.resolve("out") + ":v1", "--build-cache-tag", "cache");

            assertEquals(2, run.exit(), run.err());
            assertTrue(run.err().contains("--build-cache-tag needs a registry target"),
                    run.err());
        }
    }

    @Test
    void buildCacheHelpShowsDefaults() {
        Output run = runCapturingOut("convert", "--help");

        String help = run.out().replaceAll("\\s+", " ");
        assertEquals(0, run.exit());
        assertTrue(help.contains("--build-cache-version=VERSION Version of the build cache"),
                help);
        assertTrue(help.contains("is not used and is replaced (default: v1)"), help);
        assertTrue(help.contains("from 1 to 200; the least recently used are dropped first"
                + " (default: 200)"), help);
        assertTrue(help.contains("--build-cache=REF"), help);
        assertTrue(help.contains("--build-cache-insecure"), help);
    }

    @Test
    void buildCacheTagVariableReusesLayers() throws Exception {
        try (TempDir dir = TempDirs.create("cache-cli-")) {
            ImageReference source = registry.repository("cli/cached").tag("v1");
            SeedImage.threeLayers(dir.resolve("seed")).push(client, source);
            Path coldJson = dir.resolve("cold.json");
            Path warmJson = dir.resolve("warm.json");
            int cold = Cli.run(new Nydusify(), "convert", "--source", source.toString(),
                    "--target-suffix", "-cold", "--plain-http", "--build-cache-tag", "cache",
                    "--work-dir", dir.resolve("work").toString(), "--output-json",
                    coldJson.toString(), "--log-level", "warn");
            assertEquals(0, cold);

            int warm = Cli.run(new Nydusify(), Map.of("BUILD_CACHE_TAG", "cache"), "convert",
                    "--source", source.toString(), "--target-suffix", "-warm", "--plain-http",
                    "--work-dir", dir.resolve("work").toString(), "--output-json",
                    warmJson.toString(), "--log-level", "warn");

            assertEquals(0, warm);
            JsonNode coldSummary = new ObjectMapper().readTree(coldJson.toFile());
            JsonNode warmSummary = new ObjectMapper().readTree(warmJson.toFile());
            assertEquals(List.of(false, false, false), fromBuildCache(coldSummary));
            assertEquals(List.of(true, true, true), fromBuildCache(warmSummary));
            assertEquals(coldSummary.get("target_manifest"), warmSummary.get("target_manifest"));
            assertEquals(6, client.getManifest(source.toRepository().tag("cache")).toManifest()
                    .layers().size());
            Output check = runCapturingOut("check", "--source", source.toString(), "--target",
                    source.toRepository().tag("v1-warm").toString(), "--plain-http",
                    "--platform", "linux/amd64", "--work-dir", dir.resolve("check").toString(),
                    "--log-level", "warn");
            assertEquals(0, check.exit(), check.out());
        }
    }

    private static List<Boolean> fromBuildCache(JsonNode summary) {
        List<Boolean> flags = new ArrayList<>();
        summary.get("layers").forEach(layer -> flags.add(layer.get("from_build_cache")
                .asBoolean()));
        return flags;
    }

    /** Pushes an unchanged one-layer image to {@code repository}:v1 and returns its name. */
    private static ImageReference seedOneLayer(TempDir dir, String repository)
            throws IOException {
        ImageReference source = registry.repository(repository).tag("v1");
        SeedImage.oneLayer(dir.resolve("seed-" + repository.replace('/', '-')), layer -> { })
                .push(client, source);
        return source;
    }

    /** Pushes a one-layer image to {@code repository}:v1 and converts it to v1-nydus. */
    private static ImageReference seedAndConvert(TempDir dir, String repository,
            SeedImage.LayerEdit edit) throws IOException {
        ImageReference source = registry.repository(repository).tag("v1");
        SeedImage.oneLayer(dir.resolve("seed"), edit).push(client, source);
        return convert(source, dir);
    }

    private static ImageReference convert(ImageReference source, TempDir dir) {
        int exit = Cli.run(new Nydusify(), "convert", "--source", source.toString(),
                "--target-suffix", "-nydus", "--plain-http", "--platform", "linux/amd64",
                "--work-dir", dir.resolve("convert-work").toString(), "--log-level", "warn");
        assertEquals(0, exit);
        return source.toRepository().tag(source.tag() + "-nydus");
    }

    private record Output(int exit, String out) {
    }

    /** Finds a line of command output among the log lines that the test logger adds. */
    private static boolean hasLineStarting(String output, String prefix) {
        return output.lines().anyMatch(line -> line.startsWith(prefix));
    }

    private static Output runCapturingOut(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int exit = Cli.run(new Nydusify(), args);
            return new Output(exit, out.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(saved);
        }
    }

    private record Run(int exit, String err) {
    }

    private static Run runCapturingErr(String... args) {
        return capturingErr(() -> Cli.run(new Nydusify(), args));
    }

    private static Run runImageCapturingErr(String... args) {
        return capturingErr(() -> Cli.run(new NydusImage(), args));
    }

    private static Run capturingErr(IntSupplier command) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream saved = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int exit = command.getAsInt();
            return new Run(exit, err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(saved);
        }
    }
}
