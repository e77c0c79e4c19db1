package io.nydus.nydusify;

import static io.nydus.nydusify.SeedImage.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Converts images seeded into a local {@code docker-registry} and checks the result, then
 * checks targets that do not match their source: a Nydus image converted from a source that
 * differs in one byte, one xattr or one mode, and a manifest with a wrong annotation.
 */
class ImageCheckTest {
    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryClient client;
    private static ImageReference smallSource;
    private static ImageReference smallTarget;

    @BeforeAll
    static void startRegistry() throws Exception {
        temp = TempDirs.create("nydusify-check-");
        registry = RegistryServer.start(temp);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
        smallSource = reference("small/app", "v1");
        smallTarget = reference("small/app", "v1-nydus");
        SeedImage.oneLayer(temp.resolve("small"), layer -> { }).push(client, smallSource);
        convert(smallSource, smallTarget);
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        client.close();
        registry.close();
        temp.close();
    }

    @Test
    void convertedImagePasses() throws Exception {
        try (TempDir dir = TempDirs.create("check-")) {
            ImageReference source = reference("layers/app", "v1");
            SeedImage.threeLayers(dir.path()).push(client, source);
            ImageReference target = reference("layers/app", "v1-nydus");
            convert(source, target);

            CheckResult result = check(source, target);

            assertEquals(List.of(), result.differences());
            assertTrue(result.passed());
            assertTrue(result.entries() > 10, "entries " + result.entries());
            assertTrue(result.chunksVerified() >= 4, "chunks " + result.chunksVerified());
            assertTrue(result.bytesVerified() >= 3 << 20, "bytes " + result.bytesVerified());
        }
    }

    @Test
    void smallImagePasses() throws Exception {
        CheckResult result = check(smallSource, smallTarget);

        assertEquals(List.of(), result.differences());
    }

    @Test
    void repeatedLayerImagePasses() throws Exception {
        ImageReference source = reference("repeated/app", "v1");
        SeedImage seed = SeedImage.oneLayer(temp.resolve("repeated"), layer -> { });
        seed.repeatLastLayer();
        seed.push(client, source);
        ImageReference target = reference("repeated/app", "v1-nydus");
        convert(source, target);

        CheckResult result = check(source, target);

        assertEquals(List.of(), result.differences());
    }

    @Test
    void changedByteIsReported() throws Exception {
        ImageReference target = convertVariant("byte", layer -> SeedImage.write(
                layer.resolve("etc/app.conf"), "name = app\nport = 8081\n"));

        List<String> differences = check(smallSource, target).differences();

        assertEquals(1, differences.size(), differences.toString());
        assertTrue(differences.getFirst().startsWith("/etc/app.conf: content differs"),
                differences.getFirst());
    }

    @Test
    void dockerFormatImagePasses() throws Exception {
        ImageReference source = reference("docker/app", "v1");
        ImageReference target = reference("docker/app", "v1-nydus");
        SeedImage.oneLayer(temp.resolve("docker"), layer -> { }).pushDocker(client, source);
        ConvertOptions options = ConvertOptions.defaults(source, target)
                .withWorkDir(temp.resolve("convert-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64")).withDockerV2Format(true);
        new Converter(client, client).convert(options);

        CheckResult result = check(source, target);

        assertEquals(MediaTypes.DOCKER_MANIFEST, client.getManifest(target).mediaType());
        assertEquals(List.of(), result.differences());
        assertTrue(result.passed());
    }

    @Test
    void damagedBootstrapLayerNamesDigest() throws Exception {
        ImageReference target = convertVariant("damaged-bootstrap", layer -> SeedImage.write(
                layer.resolve("etc/damaged.conf"), "damaged = bootstrap\n"));
        Manifest manifest = Manifest.parse(client.getManifest(target).bytes(), "target");
        Descriptor bootstrapLayer = manifest.layers().getLast();
        Path stored = registry.blobFile(bootstrapLayer.digest());
        byte[] bytes = Files.readAllBytes(stored);
        bytes[bytes.length / 2] ^= 0x55;
        Files.write(stored, bytes);

        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> check(smallSource, target));

        assertTrue(e.getMessage().contains(bootstrapLayer.digest().toString()), e.getMessage());
        assertTrue(e.getMessage().contains("digest mismatch"), e.getMessage());
    }

    @Test
    void changedXattrIsReported() throws Exception {
        ImageReference target = convertVariant("xattr", layer -> run("setfattr", "-n",
                "user.kind", "-v", "secret", layer.resolve("etc/app.conf").toString()));

        List<String> differences = check(smallSource, target).differences();

        assertEquals(List.of("/etc/app.conf: xattr user.kind differs: source \"config\","
                + " target \"secret\""), differences);
    }

    @Test
    void changedModeIsReported() throws Exception {
        ImageReference target = convertVariant("mode", layer -> Files.setPosixFilePermissions(
                layer.resolve("bin/run"), PosixFilePermissions.fromString("rwxr-x---")));

        List<String> differences = check(smallSource, target).differences();

        assertEquals(List.of("/bin/run: mode differs: source 0100755, target 0100750"),
                differences);
    }

    @Test
    void wrongFsVersionAnnotationIsReported() throws Exception {
        Manifest manifest = client.getManifest(smallTarget).toManifest();
        List<Descriptor> layers = new ArrayList<>(manifest.layers());
        Map<String, String> annotations = new LinkedHashMap<>(layers.getLast().annotations());
        annotations.put(MediaTypes.ANNOTATION_NYDUS_FS_VERSION, "5");
        layers.set(layers.size() - 1, layers.getLast().withAnnotations(annotations));
        ImageReference target = reference("small/app", "fs-version-5");
        client.putManifest(target, ManifestContent.of(new Manifest(2, manifest.mediaType(),
                null, manifest.config(), layers, null, manifest.annotations(), Map.of())));

        List<String> differences = check(smallSource, target).differences();

        assertEquals(1, differences.size(), differences.toString());
        assertTrue(differences.getFirst().contains(MediaTypes.ANNOTATION_NYDUS_FS_VERSION
                + " = \"5\""), differences.getFirst());
    }

    @Test
    void foreignBootstrapIsReported() throws Exception {
        ImageReference other = convertVariant("swap", layer -> SeedImage.write(
                layer.resolve("etc/app.conf"), "name = app\nport = 8082\n"));
        Descriptor foreign = client.getManifest(other).toManifest().layers().getLast();
        client.mountBlob(other.toRepository(), smallSource.toRepository(), foreign.digest());
        Manifest manifest = client.getManifest(smallTarget).toManifest();
        List<Descriptor> layers = new ArrayList<>(manifest.layers());
        layers.set(layers.size() - 1, foreign);
        ImageReference target = reference("small/app", "foreign-bootstrap");
        client.putManifest(target, ManifestContent.of(new Manifest(2, manifest.mediaType(),
                null, manifest.config(), layers, null, manifest.annotations(), Map.of())));

        List<String> differences = check(smallSource, target).differences();

        assertTrue(differences.stream().anyMatch(line -> line.startsWith("bootstrap: ")),
                differences.toString());
        assertTrue(differences.stream().anyMatch(line -> line.startsWith(
                "/etc/app.conf: content differs")), differences.toString());
        assertTrue(differences.stream().anyMatch(line -> line.startsWith(
                "config: rootfs.diff_ids[1]")), differences.toString());
    }

    @Test
    void workDirIsEmptiedAfterward() throws Exception {
        try (TempDir dir = TempDirs.create("check-")) {
            Path existing = Files.createDirectory(dir.resolve("existing"));
            Path created = dir.resolve("created");

            new ImageCheck(client, client).check(options(smallSource, smallTarget, existing));
            new ImageCheck(client, client).check(options(smallSource, smallTarget, created));

            try (var entries = Files.list(existing)) {
                assertFalse(entries.findAny().isPresent());
            }
            assertFalse(Files.exists(created));
        }
    }

    /** Converts the small image changed by {@code edit} and returns the pushed target. */
    private static ImageReference convertVariant(String name, SeedImage.LayerEdit edit)
            throws IOException {
        ImageReference source = reference("variant/" + name, "v1");
        ImageReference target = reference("variant/" + name, "v1-nydus");
        SeedImage.oneLayer(temp.resolve("variant-" + name), edit).push(client, source);
        convert(source, target);
        return target;
    }

    private static void convert(ImageReference source, ImageReference target)
            throws IOException {
        ConvertOptions options = ConvertOptions.defaults(source, target)
                .withWorkDir(temp.resolve("convert-work"))
                .withPlatform(PlatformSpec.parse("linux/amd64"));
        new Converter(client, client).convert(options);
    }

    private static CheckResult check(ImageReference source, ImageReference target)
            throws IOException {
        return new ImageCheck(client, client).check(options(source, target,
                temp.resolve("check-work")));
    }

    private static CheckOptions options(ImageReference source, ImageReference target,
            Path workDir) {
        return CheckOptions.defaults(source, target).withWorkDir(workDir)
                .withPlatform(PlatformSpec.parse("linux/amd64"));
    }

    private static ImageReference reference(String repository, String tag) {
        return registry.repository(repository).tag(tag);
    }
}
