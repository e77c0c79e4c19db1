package io.nydus.snapshotter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.nydus.registry.SendableHeaders;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The mirrors of one registry, read from a {@code hosts.toml} in containerd's format under the
 * mirrors config directory: {@code DIR/HOST/hosts.toml}, where a port is written either as
 * {@code host:5000} or as {@code host_5000_}, else {@code DIR/_default/hosts.toml}. The first
 * of those directories that exists decides, even without a hosts.toml in it.
 *
 * <p>Each {@code [host."URL"]} table is a mirror, in the order of the file. Besides containerd's
 * {@code header}, {@code ca} and {@code capabilities}, a table may set nydusd's
 * {@code ping_url}, {@code health_check_interval} (seconds) and {@code failure_limit}. A top-level
 * {@code server} whose host is the registry's gives the scheme of the registry itself, so a
 * registry that containerd reaches over plain HTTP is reached so by nydusd too.
 *
 * @param file the hosts.toml read
 * @param mirrors the mirrors that may serve pulls, in the order of the file
 * @param serverScheme the scheme of the top-level {@code server}, if it names the registry
 */
record RegistryHosts(Path file, List<Mirror> mirrors, Optional<String> serverScheme) {

    private static final TomlMapper TOML = new TomlMapper();
    /** The maximum size of a hosts.toml; containerd's files list a few mirrors in a few KiB. */
    private static final long MAX_FILE_BYTES = 1 << 20;

    RegistryHosts {
        mirrors = List.copyOf(mirrors);
    }

    /**
     * A mirror of a {@code [host."URL"]} table.
     *
     * @param url the mirror's base URL with its scheme, such as {@code http://10.0.0.5:5000}
     * @param headers headers sent with every request to the mirror, one value each
     * @param caFiles CA certificate files that the mirror's certificate is checked against
     * @param pingUrl a URL whose GET succeeds while the mirror is healthy, or empty
     * @param healthCheckIntervalSeconds the pause after failures, or 0 for nydusd's default
     * @param failureLimit failures before the mirror is skipped, or 0 for nydusd's default
     */
    record Mirror(String url, Map<String, String> headers, List<String> caFiles,
            String pingUrl, int healthCheckIntervalSeconds, int failureLimit) {
        Mirror {
            headers = Map.copyOf(headers);
            caFiles = List.copyOf(caFiles);
        }
    }

    /**
     * Reads the hosts.toml of {@code registry} (such as {@code docker.io} or
     * {@code 10.0.0.5:5000}) under {@code dir}.
     *
     * @return the registry's hosts, empty when no file applies
     * @throws IOException naming the file if it cannot be read or a value is invalid
     */
    static Optional<RegistryHosts> load(Path dir, String registry) throws IOException {
        Optional<Path> file = hostsFile(dir, registry);
        if (file.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(parse(file.get(), registry, TOML.readTree(read(file.get()))));
        } catch (JsonProcessingException e) {
            // The original message leaves out the parser's excerpt of the file.
            throw new IOException("invalid registry hosts file " + file.get() + ": "
                    + e.getOriginalMessage() + " at line " + e.getLocation().getLineNr(), e);
        } catch (IOException | IllegalArgumentException e) {
            throw new IOException("invalid registry hosts file " + file.get() + ": "
                    + e.getMessage(), e);
        }
    }

    /** Reads a file that is read again at every mount, so that its size is capped. */
    private static byte[] read(Path file) throws IOException {
        long size = Files.size(file);
        if (size > MAX_FILE_BYTES) {
            throw new IOException("the file has " + size + " bytes, more than the "
                    + MAX_FILE_BYTES + " that a hosts file may have");
        }
        return Files.readAllBytes(file);
    }

    /**
     * Returns the hosts.toml in the first of the registry's directories that exists, as
     * containerd picks it. A directory without the file, such as one with only a CA file,
     * gives none, so the registry then has no mirrors and _default does not apply to it.
     */
    private static Optional<Path> hostsFile(Path dir, String registry) {
        List<String> names = new ArrayList<>();
        int colon = registry.lastIndexOf(':');
        if (colon > 0 && !registry.endsWith("]")) {
            names.add(registry.substring(0, colon) + "_" + registry.substring(colon + 1) + "_");
        }
        names.add(registry);
        names.add("_default");
        for (String name : names) {
            Path hostDir = dir.resolve(name);
            if (Files.exists(hostDir)) {
                Path file = hostDir.resolve("hosts.toml");
                return Files.isRegularFile(file) ? Optional.of(file) : Optional.empty();
            }
        }
        return Optional.empty();
    }

    static RegistryHosts parse(Path file, String registry, JsonNode toml) {
        List<Mirror> mirrors = new ArrayList<>();
        JsonNode hosts = toml.path("host");
        if (!hosts.isMissingNode() && !hosts.isObject()) {
            throw new IllegalArgumentException("'host' must be a table of mirrors");
        }
        for (Map.Entry<String, JsonNode> entry : hosts.properties()) {
            Mirror mirror = mirror(file.getParent(), entry.getKey(), entry.getValue());
            if (pulls(entry.getKey(), entry.getValue())) {
                mirrors.add(mirror);
            }
        }
        return new RegistryHosts(file, mirrors, serverScheme(toml, registry));
    }

    /** Reads a mirror's table; relative CA paths are taken from {@code dir}, as containerd. */
    private static Mirror mirror(Path dir, String server, JsonNode table) {
        String key = "host.\"" + server + "\".";
        if (!table.isObject()) {
            throw new IllegalArgumentException("'" + key + "' must be a table");
        }
        String url = withScheme(server);
        Map<String, String> headers = new LinkedHashMap<>();
        JsonNode header = table.path("header");
        if (!header.isMissingNode()) {
            if (!header.isObject()) {
                throw new IllegalArgumentException("'" + key + "header' must be a table");
            }
            // nydusd sends one value per header name, so a list gives its first value.
            for (Map.Entry<String, JsonNode> field : header.properties()) {
                List<String> values = strings(field.getValue(), key + "header." + field.getKey());
                if (!values.isEmpty()) {
                    String name = key + "header." + field.getKey();
                    SendableHeaders.problem(field.getKey(), values.getFirst())
                            .ifPresent(problem -> {
                                throw new IllegalArgumentException("'" + name + "' " + problem);
                            });
                    headers.put(field.getKey(), values.getFirst());
                }
            }
        }
        List<String> caFiles = strings(table.path("ca"), key + "ca").stream()
                .map(ca -> dir.resolve(ca).toString()).toList();
        return new Mirror(url, headers, caFiles,
                text(table, "ping_url", key), number(table, "health_check_interval", key),
                number(table, "failure_limit", key));
    }

    /** Returns whether the table's capabilities, when it lists them, include pulling. */
    private static boolean pulls(String server, JsonNode table) {
        JsonNode capabilities = table.path("capabilities");
        return capabilities.isMissingNode() || strings(capabilities,
                "host.\"" + server + "\".capabilities").contains("pull");
    }

    private static Optional<String> serverScheme(JsonNode toml, String registry) {
        JsonNode server = toml.path("server");
        if (server.isMissingNode()) {
            return Optional.empty();
        }
        if (!server.isTextual()) {
            throw new IllegalArgumentException("'server' must be a string");
        }
        URI uri = uri(withScheme(server.asText()), "server");
        return registry.equals(uri.getAuthority()) ? Optional.of(uri.getScheme())
                : Optional.empty();
    }

    /** Adds https:// to a server without a scheme, as containerd reads it. */
    private static String withScheme(String server) {
        String url = server.startsWith("http://") || server.startsWith("https://") ? server
                : "https://" + server;
        URI uri = uri(url, server);
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("'" + server + "' is not a URL with a host");
        }
        return uri.getScheme() + "://" + uri.getAuthority();
    }

    private static URI uri(String text, String key) {
        try {
            return new URI(text);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("'" + key + "' is not a URL: " + text, e);
        }
    }

    private static List<String> strings(JsonNode node, String key) {
        if (node.isMissingNode()) {
            return List.of();
        }
        if (node.isTextual()) {
            return List.of(node.asText());
        }
        if (!node.isArray()) {
            throw new IllegalArgumentException("'" + key + "' must be a string or a list of"
                    + " strings");
        }
        List<String> values = new ArrayList<>();
        for (JsonNode value : node) {
            if (!value.isTextual()) {
                throw new IllegalArgumentException("'" + key + "' must be a string or a list"
                        + " of strings");
            }
            values.add(value.asText());
        }
        return values;
    }

    private static String text(JsonNode table, String name, String key) {
        JsonNode value = table.path(name);
        if (value.isMissingNode()) {
            return "";
        }
        if (!value.isTextual()) {
            throw new IllegalArgumentException("'" + key + name + "' must be a string");
        }
        return value.asText();
    }

    private static int number(JsonNode table, String name, String key) {
        JsonNode value = table.path(name);
        if (value.isMissingNode()) {
            return 0;
        }
        if (!value.isIntegralNumber() || !value.canConvertToInt() || value.asInt() < 0) {
            throw new IllegalArgumentException("'" + key + name + "' must be a whole number"
                    + " from 0, not " + value);
        }
        return value.asInt();
    }
}
