package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The credentials of a Docker client config file ({@code ~/.docker/config.json}): its
 * {@code auths} entries with a base64 {@code auth} field or {@code username} and
 * {@code password} fields.
 */
public final class DockerConfigCredentials implements CredentialProvider {

    private static final Logger LOG = LoggerFactory.getLogger(DockerConfigCredentials.class);
    private static final String DOCKER_HUB_KEY = "https://index.docker.io/v1/";

    private final Path file;
    private final Map<String, Credentials> byRegistry;

    private DockerConfigCredentials(Path file, Map<String, Credentials> byRegistry) {
        this.file = file;
        this.byRegistry = byRegistry;
    }

    /**
     * Returns the default config file: {@code $DOCKER_CONFIG/config.json} if that variable is
     * set in {@code environment}, else {@code ~/.docker/config.json}.
     */
    public static Path defaultFile(Map<String, String> environment) {
        String dir = environment.get("DOCKER_CONFIG");
        if (dir != null && !dir.isEmpty()) {
            return Path.of(dir, "config.json");
        }
        return Path.of(System.getProperty("user.home"), ".docker", "config.json");
    }

    /**
     * Reads {@code file}; a missing file gives a provider without credentials.
     *
     * @throws IOException naming the file and the entry if it cannot be read or parsed
     */
    public static DockerConfigCredentials load(Path file) throws IOException {
        byte[] json;
        try {
            json = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            LOG.debug("no Docker config file at {}", file);
            return new DockerConfigCredentials(file, Map.of());
        }
        try {
            return new DockerConfigCredentials(file, parse(json, file));
        } catch (IllegalArgumentException e) {
            throw new IOException("invalid Docker config file " + file + ": " + e.getMessage(),
                    e);
        }
    }

    private static Map<String, Credentials> parse(byte[] json, Path file) {
        JsonNode root = JsonFields.parse(json, file.toString()).unread().get("auths");
        Map<String, Credentials> result = new HashMap<>();
        if (root == null || root.isNull()) {
            return result;
        }
        if (!root.isObject()) {
            throw new IllegalArgumentException("field 'auths' must be an object");
        }
        for (Map.Entry<String, JsonNode> entry : root.properties()) {
            String registry = normalizeKey(entry.getKey());
            entryCredentials(entry.getKey(), entry.getValue())
                    .ifPresent(credentials -> result.put(registry, credentials));
        }
        return result;
    }

    private static Optional<Credentials> entryCredentials(String key, JsonNode entry) {
        if (!entry.isObject()) {
            throw new IllegalArgumentException("auths entry '" + key + "' must be an object");
        }
        JsonNode auth = entry.get("auth");
        if (auth != null && auth.isTextual() && !auth.textValue().isEmpty()) {
            return Optional.of(decodeAuth(key, auth.textValue()));
        }
        JsonNode username = entry.get("username");
        JsonNode password = entry.get("password");
        if (username != null && username.isTextual() && !username.textValue().isEmpty()) {
            String secret = password != null && password.isTextual() ? password.textValue() : "";
            return Optional.of(new Credentials(username.textValue(), secret));
        }
        // TODO: identitytoken entries and credsStore/credHelpers programs are not read.
        return Optional.empty();
    }

    private static Credentials decodeAuth(String key, String auth) {
        String pair;
        try {
            pair = new String(Base64.getDecoder().decode(auth.strip()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            // The message of the decoder could quote the secret, so it is left out.
            throw new IllegalArgumentException("auths entry '" + key + "': field 'auth' is not"
                    + " valid base64");
        }
        int colon = pair.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("auths entry '" + key + "': field 'auth' must"
                    + " decode to user:password");
        }
        return new Credentials(pair.substring(0, colon), pair.substring(colon + 1));
    }

    /** Maps {@code https://host/v1/} and {@code host} keys alike to the registry host. */
    static String normalizeKey(String key) {
        if (key.equals(DOCKER_HUB_KEY) || key.equals("index.docker.io")
                || key.equals("registry-1.docker.io")) {
            return ImageReference.DOCKER_HUB;
        }
        String host = key;
        int scheme = host.indexOf("://");
        if (scheme >= 0) {
            host = host.substring(scheme + 3);
        }
        int slash = host.indexOf('/');
        if (slash >= 0) {
            host = host.substring(0, slash);
        }
        return host.equals("index.docker.io") ? ImageReference.DOCKER_HUB : host;
    }

    @Override
    public Optional<Credentials> credentialsFor(String registry) {
        return Optional.ofNullable(byRegistry.get(registry));
    }

    @Override
    public String toString() {
        return "DockerConfigCredentials[" + file + ", registries=" + byRegistry.keySet() + "]";
    }
}
