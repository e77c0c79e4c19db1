package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.SeedImage;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.RealImages;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Failed conversions through the CLI. Each must exit with 1, print one message that names
 * what failed (registry, repository, reference or digest), leave the target tag on the
 * manifest it had before, and print no password.
 */
class ConvertFailureTest {

    private static final String USER = "failure-user";
    private static final String PASSWORD = "Fail-pa55-Secret";

    private static TempDir temp;
    private static RegistryServer registry;
    private static RegistryServer basicRegistry;
    private static TempDir registryDir;
    private static TempDir basicDir;
    private static RegistryClient client;
    private static ImageReference target;
    private static Digest targetBefore;

    @BeforeAll
    static void startRegistries() throws Exception {
        RealImages images = RealImages.get();
        temp = TempDirs.create("convert-failure-");
        registryDir = TempDirs.create("failure-registry-");
        registry = RegistryServer.start(registryDir);
        basicDir = TempDirs.create("failure-basic-");
        Path htpasswd = basicDir.resolve("htpasswd");
        Files.write(htpasswd, Commands.run(List.of("htpasswd", "-Bbn", USER, PASSWORD),
                Duration.ofSeconds(30)).stdout());
        basicRegistry = RegistryServer.start(basicDir, "", """
                auth:
                  htpasswd:
                    realm: test-realm
                    path: %s
                """.formatted(htpasswd));
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
        target = ImageReference.parse(registry.address() + "/failure/target:existing");
        images.push(RealImages.ARM64, "docker://" + target, "--dest-tls-verify=false");
        images.push(RealImages.MULTI_PLATFORM, "docker://" + registry.address()
                + "/failure/multi:v1", "--dest-tls-verify=false");
        images.push(RealImages.ARM64, "docker://" + basicRegistry.address() + "/failure/app:v1",
                "--dest-tls-verify=false", "--dest-creds", USER + ":" + PASSWORD);
        targetBefore = client.getManifest(target).digest();
    }

    @AfterAll
    static void stopRegistries() throws Exception {
        client.close();
        registry.close();
        basicRegistry.close();
        temp.close();
        registryDir.close();
        basicDir.close();
    }

    @AfterEach
    void targetTagUnchanged() throws Exception {
        assertEquals(targetBefore, client.getManifest(target).digest());
    }

    private static NydusifyProcess.Result convert(String source, String... options)
            throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("convert", "--source", source,
                "--target", target.toString(), "--plain-http", "--work-dir",
                temp.resolve("work").toString(), "--log-level", "debug"));
        args.addAll(List.of(options));
        NydusifyProcess.Result result = new NydusifyProcess(temp.path())
                .env("NYDUS_REGISTRY_USERNAME", USER)
                .env("NYDUS_REGISTRY_PASSWORD", "wrong-" + PASSWORD)
                .run(args.toArray(String[]::new));
        assertEquals(1, result.exit(), result.output());
        assertFalse(result.output().contains(PASSWORD), result.output());
        assertTrue(errorLine(result).startsWith("error: "), result.output());
        return result;
    }

    /** Returns the last line of standard error, the message that the CLI prints. */
    private static String errorLine(NydusifyProcess.Result result) {
        List<String> lines = result.stderr().lines().toList();
        return lines.isEmpty() ? "" : lines.getLast();
    }

    private static void assertNames(NydusifyProcess.Result result, String... parts) {
        String error = errorLine(result);
        for (String part : parts) {
            assertTrue(error.contains(part), "'" + part + "' missing in: " + result.output());
        }
    }

    @Test
    void wrongPasswordIsUnauthorized() throws Exception {
        NydusifyProcess.Result result = convert(basicRegistry.address() + "/failure/app:v1",
                "--platform", "linux/arm64");

        assertNames(result, basicRegistry.address(), "failure/app", "401");
    }

    @Test
    void unknownRepositoryIsNotFound() throws Exception {
        NydusifyProcess.Result result = convert(registry.address() + "/failure/absent:v1");

        assertNames(result, registry.address(), "failure/absent", "v1");
    }

    @Test
    void unknownTagIsNotFound() throws Exception {
        NydusifyProcess.Result result = convert(registry.address() + "/failure/multi:nope");

        assertNames(result, registry.address(), "failure/multi", "nope");
    }

    @Test
    void registryDownIsNamed() throws Exception {
        String down = "127.0.0.1:" + RegistryServer.freePort();

        NydusifyProcess.Result result = convert(down + "/failure/app:v1");

        assertNames(result, down);
    }

    @Test
    void flippedBlobByteIsDetected() throws Exception {
        Digest layer = pushOneLayer("flipped");
        try (RandomAccessFile file = new RandomAccessFile(registry.blobFile(layer).toFile(),
                "rw")) {
            long middle = file.length() / 2;
            file.seek(middle);
            int value = file.read();
            file.seek(middle);
            file.write(value ^ 0x01);
        }

        NydusifyProcess.Result result = convert(registry.address() + "/failure/flipped:v1");

        assertNames(result, layer.toString());
    }

    @Test
    void truncatedLayerIsDetected() throws Exception {
        Digest layer = pushOneLayer("truncated");
        try (RandomAccessFile file = new RandomAccessFile(registry.blobFile(layer).toFile(),
                "rw")) {
            file.setLength(file.length() - 100);
        }

        NydusifyProcess.Result result = convert(registry.address() + "/failure/truncated:v1");

        assertNames(result, layer.toString());
    }

    @Test
    void unknownLayerMediaTypeIsRejected() throws Exception {
        ImageReference source = ImageReference.parse(registry.address()
                + "/failure/unknown-type:v1");
        Manifest pushed = SeedImage.oneLayer(temp.resolve("unknown-type"),
                layer -> SeedImage.write(layer.resolve("case"), "unknown-type"))
                .push(client, source).toManifest();
        Descriptor layer = pushed.layers().getFirst();
        String unknownType = "application/vnd.example.unknown.layer.v1";
        Manifest changed = new Manifest(2, MediaTypes.OCI_MANIFEST, null, pushed.config(),
                List.of(Descriptor.of(unknownType, layer.digest(), layer.size())), null,
                Map.of(), Map.of());
        client.putManifest(source, ManifestContent.of(changed));

        NydusifyProcess.Result result = convert(source.toString());

        assertNames(result, source.toString(), layer.digest().toString(), unknownType);
    }

    @Test
    void indexWithoutPlatformIsRejected() throws Exception {
        NydusifyProcess.Result result = convert(registry.address() + "/failure/multi:v1",
                "--platform", "linux/s390x");

        assertNames(result, "failure/multi", "linux/s390x");
    }

    /** Pushes a one-layer image of its own blobs under {@code failure/NAME:v1}. */
    private static Digest pushOneLayer(String name) throws Exception {
        ImageReference source = ImageReference.parse(registry.address() + "/failure/" + name
                + ":v1");
        ManifestContent pushed = SeedImage.oneLayer(temp.resolve(name),
                layer -> SeedImage.write(layer.resolve("case"), name)).push(client, source);
        return pushed.toManifest().layers().getFirst().digest();
    }
}
