package io.nydus.nydusify;

import static io.nydus.nydusify.SeedImage.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Converts, checks and copies images in OCI image layouts and layout archives made and read
 * back by skopeo and umoci, next to a local {@code docker-registry}.
 */
class LocalLocationTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final PlatformSpec AMD64 = PlatformSpec.parse("linux/amd64");

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("local-");
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
    void layoutSourceMatchesRegistrySource() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "same/app");
            Path layout = dir.resolve("layout");
            run("skopeo", "copy", "--src-tls-verify=false", "docker://" + source,
                    "oci:" + layout + ":v1");

            ConvertResult fromRegistry = convert(ImageLocation.registry(source),
                    location("same/app", "nydus"), dir.resolve("work"));
            ConvertResult fromLayout = convert(ImageLocation.parse("oci:" + layout + ":v1"),
                    location("same/app", "nydus-from-layout"), dir.resolve("work"));

            assertEquals(fromRegistry.targetManifest(), fromLayout.targetManifest());
            assertEquals(fromRegistry.sourceManifest(), fromLayout.sourceManifest());
        }
    }

    @Test
    void layoutTargetReadsBackWithSkopeo() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "tolayout/app");
            Path layout = dir.resolve("nydus-layout");

            ConvertResult result = convert(ImageLocation.registry(source),
                    ImageLocation.parse("oci:" + layout + ":nydus"), dir.resolve("work"));

            String raw = Commands.run(List.of("skopeo", "inspect", "--raw",
                    "oci:" + layout + ":nydus"), SeedImage.TIMEOUT).stdoutText();
            Manifest manifest = Manifest.parse(raw.getBytes(StandardCharsets.UTF_8), "skopeo");
            assertTrue(manifest.isNydus());
            assertEquals(result.targetManifest(), io.nydus.registry.Digest.of(
                    raw.getBytes(StandardCharsets.UTF_8)));
            JsonNode inspect = JSON.readTree(Commands.run(List.of("skopeo", "inspect",
                    "oci:" + layout + ":nydus"), SeedImage.TIMEOUT).stdoutText());
            assertEquals("amd64", inspect.get("Architecture").asText());
            assertEquals(4, inspect.get("Layers").size());
            String umociTags = Commands.run(List.of("umoci", "ls", "--layout",
                    layout.toString()), SeedImage.TIMEOUT).stdoutText();
            assertEquals("nydus", umociTags.strip());
        }
    }

    @Test
    void umociLayoutConvertsAndChecks() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            SeedImage seed = SeedImage.threeLayers(dir.resolve("seed"));
            Path layout = dir.resolve("umoci");
            String image = layout + ":seed";
            run("umoci", "init", "--layout", layout.toString());
            run("umoci", "new", "--image", image);
            for (Path tar : seed.layerTars()) {
                run("umoci", "raw", "add-layer", "--image", image, tar.toString());
            }
            ImageLocation source = ImageLocation.parse("oci:" + image);
            ImageLocation target = ImageLocation.parse("oci:" + layout + ":seed-nydus");

            convert(source, target, dir.resolve("work"));
            CheckResult check = new ImageCheck(client, client).check(
                    CheckOptions.defaults(source, target).withPlatform(AMD64)
                            .withWorkDir(dir.resolve("check")));

            assertEquals(List.of(), check.differences());
            assertTrue(check.chunksVerified() > 0, "chunks: " + check.chunksVerified());
            String tags = Commands.run(List.of("umoci", "ls", "--layout", layout.toString()),
                    SeedImage.TIMEOUT).stdoutText();
            assertEquals(List.of("seed", "seed-nydus"), tags.strip().lines().sorted().toList());
        }
    }

    @Test
    void archiveTargetReadsBackWithSkopeo() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "toarchive/app");
            Path archive = dir.resolve("nydus.tar");

            ConvertResult result = convert(ImageLocation.registry(source),
                    ImageLocation.parse("oci-archive:" + archive + ":v1-nydus"),
                    dir.resolve("work"));

            String raw = Commands.run(List.of("skopeo", "inspect", "--raw",
                    "oci-archive:" + archive + ":v1-nydus"), SeedImage.TIMEOUT).stdoutText();
            assertEquals(result.targetManifest(), io.nydus.registry.Digest.of(
                    raw.getBytes(StandardCharsets.UTF_8)));
            // The run created the work directory, so it removed it with its files.
            assertFalse(Files.exists(dir.resolve("work")));
        }
    }

    @Test
    void archiveSourceConvertsLikeRegistry() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "fromarchive/app");
            Path archive = dir.resolve("source.tar");
            run("skopeo", "copy", "--src-tls-verify=false", "docker://" + source,
                    "oci-archive:" + archive);

            ConvertResult fromArchive = convert(ImageLocation.archive(archive, null),
                    location("fromarchive/app", "nydus-a"), dir.resolve("work"));
            ConvertResult fromRegistry = convert(ImageLocation.registry(source),
                    location("fromarchive/app", "nydus-r"), dir.resolve("work"));

            assertEquals(fromRegistry.targetManifest(), fromArchive.targetManifest());
        }
    }

    @Test
    void copyThroughFileKeepsAllBlobs() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "file/app");
            ImageReference nydus = registry.repository("file/app").tag("nydus");
            convert(ImageLocation.registry(source), ImageLocation.registry(nydus),
                    dir.resolve("work"));
            Path archive = dir.resolve("nydus.tar");
            ImageLocation file = ImageLocation.parse("file://" + archive);

            CopyResult out = copy(ImageLocation.registry(nydus), file, dir);
            ImageReference back = registry.repository("file/back").tag("v1");
            CopyResult in = copy(file, ImageLocation.registry(back), dir);

            ManifestContent original = client.getManifest(nydus);
            assertEquals(original.digest(), out.digest());
            assertEquals(original.digest(), in.digest());
            assertEquals(original.digest(), client.getManifest(back).digest());
            Manifest manifest = original.toManifest();
            assertEquals(manifest.layers().size() + 1, in.blobsUploaded());
            for (Descriptor layer : manifest.layers()) {
                assertTrue(client.blobExists(back.toRepository(), layer.digest()),
                        layer.digest().toString());
            }
            String raw = Commands.run(List.of("skopeo", "inspect", "--raw",
                    "oci-archive:" + archive), SeedImage.TIMEOUT).stdoutText();
            assertEquals(original.digest(), io.nydus.registry.Digest.of(
                    raw.getBytes(StandardCharsets.UTF_8)));
        }
    }

    @Test
    void archiveWritesSameBytesTwice() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "twice/app");
            Path first = dir.resolve("first.tar");
            Path second = dir.resolve("second.tar");

            copy(ImageLocation.registry(source), ImageLocation.parse("file://" + first), dir);
            copy(ImageLocation.registry(source), ImageLocation.parse("file://" + second), dir);

            assertEquals(SeedImage.sha256(first), SeedImage.sha256(second));
        }
    }

    @Test
    void missingLayoutNameListsNames() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "names/app");
            Path layout = dir.resolve("layout");
            run("skopeo", "copy", "--src-tls-verify=false", "docker://" + source,
                    "oci:" + layout + ":v1");

            IOException e = assertThrows(IOException.class, () -> convert(
                    ImageLocation.parse("oci:" + layout + ":v2"), location("names/app", "n"),
                    dir.resolve("work")));

            assertTrue(e.getMessage().contains("oci:" + layout + ":v2"), e.getMessage());
            assertTrue(e.getMessage().contains("lists v1"), e.getMessage());
        }
    }

    @Test
    void failedConvertRemovesLayoutItCreated() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            Path created = dir.resolve("new-layout");
            Path existing = Files.createDirectories(dir.resolve("old-layout"));
            Files.writeString(existing.resolve("oci-layout"),
                    "{\"imageLayoutVersion\":\"1.0.0\"}");
            Files.writeString(existing.resolve("index.json"),
                    "{\"schemaVersion\":2,\"manifests\":[]}");
            ImageLocation missing = location("absent/app", "v1");

            assertThrows(IOException.class, () -> convert(missing,
                    ImageLocation.parse("oci:" + created), dir.resolve("work")));
            assertThrows(IOException.class, () -> convert(missing,
                    ImageLocation.parse("oci:" + existing), dir.resolve("work")));

            assertFalse(Files.exists(created), "the failed run left " + created);
            assertTrue(Files.exists(existing.resolve("index.json")));
        }
    }

    @Test
    void directoryWithoutLayoutIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            Path empty = Files.createDirectories(dir.resolve("empty"));

            IOException e = assertThrows(IOException.class, () -> convert(
                    ImageLocation.parse("oci:" + empty), location("none/app", "n"),
                    dir.resolve("work")));

            assertTrue(e.getMessage().contains("not an OCI image layout"), e.getMessage());
            assertTrue(e.getMessage().contains("oci-layout"), e.getMessage());
        }
    }

    @Test
    void fileAsLayoutTargetIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "filetarget/app");
            Path file = Files.writeString(dir.resolve("plain-file"), "not a layout");

            IOException e = assertThrows(IOException.class, () -> convert(
                    ImageLocation.registry(source), ImageLocation.parse("oci:" + file + ":n"),
                    dir.resolve("work")));

            assertTrue(e.getMessage().contains("not a directory"), e.getMessage());
            assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
            assertEquals("not a layout", Files.readString(file));
        }
    }

    @Test
    void archiveEntryOutsideLayoutIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            Path archive = dir.resolve("evil.tar");
            try (OutputStream out = Files.newOutputStream(archive);
                    TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
                byte[] data = "x".getBytes(StandardCharsets.UTF_8);
                TarArchiveEntry entry = new TarArchiveEntry("../escaped");
                entry.setSize(data.length);
                tar.putArchiveEntry(entry);
                tar.write(data);
                tar.closeArchiveEntry();
            }

            IOException e = assertThrows(IOException.class, () -> convert(
                    ImageLocation.archive(archive, null), location("evil/app", "n"),
                    dir.resolve("work")));

            assertTrue(e.getMessage().contains("../escaped"), e.getMessage());
            assertFalse(Files.exists(dir.resolve("work").resolve("escaped")));
            assertFalse(Files.exists(dir.resolve("escaped")));
        }
    }

    @Test
    void tamperedLayoutBlobIsRejected() throws Exception {
        try (TempDir dir = TempDirs.create("local-")) {
            ImageReference source = seed(dir, "tamper/app");
            Path layout = dir.resolve("layout");
            run("skopeo", "copy", "--src-tls-verify=false", "docker://" + source,
                    "oci:" + layout + ":v1");
            Manifest manifest = client.getManifest(source).toManifest();
            Descriptor layer = manifest.layers().getFirst();
            Path blob = layout.resolve("blobs/sha256").resolve(layer.digest().hex());
            byte[] data = Files.readAllBytes(blob);
            data[data.length - 1] ^= 0x5a;
            Files.write(blob, data);

            IOException e = assertThrows(IOException.class, () -> convert(
                    ImageLocation.parse("oci:" + layout + ":v1"),
                    ImageLocation.parse("oci:" + dir.resolve("out") + ":n"),
                    dir.resolve("work")));

            assertTrue(e.getMessage().contains(layer.digest().toString()), e.getMessage());
        }
    }

    @Test
    void locationParsesSkopeoForms() {
        assertEquals(ImageLocation.layout(Path.of("/a/b"), "v1"),
                ImageLocation.parse("oci:/a/b:v1"));
        assertEquals(ImageLocation.layout(Path.of("/a/b"), null),
                ImageLocation.parse("oci:/a/b"));
        assertEquals(ImageLocation.archive(Path.of("x.tar"), "t"),
                ImageLocation.parse("oci-archive:x.tar:t"));
        assertEquals(ImageLocation.archive(Path.of("/tmp/i.tar"), null),
                ImageLocation.parse("file:///tmp/i.tar"));
        assertEquals("oci:/a/b:v1", ImageLocation.parse("oci:/a/b:v1").toString());
        assertTrue(ImageLocation.parse("localhost:5000/a:v1").isRegistry());
        assertThrows(IllegalArgumentException.class, () -> ImageLocation.parse("oci:"));
        assertThrows(IllegalArgumentException.class, () -> ImageLocation.parse("oci:/a:b/c"));
    }

    private static ImageReference seed(TempDir dir, String repository) throws IOException {
        ImageReference source = registry.repository(repository).tag("v1");
        SeedImage.threeLayers(dir.resolve("seed-" + repository.replace('/', '-')))
                .push(client, source);
        return source;
    }

    private static ImageLocation location(String repository, String tag) {
        return ImageLocation.registry(registry.repository(repository).tag(tag));
    }

    private static ConvertResult convert(ImageLocation source, ImageLocation target,
            Path workDir) throws IOException {
        ConvertOptions options = ConvertOptions.defaults(source, target).withWorkDir(workDir)
                .withPlatform(AMD64);
        return new Converter(client, client).convert(options);
    }

    private static CopyResult copy(ImageLocation source, ImageLocation target, TempDir dir)
            throws IOException {
        CopyOptions options = CopyOptions.defaults(source, target).withPlatform(AMD64)
                .withWorkDir(dir.resolve("copy-work"));
        return new ImageCopier(client, client).copy(options);
    }
}
