package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.Commands;
import io.nydus.testkit.RealImages;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code nydusify check} of the real Debian image against Nydus images that differ from it in
 * one detail of one file. Each tampered image is the Debian image with its last layer rebuilt
 * after one change to {@code etc/apt/apt.conf.d/99seed}, converted with the CLI. The check
 * must exit with 1 and report that one difference.
 */
class CheckTamperTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TAR_TIMEOUT = Duration.ofMinutes(2);
    private static final String FILE = "etc/apt/apt.conf.d/99seed";

    private static RealImages images;
    private static TempDir temp;
    private static RegistryServer registry;
    private static TempDir registryDir;
    private static RegistryClient client;
    private static ImageReference source;

    @BeforeAll
    static void pushSource() throws Exception {
        images = RealImages.get();
        temp = TempDirs.create("check-tamper-");
        registryDir = TempDirs.create("tamper-registry-");
        registry = RegistryServer.start(registryDir);
        client = RegistryClient.builder().transportMode(TransportMode.PLAIN_HTTP).build();
        source = ImageReference.parse(registry.address() + "/tamper/debian:v1");
        images.push(RealImages.DEBIAN, "docker://" + source, "--dest-tls-verify=false");
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        client.close();
        registry.close();
        temp.close();
        registryDir.close();
    }

    @Test
    void changedContentByteFails() throws Exception {
        NydusifyProcess.Result check = checkTampered("content", file -> {
            byte[] bytes = Files.readAllBytes(file);
            bytes[0] ^= 0x20;
            Files.write(file, bytes);
        });

        assertDifference(check, "content");
    }

    @Test
    void addedXattrFails() throws Exception {
        NydusifyProcess.Result check = checkTampered("xattr", file -> Commands.run(List.of(
                "setfattr", "-n", "user.tampered", "-v", "1", file.toString()), TAR_TIMEOUT));

        assertDifference(check, "xattr user.tampered");
    }

    @Test
    void changedModeFails() throws Exception {
        NydusifyProcess.Result check = checkTampered("mode", file -> Commands.run(List.of(
                "chmod", "0600", file.toString()), TAR_TIMEOUT));

        assertDifference(check, "mode");
    }

    private static void assertDifference(NydusifyProcess.Result check, String field) {
        assertEquals(1, check.exit(), check.output());
        assertTrue(check.stdout().lines().anyMatch(line -> line.startsWith("/" + FILE + ": "
                + field)), check.output());
        assertTrue(check.stdout().contains("check failed: 1 differences"), check.output());
    }

    /** A change to the extracted file, which keeps its mtime afterwards. */
    @FunctionalInterface
    private interface FileEdit {
        void apply(Path file) throws IOException;
    }

    /**
     * Pushes the Debian image with its last layer changed by {@code edit} as
     * {@code tamper/NAME:v1}, converts it to {@code tamper/NAME:nydus} and checks that against
     * the untouched source.
     */
    private static NydusifyProcess.Result checkTampered(String name, FileEdit edit)
            throws Exception {
        Path dir = Files.createDirectories(temp.resolve(name));
        Manifest manifest = client.getManifest(source).toManifest();
        Descriptor last = manifest.layers().getLast();
        Path layer = rebuildLayer(dir, last.digest(), edit);
        Digest layerDigest = sha256(layer);
        ImageReference tampered = ImageReference.parse(registry.address() + "/tamper/" + name
                + ":v1");
        client.pushBlob(tampered.toRepository(), layerDigest, Files.size(layer),
                BlobSource.of(layer));
        List<Descriptor> layers = new ArrayList<>(manifest.layers());
        layers.set(layers.size() - 1, Descriptor.of(last.mediaType(), layerDigest,
                Files.size(layer)));
        byte[] config = config(manifest.config(), sha256(dir.resolve("layer.tar")));
        Digest configDigest = Digest.of(config);
        client.pushBlob(tampered.toRepository(), configDigest, config.length,
                BlobSource.of(config));
        for (Descriptor base : manifest.layers().subList(0, layers.size() - 1)) {
            client.mountBlob(source.toRepository(), tampered.toRepository(), base.digest());
        }
        client.putManifest(tampered, ManifestContent.of(new Manifest(2, manifest.mediaType(),
                null, Descriptor.of(manifest.config().mediaType(), configDigest,
                config.length), layers, null, manifest.annotations(), Map.of())));
        return convertAndCheck(tampered, dir);
    }

    private static NydusifyProcess.Result convertAndCheck(ImageReference tampered, Path dir)
            throws Exception {
        String target = tampered.toRepository() + ":nydus";
        NydusifyProcess nydusify = new NydusifyProcess(dir);
        NydusifyProcess.Result convert = nydusify.run("convert", "--source",
                tampered.toString(), "--target", target, "--plain-http", "--work-dir",
                dir.resolve("work").toString(), "--log-level", "warn");
        assertEquals(0, convert.exit(), convert.output());
        return nydusify.run("check", "--source", source.toString(), "--target", target,
                "--plain-http", "--work-dir", dir.resolve("check-work").toString(),
                "--log-level", "warn");
    }

    /**
     * Extracts layer {@code digest} of the registry's Debian image, applies {@code edit} to
     * {@link #FILE}, restores the file's mtime and archives the tree again as GNU tar and gzip.
     */
    private static Path rebuildLayer(Path dir, Digest digest, FileEdit edit) throws Exception {
        Path original = dir.resolve("original.tar.gz");
        try (var in = client.getBlob(source.toRepository(), digest)) {
            Files.copy(in, original);
        }
        Path tree = Files.createDirectories(dir.resolve("tree"));
        tar("-xzpf", original.toString(), "-C", tree.toString());
        Path file = tree.resolve(FILE);
        String mtime = Commands.run(List.of("stat", "-c", "%.9Y", file.toString()), TAR_TIMEOUT)
                .stdoutText().strip();
        edit.apply(file);
        Commands.run(List.of("touch", "-d", "@" + mtime, file.toString()), TAR_TIMEOUT);
        Path tar = dir.resolve("layer.tar");
        tar("--format=posix", "--sort=name", "-C", tree.toString(), "-cf", tar.toString(),
                "etc");
        Commands.run(List.of("gzip", "-n", "-k", tar.toString()), TAR_TIMEOUT);
        return Path.of(tar + ".gz");
    }

    private static void tar(String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of("tar", "--xattrs", "--xattrs-include=*",
                "--numeric-owner"));
        argv.addAll(List.of(args));
        Commands.run(argv, TAR_TIMEOUT);
    }

    /** Returns the source config with its last diff id replaced by {@code diffId}. */
    private static byte[] config(Descriptor descriptor, Digest diffId) throws IOException {
        ObjectNode config;
        try (var in = client.getBlob(source.toRepository(), descriptor.digest())) {
            config = (ObjectNode) JSON.readTree(in);
        }
        ArrayNode diffIds = (ArrayNode) config.path("rootfs").path("diff_ids");
        diffIds.set(diffIds.size() - 1, diffId.toString());
        return JSON.writeValueAsBytes(config);
    }

    private static Digest sha256(Path file) throws IOException {
        return Digest.of(Files.readAllBytes(file));
    }
}
