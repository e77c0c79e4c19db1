package io.nydus.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.storage.config.CacheConfig;
import io.nydus.storage.config.ConfigException;
import io.nydus.storage.config.LocalFsConfig;
import io.nydus.storage.config.MirrorConfig;
import io.nydus.storage.config.PrefetchConfig;
import io.nydus.storage.config.RegistryConfig;
import io.nydus.storage.config.StorageConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class StorageConfigTest {
    private static final String LOCAL_BACKEND =
            "{\"type\": \"localfs\", \"config\": {\"dir\": \"/b\"}}";
    private static final String AUTH =
            Base64.getEncoder().encodeToString("alice:s3cret".getBytes());

    private static final String FULL = """
            {"device": {
               "backend": {"type": "registry", "config": {
                 "scheme": "https", "host": "registry.example:5000", "repo": "library/app",
                 "auth": "%s", "registry_token": "tok-secret", "skip_verify": true,
                 "ca_cert_files": ["/etc/ca1.pem", "/etc/ca2.pem"], "timeout": 7,
                 "connect_timeout": 3, "retry_limit": 2,
                 "proxy": {"url": "http://127.0.0.1:65001",
                           "ping_url": "http://127.0.0.1:65001/ping",
                           "fallback": false, "check_interval": 9, "use_http": true},
                 "mirrors": [{"host": "http://127.0.0.1:65002",
                              "headers": {"X-Token": "hdr-secret"},
                              "health_check_interval": 4, "failure_limit": 3,
                              "ping_url": "http://127.0.0.1:65002/v2/"}]}},
               "cache": {"type": "blobcache", "config": {"work_dir": "/var/cache/nydus"}}},
             "mode": "direct", "digest_validate": true, "iostats_files": false,
             "enable_xattr": true, "amplify_io": 2097152,
             "fs_prefetch": {"enable": true, "threads_count": 4, "merging_size": 65536,
                             "bandwidth_rate": 1000000, "prefetch_all": false,
                             "demand_quiet_ms": 250}}
            """.formatted(AUTH);

    private static StorageConfig parse(String json) {
        return StorageConfig.parse(json, Map.of());
    }

    private static String minimal(String backend, String rest) {
        return "{\"device\": {\"backend\": " + backend + "}" + rest + "}";
    }

    @Test
    void fullRegistryConfig() {
        StorageConfig config = parse(FULL);
        RegistryConfig registry = (RegistryConfig) config.backend();

        assertEquals("registry.example:5000", registry.host());
        assertEquals("library/app", registry.repo());
        assertEquals(Optional.of(AUTH), registry.auth());
        assertEquals(Optional.of("tok-secret"), registry.registryToken());
        assertTrue(registry.skipVerify());
        assertEquals(2, registry.caCertFiles().size());
        assertEquals(Duration.ofSeconds(7), registry.timeout());
        assertEquals(Duration.ofSeconds(3), registry.connectTimeout());
        assertEquals(2, registry.retryLimit());
        assertFalse(registry.proxy().orElseThrow().fallback());
        assertTrue(registry.proxy().orElseThrow().useHttp());
        assertEquals(Duration.ofSeconds(9), registry.proxy().orElseThrow().checkInterval());
        MirrorConfig mirror = registry.mirrors().getFirst();
        assertEquals(Map.of("X-Token", "hdr-secret"), mirror.headers());
        assertEquals(3, mirror.failureLimit());
        assertEquals(CacheConfig.file(Path.of("/var/cache/nydus")), config.cache());
        assertTrue(config.digestValidate());
        assertEquals(2 << 20, config.amplifyIo());
        assertEquals(new PrefetchConfig(true, 4, 128 << 10, 1_000_000, false, 250),
                config.prefetch());
    }

    @Test
    void zeroTimeoutsMeanNoLimit() {
        StorageConfig config = parse(minimal("{\"type\": \"registry\", \"config\": {\"host\":"
                + " \"h\", \"repo\": \"r\", \"timeout\": 0, \"connect_timeout\": 0}}", ""));
        RegistryConfig registry = (RegistryConfig) config.backend();

        assertEquals(RegistryConfig.NO_TIMEOUT, registry.timeout());
        assertEquals(RegistryConfig.NO_TIMEOUT, registry.connectTimeout());
    }

    @Test
    void negativeTimeoutIsRejected() {
        ConfigException e = assertThrows(ConfigException.class, () -> parse(minimal(
                "{\"type\": \"registry\", \"config\": {\"host\": \"h\", \"repo\": \"r\","
                        + " \"timeout\": -1}}", "")));

        assertTrue(e.getMessage().contains("timeout"), e.getMessage());
    }

    @Test
    void defaultsWhenKeysAreAbsent() {
        StorageConfig config = parse(minimal(
                "{\"type\": \"registry\", \"config\": {\"host\": \"h\", \"repo\": \"r\"}}", ""));
        RegistryConfig registry = (RegistryConfig) config.backend();

        assertEquals("https", registry.scheme());
        assertEquals(Duration.ofSeconds(5), registry.timeout());
        assertEquals(Duration.ofSeconds(5), registry.connectTimeout());
        assertEquals(0, registry.retryLimit());
        assertEquals(Optional.empty(), registry.proxy());
        assertEquals(CacheConfig.none(), config.cache());
        assertFalse(config.digestValidate());
        assertEquals(1 << 20, config.amplifyIo());
        assertFalse(config.prefetch().enable());
    }

    @Test
    void prefetchDefaultsInsideObject() {
        StorageConfig config = parse(minimal(LOCAL_BACKEND,
                ", \"fs_prefetch\": {\"enable\": true}"));

        assertEquals(new PrefetchConfig(true, 8, 1 << 20, 0, true), config.prefetch());
    }

    @Test
    void smallAmplifyIsRaised() {
        StorageConfig config = parse(minimal(LOCAL_BACKEND, ", \"amplify_io\": 4096"));

        assertEquals(128 << 10, config.amplifyIo());
    }

    @Test
    void localFsConfig() {
        StorageConfig config = parse(minimal("{\"type\": \"localfs\", \"config\": {\"dir\": \"/b\","
                + " \"alt_dirs\": [\"/c\", \"/d\"], \"blob_file\": \"/f\"}}", ""));

        assertEquals(new LocalFsConfig(Optional.of(Path.of("/b")), Optional.of(Path.of("/f")),
                java.util.List.of(Path.of("/c"), Path.of("/d"))), config.backend());
    }

    @Test
    void environmentAuthOverridesConfig() {
        String other = Base64.getEncoder().encodeToString("bob:pw".getBytes());
        StorageConfig config = StorageConfig.parse(FULL, Map.of("IMAGE_PULL_AUTH", other));

        assertEquals(Optional.of(other), ((RegistryConfig) config.backend()).auth());
    }

    @Test
    void unsendableMirrorHeadersAreRejected() {
        for (String header : List.of("\"X-Team\": \"a\\r\\nX-Injected: 1\"",
                "\"Host\": \"mirror.example.com\"", "\"Bad Name\": \"a\"")) {
            String name = header.substring(1, header.indexOf('"', 1));
            ConfigException e = assertThrows(ConfigException.class, () -> parse(minimal(
                    "{\"type\": \"registry\", \"config\": {\"host\": \"h\", \"repo\": \"r\","
                            + " \"mirrors\": [{\"host\": \"http://m\", \"headers\": {" + header
                            + "}}]}}", "")), header);

            assertTrue(e.getMessage().contains("mirrors[].headers." + name), e.getMessage());
            assertFalse(e.getMessage().contains("Injected"), e.getMessage());
        }
    }

    @Test
    void unknownBackendTypeIsNamed() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> parse(minimal("{\"type\": \"oss\", \"config\": {}}", "")));

        assertTrue(e.getMessage().contains("device.backend.type 'oss'"), e.getMessage());
    }

    @Test
    void unknownCacheTypeIsNamed() {
        ConfigException e = assertThrows(ConfigException.class, () -> parse(
                "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\": {\"dir\": \"/b\"}},"
                        + " \"cache\": {\"type\": \"fscache\"}}}"));

        assertTrue(e.getMessage().contains("device.cache.type 'fscache'"), e.getMessage());
    }

    @Test
    void invalidValuesNameKeyAndValue() {
        String backend = "{\"type\": \"localfs\", \"config\": {\"dir\": \"/b\"}}";
        assertMessage("amplify_io 536870912", minimal(backend, ", \"amplify_io\": 536870912"));
        assertMessage("fs_prefetch.threads_count 0",
                minimal(backend, ", \"fs_prefetch\": {\"threads_count\": 0}"));
        assertMessage("fs_prefetch.bandwidth_rate -1",
                minimal(backend, ", \"fs_prefetch\": {\"bandwidth_rate\": -1}"));
        assertMessage("fs_prefetch.demand_quiet_ms -5",
                minimal(backend, ", \"fs_prefetch\": {\"demand_quiet_ms\": -5}"));
        assertMessage("digest_validate is a string",
                minimal(backend, ", \"digest_validate\": \"yes\""));
        assertMessage("device.backend.config.retry_limit -1", minimal(
                "{\"type\": \"registry\", \"config\": {\"host\": \"h\", \"repo\": \"r\","
                        + " \"retry_limit\": -1}}", ""));
        assertMessage("device.backend.config.host is missing",
                minimal("{\"type\": \"registry\", \"config\": {\"repo\": \"r\"}}", ""));
        assertMessage("device.cache.config.work_dir is missing",
                "{\"device\": {\"backend\": " + backend
                        + ", \"cache\": {\"type\": \"blobcache\"}}}");
        assertMessage("mode 'cached'", minimal(backend, ", \"mode\": \"cached\""));
    }

    private static void assertMessage(String expected, String json) {
        ConfigException e = assertThrows(ConfigException.class, () -> parse(json));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void secretsStayOutOfTextAndErrors() {
        StorageConfig config = parse(FULL);
        String text = config.toString();

        assertFalse(text.contains(AUTH), text);
        assertFalse(text.contains("tok-secret"), text);
        assertFalse(text.contains("hdr-secret"), text);
        ConfigException e = assertThrows(ConfigException.class,
                () -> parse(FULL.replace("\"timeout\": 7", "\"timeout\": \"x-secret\"")));
        assertFalse(e.getMessage().contains("x-secret"), e.getMessage());
        ConfigException broken = assertThrows(ConfigException.class,
                () -> parse(FULL.replace("\"auth\"", "\"auth\" \"")));
        assertFalse(broken.getMessage().contains(AUTH), broken.getMessage());
    }
}
