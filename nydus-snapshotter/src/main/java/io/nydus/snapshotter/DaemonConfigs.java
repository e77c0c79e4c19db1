package io.nydus.snapshotter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.registry.Credentials;
import io.nydus.registry.ImageReference;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds nydusd's v1 JSON configs from the template file: the daemon's own config, and each
 * image's config with its registry backend (host, repository, scheme, credentials and the
 * mirrors of the registry's hosts.toml) and the shared blob cache directory.
 */
public final class DaemonConfigs {
    private static final Logger LOG = LoggerFactory.getLogger(DaemonConfigs.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Hosts that containerd, too, reaches over plain HTTP without a hosts.toml entry. */
    private static final Set<String> LOOPBACK_HOSTS = Set.of("localhost", "127.0.0.1", "[::1]");

    private final ObjectNode template;
    private final Path cacheDir;
    private final CredentialStore credentials;
    /** The directory of the registries' hosts.toml files, or null for no mirrors. */
    private final Path mirrorsDir;

    private DaemonConfigs(ObjectNode template, Path cacheDir, CredentialStore credentials,
            Path mirrorsDir) {
        this.template = template;
        this.cacheDir = cacheDir;
        this.credentials = credentials;
        this.mirrorsDir = mirrorsDir;
    }

    /**
     * Reads the template at {@code file}; a missing file gives upstream's defaults with
     * prefetch off.
     *
     * @throws IOException naming the file if it is not a JSON object
     */
    public static DaemonConfigs load(Path file, Path cacheDir, CredentialStore credentials)
            throws IOException {
        JsonNode template;
        try {
            template = JSON.readTree(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            template = defaultTemplate();
        } catch (JsonProcessingException e) {
            throw new IOException("invalid nydusd config template " + file + ": "
                    + e.getOriginalMessage(), e);
        }
        if (!(template instanceof ObjectNode object)) {
            throw new IOException("nydusd config template " + file + " is not a JSON object");
        }
        return new DaemonConfigs(object, cacheDir, credentials, null);
    }

    /**
     * Returns these configs with the mirrors of the hosts.toml files under {@code dir}, which
     * are read again for every image config, so that a changed file takes effect at the next
     * mount. A null {@code dir} turns mirrors off.
     */
    public DaemonConfigs withMirrorsDir(Path dir) {
        return new DaemonConfigs(template, cacheDir, credentials, dir);
    }

    static ObjectNode defaultTemplate() {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode backend = root.putObject("device").putObject("backend");
        backend.put("type", "registry");
        ObjectNode backendConfig = backend.putObject("config");
        backendConfig.put("timeout", 5);
        backendConfig.put("connect_timeout", 5);
        backendConfig.put("retry_limit", 2);
        root.put("mode", "direct");
        root.put("digest_validate", false);
        root.put("enable_xattr", true);
        root.putObject("fs_prefetch").put("enable", false);
        return root;
    }

    /** Returns the blob cache directory every daemon shares. */
    Path cacheDir() {
        return cacheDir;
    }

    /** Returns the config a daemon starts with: the template with the cache directory. */
    String daemonConfig() {
        ObjectNode config = template.deepCopy();
        setCache(config);
        return config.toString();
    }

    /** Returns the config of one image, as a JSON string for the mount API. */
    public String imageConfig(NydusImage image) {
        ObjectNode config = template.deepCopy();
        setCache(config);
        ObjectNode device = object(config, "device");
        ObjectNode backend = object(device, "backend");
        backend.put("type", "registry");
        ObjectNode backendConfig = object(backend, "config");
        ImageReference reference = image.reference();
        backendConfig.put("scheme", scheme(reference.registry()));
        backendConfig.put("host", reference.apiHost());
        backendConfig.put("repo", reference.repository());
        addHosts(backendConfig, reference.registry());
        Optional<Credentials> auth = credentials.lookup(reference, image.labels());
        backendConfig.remove("auth");
        if (auth.isPresent() && auth.get().username().equals(CredentialStore.BEARER_TOKEN_USER)) {
            backendConfig.put("registry_token", auth.get().password());
        } else if (auth.isPresent()) {
            backendConfig.put("auth", CredentialStore.basicAuth(auth.get()));
        }
        return config.toString();
    }

    /**
     * Puts the mirrors of {@code registry}'s hosts.toml ahead of the template's mirrors, adds
     * their CA files, and takes the scheme of its {@code server}. A file that cannot be read
     * leaves the config as it is, so that images still mount from the registry itself.
     */
    private void addHosts(ObjectNode backendConfig, String registry) {
        if (mirrorsDir == null) {
            return;
        }
        Optional<RegistryHosts> found;
        try {
            found = RegistryHosts.load(mirrorsDir, registry);
        } catch (IOException e) {
            LOG.warn("using no mirrors for registry {}: {}", registry, e.getMessage());
            return;
        }
        if (found.isPresent()) {
            found.get().serverScheme().ifPresent(scheme -> backendConfig.put("scheme", scheme));
            addMirrors(backendConfig, found.get().mirrors());
            LOG.debug("registry {}: {} mirror(s) from {}", registry,
                    found.get().mirrors().size(), found.get().file());
        }
    }

    private static void addMirrors(ObjectNode backendConfig,
            List<RegistryHosts.Mirror> hostsMirrors) {
        ArrayNode mirrors = JSON.createArrayNode();
        Set<String> caFiles = new LinkedHashSet<>();
        for (RegistryHosts.Mirror mirror : hostsMirrors) {
            mirrors.add(mirrorConfig(mirror));
            caFiles.addAll(mirror.caFiles());
        }
        if (backendConfig.path("mirrors") instanceof ArrayNode templateMirrors) {
            mirrors.addAll(templateMirrors);
        }
        backendConfig.set("mirrors", mirrors);

        if (!caFiles.isEmpty()) {
            backendConfig.path("ca_cert_files").forEach(file -> caFiles.add(file.asText()));
            ArrayNode files = backendConfig.putArray("ca_cert_files");
            caFiles.forEach(files::add);
        }
    }

    private static ObjectNode mirrorConfig(RegistryHosts.Mirror mirror) {
        ObjectNode node = JSON.createObjectNode();
        node.put("host", mirror.url());
        ObjectNode headers = node.putObject("headers");
        mirror.headers().forEach(headers::put);
        if (!mirror.pingUrl().isEmpty()) {
            node.put("ping_url", mirror.pingUrl());
        }
        if (mirror.healthCheckIntervalSeconds() > 0) {
            node.put("health_check_interval", mirror.healthCheckIntervalSeconds());
        }
        if (mirror.failureLimit() > 0) {
            node.put("failure_limit", mirror.failureLimit());
        }
        return node;
    }

    /**
     * Returns the URL scheme for a registry host: plain HTTP for loopback addresses, as
     * containerd's resolver does, else HTTPS.
     */
    static String scheme(String registry) {
        String host = registry.startsWith("[") ? registry.substring(0, registry.indexOf(']') + 1)
                : registry.split(":", 2)[0];
        return LOOPBACK_HOSTS.contains(host) ? "http" : "https";
    }

    private void setCache(ObjectNode config) {
        ObjectNode cache = object(object(config, "device"), "cache");
        if (!cache.has("type") || cache.path("type").asText().isEmpty()) {
            cache.put("type", "blobcache");
        }
        object(cache, "config").put("work_dir", cacheDir.toString());
    }

    private static ObjectNode object(ObjectNode parent, String name) {
        JsonNode child = parent.get(name);
        if (child instanceof ObjectNode object) {
            return object;
        }
        return parent.putObject(name);
    }
}
