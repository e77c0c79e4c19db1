package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryServer;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import io.nydus.testkit.RealImages;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Converts the real seeded images (Debian, Debian with the JDK, Debian in Docker schema 2,
 * Debian with zstd layers, a two-platform index) with {@code nydusify convert} from and to a
 * plain HTTP registry, then checks each result with the project's reader, {@code nydusify
 * check} and skopeo. The registry and the conversions are shared by the tests of this class.
 */
class RealImageConvertTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A source image: the tag pushed from the test layout, skopeo options, expected tree. */
    private record Case(String layoutTag, List<String> pushOptions, String expectedTree,
            int sourceLayers) {
    }

    private static final Map<String, Case> CASES = new LinkedHashMap<>();

    static {
        CASES.put("debian", new Case(RealImages.DEBIAN, List.of(), RealImages.DEBIAN, 4));
        CASES.put("jdk", new Case(RealImages.JDK, List.of(), RealImages.JDK, 5));
        CASES.put("docker-v2", new Case(RealImages.DEBIAN, List.of("--format", "v2s2"),
                RealImages.DEBIAN, 4));
        CASES.put("zstd", new Case(RealImages.DEBIAN_ZSTD, List.of(), RealImages.DEBIAN, 4));
        CASES.put("multi", new Case(RealImages.MULTI_PLATFORM, List.of(), RealImages.DEBIAN,
                4));
    }

    private static RealImages images;
    private static TempDir temp;
    private static RegistryServer registry;
    private static TempDir registryDir;
    private static final Map<String, NydusifyProcess.Result> CONVERSIONS = new LinkedHashMap<>();

    @BeforeAll
    static void convertAll() throws Exception {
        images = RealImages.get();
        temp = TempDirs.create("real-images-");
        registryDir = TempDirs.create("real-registry-");
        registry = RegistryServer.start(registryDir);
        NydusifyProcess nydusify = new NydusifyProcess(temp.path());
        for (Map.Entry<String, Case> entry : CASES.entrySet()) {
            List<String> options = new java.util.ArrayList<>(entry.getValue().pushOptions());
            options.add("--dest-tls-verify=false");
            images.push(entry.getValue().layoutTag(), "docker://" + source(entry.getKey()),
                    options.toArray(String[]::new));
            CONVERSIONS.put(entry.getKey(), nydusify.run("convert", "--source",
                    source(entry.getKey()), "--target", target(entry.getKey()), "--plain-http",
                    "--work-dir", temp.resolve("work").toString(), "--log-level", "warn"));
        }
    }

    @AfterAll
    static void stopRegistry() throws IOException {
        if (registry != null) {
            registry.close();
        }
        if (temp != null) {
            temp.close();
        }
        if (registryDir != null) {
            registryDir.close();
        }
    }

    private static String source(String name) {
        return registry.address() + "/real/" + name + ":v1";
    }

    private static String target(String name) {
        return registry.address() + "/real/" + name + ":v1-nydus";
    }

    /** Copies the converted image with {@code skopeo copy} into {@code dir/oci}. */
    private static NydusLayout copyTarget(String name, TempDir dir) throws IOException {
        return NydusLayout.copy("docker://" + target(name), dir.resolve("oci"),
                "--src-tls-verify=false");
    }

    private static void assertConverted(String name) {
        NydusifyProcess.Result result = CONVERSIONS.get(name);
        assertEquals(0, result.exit(), result.output());
    }

    @ParameterizedTest
    @ValueSource(strings = {"debian", "jdk", "docker-v2", "zstd", "multi"})
    void unpackedTreeEqualsUmociUnpack(String name) throws Exception {
        assertConverted(name);
        try (TempDir dir = TempDirs.create("unpack-" + name + "-")) {
            NydusLayout layout = copyTarget(name, dir);
            Path unpacked = dir.resolve("rootfs");
            layout.unpack(dir.path(), unpacked);

            // umoci unpacks with Go's archive/tar, which drops a PAX xattr record whose value
            // is empty, so only the converted tree has user.empty, as the layer tar has.
            TreeComparator.assertSameTree(
                    TreeSnapshot.capture(images.unpacked(CASES.get(name).expectedTree())),
                    TreeSnapshot.capture(unpacked), TreeComparator.Options.defaults()
                            .ignoringRootMtime().ignoringXattr("user.empty"));
            assertEquals("", xattr(unpacked.resolve("opt/seed/data/config"), "user.empty"));
        }
    }

    private static String xattr(Path file, String name) throws IOException {
        return Commands.run(List.of("getfattr", "--only-values", "-n", name, file.toString()),
                NydusLayout.SKOPEO_TIMEOUT).stdoutText();
    }

    @ParameterizedTest
    @ValueSource(strings = {"debian", "jdk", "docker-v2", "zstd", "multi"})
    void checkPasses(String name) throws Exception {
        assertConverted(name);
        NydusifyProcess.Result check = new NydusifyProcess(temp.path()).run("check",
                "--source", source(name), "--target", target(name), "--plain-http",
                "--work-dir", temp.resolve("check-work").toString(), "--log-level", "warn");

        assertEquals(0, check.exit(), check.output());
        assertTrue(check.stdout().contains("check passed"), check.output());
    }

    @ParameterizedTest
    @ValueSource(strings = {"debian", "jdk", "docker-v2", "zstd", "multi"})
    void skopeoInspectAccepts(String name) throws Exception {
        assertConverted(name);
        CommandResult inspect = NydusLayout.inspect("docker://" + target(name),
                "--tls-verify=false");

        assertEquals(0, inspect.exitCode(), inspect.stderrText());
        JsonNode json = JSON.readTree(inspect.stdoutText());
        assertEquals("linux", json.get("Os").asText());
        assertEquals("amd64", json.get("Architecture").asText());
        assertEquals(CASES.get(name).sourceLayers() + 1, json.get("Layers").size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"debian", "jdk", "docker-v2", "zstd", "multi"})
    void manifestHasNydusLayout(String name) throws Exception {
        assertConverted(name);
        try (TempDir dir = TempDirs.create("manifest-" + name + "-")) {
            NydusLayout layout = copyTarget(name, dir);
            JsonNode manifest = layout.manifest();
            JsonNode layers = manifest.get("layers");
            int blobs = CASES.get(name).sourceLayers();

            assertEquals(2, manifest.get("schemaVersion").asInt());
            assertEquals(MediaTypes.OCI_CONFIG, manifest.get("config").get("mediaType")
                    .asText());
            assertEquals(blobs + 1, layers.size());
            for (int i = 0; i < blobs; i++) {
                JsonNode blob = layers.get(i);
                assertEquals(MediaTypes.NYDUS_BLOB, blob.get("mediaType").asText(), "layer " + i);
                assertEquals(Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB, "true"),
                        JSON.convertValue(blob.get("annotations"), Map.class), "layer " + i);
                assertEquals(Files.size(NydusLayout.blob(dir.resolve("oci"),
                        blob.get("digest").asText())), blob.get("size").asLong(), "layer " + i);
            }
            JsonNode bootstrap = layers.get(blobs);
            assertEquals(MediaTypes.OCI_LAYER_GZIP, bootstrap.get("mediaType").asText());
            assertEquals("true", bootstrap.get("annotations")
                    .get(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP).asText());
            assertEquals("6", bootstrap.get("annotations")
                    .get(MediaTypes.ANNOTATION_NYDUS_FS_VERSION).asText());
            List<String> entries = Commands.run(List.of("tar", "-tzf", NydusLayout.blob(
                    dir.resolve("oci"), bootstrap.get("digest").asText()).toString()),
                    NydusLayout.SKOPEO_TIMEOUT).stdoutText().lines().toList();
            assertTrue(entries.contains("image/image.boot"), entries.toString());
            // A layer without file data, such as the whiteout layer, adds no blob to the
            // bootstrap's blob table, so only blobs with chunks get a blob.meta file.
            List<String> blobMetas = new java.util.ArrayList<>();
            for (int i = 0; i < blobs; i++) {
                blobMetas.add("image/" + layers.get(i).get("digest").asText().substring(7)
                        + ".blob.meta");
            }
            assertTrue(entries.contains(blobMetas.getFirst()), entries.toString());
            for (String entry : entries) {
                assertTrue(entry.equals("image/") || entry.equals("image/image.boot")
                        || blobMetas.contains(entry), "unexpected entry " + entry);
            }
            JsonNode config = layout.config();
            JsonNode diffIds = config.get("rootfs").get("diff_ids");
            assertEquals(blobs + 1, diffIds.size());
            for (int i = 0; i < blobs; i++) {
                assertEquals(layers.get(i).get("digest").asText(), diffIds.get(i).asText(),
                        "diff id " + i);
            }
            JsonNode history = config.get("history");
            JsonNode last = history.get(history.size() - 1);
            assertEquals("Nydus Converter", last.get("created_by").asText());
            assertEquals("Nydus Bootstrap Layer", last.get("comment").asText());
        }
    }
}
