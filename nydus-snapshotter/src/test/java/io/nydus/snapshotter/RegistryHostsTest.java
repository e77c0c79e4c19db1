package io.nydus.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.ImageReference;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The mirrors that hosts.toml files in containerd's format give nydusd. */
class RegistryHostsTest {
    private static final String REGISTRY = "registry.example.com:5000";

    private TempDir dir;

    @BeforeEach
    void createDir() throws IOException {
        dir = TempDirs.create("registry-hosts");
    }

    @AfterEach
    void deleteDir() throws IOException {
        dir.close();
    }

    private Path write(String hostDir, String toml) throws IOException {
        Path file = Files.createDirectories(dir.resolve(hostDir)).resolve("hosts.toml");
        return Files.writeString(file, toml);
    }

    @Test
    void mirrorsKeepTheFileOrder() throws IOException {
        write(REGISTRY, """
                server = "https://registry.example.com:5000"
                [host."http://mirror-b:5000"]
                  capabilities = ["pull", "resolve"]
                  ping_url = "http://mirror-b:5000/v2/"
                  health_check_interval = 7
                  failure_limit = 3
                  [host."http://mirror-b:5000".header]
                    X-Team = ["builds", "ignored"]
                [host."mirror-a"]
                  ca = "mirror-a.crt"
                """);

        RegistryHosts hosts = RegistryHosts.load(dir.path(), REGISTRY).orElseThrow();

        assertEquals(List.of("http://mirror-b:5000", "https://mirror-a"),
                hosts.mirrors().stream().map(RegistryHosts.Mirror::url).toList());
        RegistryHosts.Mirror first = hosts.mirrors().getFirst();
        assertEquals(Map.of("X-Team", "builds"), first.headers());
        assertEquals("http://mirror-b:5000/v2/", first.pingUrl());
        assertEquals(7, first.healthCheckIntervalSeconds());
        assertEquals(3, first.failureLimit());
        assertEquals(List.of(dir.resolve(REGISTRY).resolve("mirror-a.crt").toString()),
                hosts.mirrors().get(1).caFiles());
        assertEquals(Optional.of("https"), hosts.serverScheme());
    }

    @Test
    void portDirectoryWithUnderscoresComesFirst() throws IOException {
        write(REGISTRY, "[host.\"http://colon-dir\"]\n");
        write("registry.example.com_5000_", "[host.\"http://underscore-dir\"]\n");
        write("_default", "[host.\"http://default-dir\"]\n");

        assertEquals("http://underscore-dir", RegistryHosts.load(dir.path(), REGISTRY)
                .orElseThrow().mirrors().getFirst().url());
        assertEquals("http://default-dir", RegistryHosts.load(dir.path(), "docker.io")
                .orElseThrow().mirrors().getFirst().url());
    }

    /**
     * A registry's directory without a hosts.toml, such as one that holds only its CA file,
     * takes the registry out of _default, as in containerd.
     */
    @Test
    void registryDirectoryWithoutFileSkipsDefault() throws IOException {
        Files.writeString(Files.createDirectories(dir.resolve(REGISTRY)).resolve("ca.crt"), "");
        write("_default", "[host.\"http://default-dir\"]\n");

        assertEquals(Optional.empty(), RegistryHosts.load(dir.path(), REGISTRY));
        assertEquals("http://default-dir", RegistryHosts.load(dir.path(), "docker.io")
                .orElseThrow().mirrors().getFirst().url());
    }

    @Test
    void missingFileGivesNoHosts() throws IOException {
        assertEquals(Optional.empty(), RegistryHosts.load(dir.path(), REGISTRY));
    }

    @Test
    void mirrorWithoutPullIsSkipped() throws IOException {
        write(REGISTRY, """
                [host."http://push-only"]
                  capabilities = ["push"]
                [host."http://pulls"]
                """);

        assertEquals(List.of("http://pulls"), RegistryHosts.load(dir.path(), REGISTRY)
                .orElseThrow().mirrors().stream().map(RegistryHosts.Mirror::url).toList());
    }

    @Test
    void plainHttpServerSetsTheScheme() throws IOException {
        write(REGISTRY, "server = \"http://registry.example.com:5000\"\n");

        assertEquals(Optional.of("http"),
                RegistryHosts.load(dir.path(), REGISTRY).orElseThrow().serverScheme());
    }

    @Test
    void serverOfAnotherHostLeavesTheScheme() throws IOException {
        write(REGISTRY, "server = \"http://elsewhere:5000\"\n");

        assertEquals(Optional.empty(),
                RegistryHosts.load(dir.path(), REGISTRY).orElseThrow().serverScheme());
    }

    @Test
    void invalidValueNamesFileAndKey() throws IOException {
        Path file = write(REGISTRY, "[host.\"http://m\"]\nfailure_limit = \"many\"\n");

        IOException e = assertThrows(IOException.class,
                () -> RegistryHosts.load(dir.path(), REGISTRY));

        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("host.\"http://m\".failure_limit"), e.getMessage());
    }

    @Test
    void unsendableHeaderIsRejected() throws IOException {
        Path file = write(REGISTRY, """
                [host."http://m"]
                  header = { Host = "m", X-Team = "builds" }
                """);

        IOException e = assertThrows(IOException.class,
                () -> RegistryHosts.load(dir.path(), REGISTRY));

        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("host.\"http://m\".header.Host"), e.getMessage());
    }

    @Test
    void headerWithLineBreakIsRejected() throws IOException {
        write(REGISTRY, """
                [host."http://m"]
                  header.X-Team = "builds\\r\\nX-Injected: 1"
                """);

        IOException e = assertThrows(IOException.class,
                () -> RegistryHosts.load(dir.path(), REGISTRY));

        assertTrue(e.getMessage().contains("host.\"http://m\".header.X-Team"), e.getMessage());
        assertFalse(e.getMessage().contains("Injected"), e.getMessage());
    }

    @Test
    void oversizedFileIsRejected() throws IOException {
        Path file = write(REGISTRY, "");
        try (RandomAccessFile sparse = new RandomAccessFile(file.toFile(), "rw")) {
            sparse.setLength(3L << 30);
        }

        IOException e = assertThrows(IOException.class,
                () -> RegistryHosts.load(dir.path(), REGISTRY));

        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("3221225472 bytes"), e.getMessage());
    }

    @Test
    void syntaxErrorOmitsFileContent() throws IOException {
        write(REGISTRY, "[host.\"http://m\"]\n" + "x".repeat(5000) + "\n");

        IOException e = assertThrows(IOException.class,
                () -> RegistryHosts.load(dir.path(), REGISTRY));

        assertFalse(e.getMessage().contains("x".repeat(100)), e.getMessage());
    }

    @Test
    void imageConfigListsHostsMirrorsFirst() throws Exception {
        write(REGISTRY, """
                server = "http://registry.example.com:5000"
                [host."http://10.0.0.5:5000"]
                  ca = "/etc/certs/mirror.crt"
                  [host."http://10.0.0.5:5000".header]
                    X-Mirror = "yes"
                """);
        Path template = Files.writeString(dir.resolve("template.json"), """
                {"device": {"backend": {"type": "registry", "config": {
                  "mirrors": [{"host": "http://static-mirror"}],
                  "ca_cert_files": ["/etc/certs/base.crt"]}}}}""");
        DaemonConfigs configs = DaemonConfigs.load(template, dir.resolve("cache"),
                new CredentialStore(CredentialProvider.of(Map.of())))
                .withMirrorsDir(dir.path());
        NydusImage image = new NydusImage(7, Path.of("/boot"),
                ImageReference.parse(REGISTRY + "/team/app:v1"), List.of(), Map.of());

        JsonNode backend = new ObjectMapper().readTree(configs.imageConfig(image))
                .at("/device/backend/config");

        assertEquals("http", backend.path("scheme").asText());
        assertEquals("http://10.0.0.5:5000", backend.at("/mirrors/0/host").asText());
        assertEquals("yes", backend.at("/mirrors/0/headers/X-Mirror").asText());
        assertEquals("http://static-mirror", backend.at("/mirrors/1/host").asText());
        assertEquals("[\"/etc/certs/mirror.crt\",\"/etc/certs/base.crt\"]",
                backend.path("ca_cert_files").toString());
    }

    @Test
    void unreadableHostsFileLeavesTheRegistry() throws Exception {
        write(REGISTRY, "[host.\"http://m\"\n");
        DaemonConfigs configs = DaemonConfigs.load(dir.resolve("none.json"), dir.resolve("cache"),
                new CredentialStore(CredentialProvider.of(Map.of()))).withMirrorsDir(dir.path());
        NydusImage image = new NydusImage(7, Path.of("/boot"),
                ImageReference.parse(REGISTRY + "/team/app:v1"), List.of(), Map.of());

        JsonNode backend = new ObjectMapper().readTree(configs.imageConfig(image))
                .at("/device/backend/config");

        assertEquals("https", backend.path("scheme").asText());
        assertTrue(backend.path("mirrors").isMissingNode(), backend.toString());
    }
}
