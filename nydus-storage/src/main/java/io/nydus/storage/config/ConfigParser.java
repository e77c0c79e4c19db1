package io.nydus.storage.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Reads the version 1 JSON configuration into {@link StorageConfig} records. */
final class ConfigParser {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String BACKEND = "device.backend.config.";

    private ConfigParser() {
    }

    static StorageConfig parse(String json, Map<String, String> environment) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            // The parser's message may quote the document, which may contain credentials.
            throw new ConfigException("the configuration is not valid JSON (line "
                    + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr()
                    + ")");
        }
        if (root == null || !root.isObject()) {
            throw new ConfigException("the configuration is not a JSON object");
        }
        JsonNode device = object(root, "device", "device");
        BackendConfig backend = backend(object(device, "backend", "device.backend"),
                environment);
        CacheConfig cache = cache(device.path("cache"));
        String mode = text(root, "mode", "mode", "direct");
        if (!mode.equals("direct")) {
            throw new ConfigException("mode '" + mode + "' is not supported by RAFS v6 images,"
                    + " expected direct");
        }
        return new StorageConfig(backend, cache,
                bool(root, "digest_validate", "digest_validate", false),
                integer(root, "amplify_io", "amplify_io", StorageConfig.DEFAULT_AMPLIFY_IO),
                prefetch(root.path("fs_prefetch")));
    }

    private static BackendConfig backend(JsonNode node, Map<String, String> environment) {
        String type = text(node, "type", "device.backend.type", "");
        JsonNode config = node.path("config");
        return switch (type) {
            case "registry" -> registry(config, environment);
            case "localfs" -> localFs(config);
            case "" -> throw new ConfigException("device.backend.type is missing");
            default -> throw new ConfigException("device.backend.type '" + type
                    + "' is not supported, expected registry or localfs");
        };
    }

    private static RegistryConfig registry(JsonNode c, Map<String, String> environment) {
        Optional<String> auth = optionalText(c, "auth", BACKEND + "auth");
        String fromEnvironment = environment.get(StorageConfig.PULL_AUTH_VARIABLE);
        if (fromEnvironment != null && !fromEnvironment.isEmpty()) {
            auth = Optional.of(fromEnvironment);
        }
        List<Path> caFiles = new ArrayList<>();
        for (JsonNode file : array(c, "ca_cert_files", BACKEND + "ca_cert_files")) {
            caFiles.add(Path.of(textValue(file, BACKEND + "ca_cert_files[]")));
        }
        List<MirrorConfig> mirrors = new ArrayList<>();
        for (JsonNode mirror : array(c, "mirrors", BACKEND + "mirrors")) {
            mirrors.add(mirror(mirror));
        }
        JsonNode proxy = c.path("proxy");
        Optional<ProxyConfig> proxyConfig = Optional.empty();
        if (proxy.isObject() && !text(proxy, "url", BACKEND + "proxy.url", "").isEmpty()) {
            proxyConfig = Optional.of(proxy(proxy));
        }
        return new RegistryConfig(text(c, "scheme", BACKEND + "scheme", "https"),
                text(c, "host", BACKEND + "host", ""), text(c, "repo", BACKEND + "repo", ""),
                auth, optionalText(c, "registry_token", BACKEND + "registry_token"),
                bool(c, "skip_verify", BACKEND + "skip_verify", false), caFiles,
                timeout(c, "timeout", 5), timeout(c, "connect_timeout", 5),
                integer(c, "retry_limit", BACKEND + "retry_limit", 0), proxyConfig, mirrors);
    }

    private static ProxyConfig proxy(JsonNode p) {
        String key = BACKEND + "proxy.";
        return new ProxyConfig(uri(text(p, "url", key + "url", ""), key + "url"),
                optionalText(p, "ping_url", key + "ping_url").map(u -> uri(u, key + "ping_url")),
                bool(p, "fallback", key + "fallback", true),
                seconds(p, "check_interval", key + "check_interval", 5),
                bool(p, "use_http", key + "use_http", false));
    }

    private static MirrorConfig mirror(JsonNode m) {
        String key = BACKEND + "mirrors[].";
        if (!m.isObject()) {
            throw new ConfigException(BACKEND + "mirrors contains " + m.getNodeType()
                    + ", expected objects");
        }
        String host = text(m, "host", key + "host", "");
        if (!host.contains("://")) {
            host = "https://" + host;
        }
        Map<String, String> headers = new LinkedHashMap<>();
        JsonNode h = m.path("headers");
        if (!h.isMissingNode() && !h.isNull()) {
            if (!h.isObject()) {
                throw new ConfigException(key + "headers is " + h.getNodeType()
                        + ", expected an object");
            }
            h.properties().forEach(e -> headers.put(e.getKey(),
                    textValue(e.getValue(), key + "headers." + e.getKey())));
        }
        return new MirrorConfig(uri(host, key + "host"), headers,
                seconds(m, "health_check_interval", key + "health_check_interval", 5),
                integer(m, "failure_limit", key + "failure_limit", 5),
                optionalText(m, "ping_url", key + "ping_url").map(u -> uri(u, key + "ping_url")));
    }

    private static LocalFsConfig localFs(JsonNode c) {
        List<Path> alt = new ArrayList<>();
        for (JsonNode dir : array(c, "alt_dirs", BACKEND + "alt_dirs")) {
            alt.add(Path.of(textValue(dir, BACKEND + "alt_dirs[]")));
        }
        return new LocalFsConfig(optionalText(c, "dir", BACKEND + "dir").map(Path::of),
                optionalText(c, "blob_file", BACKEND + "blob_file").map(Path::of), alt);
    }

    private static CacheConfig cache(JsonNode node) {
        if (node.isMissingNode() || node.isNull()) {
            return CacheConfig.none();
        }
        String type = text(node, "type", "device.cache.type", "");
        return switch (type) {
            case "", "dummycache" -> CacheConfig.none();
            case "blobcache", "filecache" -> {
                if (bool(node, "compressed", "device.cache.compressed", false)) {
                    throw new ConfigException("device.cache.compressed true is not supported,"
                            + " expected false");
                }
                String dir = text(node.path("config"), "work_dir", "device.cache.config.work_dir",
                        "");
                if (dir.isEmpty()) {
                    throw new ConfigException("device.cache.config.work_dir is missing for"
                            + " cache type " + type);
                }
                yield CacheConfig.file(Path.of(dir));
            }
            default -> throw new ConfigException("device.cache.type '" + type
                    + "' is not supported, expected blobcache, filecache or an empty string");
        };
    }

    private static PrefetchConfig prefetch(JsonNode p) {
        if (p.isMissingNode() || p.isNull()) {
            return PrefetchConfig.disabled();
        }
        if (!p.isObject()) {
            throw new ConfigException("fs_prefetch is " + p.getNodeType()
                    + ", expected an object");
        }
        return new PrefetchConfig(bool(p, "enable", "fs_prefetch.enable", false),
                integer(p, "threads_count", "fs_prefetch.threads_count",
                        PrefetchConfig.DEFAULT_THREADS),
                integer(p, "merging_size", "fs_prefetch.merging_size",
                        PrefetchConfig.DEFAULT_MERGING_SIZE),
                longValue(p, "bandwidth_rate", "fs_prefetch.bandwidth_rate", 0),
                bool(p, "prefetch_all", "fs_prefetch.prefetch_all", true),
                longValue(p, "demand_quiet_ms", "fs_prefetch.demand_quiet_ms",
                        PrefetchConfig.DEFAULT_DEMAND_QUIET_MS));
    }

    private static JsonNode object(JsonNode parent, String name, String key) {
        JsonNode node = parent.path(name);
        if (node.isMissingNode() || node.isNull()) {
            throw new ConfigException(key + " is missing");
        }
        if (!node.isObject()) {
            throw new ConfigException(key + " is " + node.getNodeType() + ", expected an object");
        }
        return node;
    }

    private static List<JsonNode> array(JsonNode parent, String name, String key) {
        JsonNode node = parent.path(name);
        if (node.isMissingNode() || node.isNull()) {
            return List.of();
        }
        if (!node.isArray()) {
            throw new ConfigException(key + " is " + node.getNodeType() + ", expected an array");
        }
        List<JsonNode> items = new ArrayList<>();
        node.forEach(items::add);
        return items;
    }

    private static String text(JsonNode parent, String name, String key, String fallback) {
        JsonNode node = parent.path(name);
        if (node.isMissingNode() || node.isNull()) {
            return fallback;
        }
        return textValue(node, key);
    }

    private static Optional<String> optionalText(JsonNode parent, String name, String key) {
        String value = text(parent, name, key, "");
        return value.isEmpty() ? Optional.empty() : Optional.of(value);
    }

    private static String textValue(JsonNode node, String key) {
        if (!node.isTextual()) {
            throw new ConfigException(key + " is " + node.getNodeType() + ", expected a string");
        }
        return node.asText();
    }

    private static boolean bool(JsonNode parent, String name, String key, boolean fallback) {
        JsonNode node = parent.path(name);
        if (node.isMissingNode() || node.isNull()) {
            return fallback;
        }
        if (!node.isBoolean()) {
            throw new ConfigException(key + " is " + describe(node) + ", expected true or false");
        }
        return node.booleanValue();
    }

    private static long longValue(JsonNode parent, String name, String key, long fallback) {
        JsonNode node = parent.path(name);
        if (node.isMissingNode() || node.isNull()) {
            return fallback;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong()) {
            throw new ConfigException(key + " is " + describe(node) + ", expected an integer");
        }
        return node.longValue();
    }

    private static int integer(JsonNode parent, String name, String key, int fallback) {
        long value = longValue(parent, name, key, fallback);
        if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
            throw new ConfigException(key + " " + value + " is out of range");
        }
        return (int) value;
    }

    /** Reads a backend timeout in seconds, where 0 means no limit. */
    private static Duration timeout(JsonNode parent, String name, int fallback) {
        Duration value = seconds(parent, name, BACKEND + name, fallback);
        return value.isZero() ? RegistryConfig.NO_TIMEOUT : value;
    }

    private static Duration seconds(JsonNode parent, String name, String key, int fallback) {
        return Duration.ofSeconds(longValue(parent, name, key, fallback));
    }

    private static URI uri(String text, String key) {
        try {
            return new URI(text);
        } catch (URISyntaxException e) {
            throw new ConfigException(key + " '" + text + "' is not a valid URL: "
                    + e.getReason());
        }
    }

    /** Describes a value for messages without quoting strings, which may be secrets. */
    private static String describe(JsonNode node) {
        return node.isNumber() || node.isBoolean() ? node.toString()
                : "a " + node.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
    }
}
