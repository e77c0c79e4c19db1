package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The credentials of a Docker client config file ({@code ~/.docker/config.json}), looked up as
 * the Docker CLI does: the credential helper that {@code credHelpers} names for the registry,
 * else the one {@code credsStore} names for every registry, else the {@code auths} entry with
 * a base64 {@code auth} field, {@code username} and {@code password} fields or an
 * {@code identitytoken}. A registry for which the helper stores nothing falls back to its
 * {@code auths} entry.
 */
public final class DockerConfigCredentials implements CredentialProvider {

    private static final Logger LOG = LoggerFactory.getLogger(DockerConfigCredentials.class);
    private static final String DOCKER_HUB_KEY = "https://index.docker.io/v1/";

    /**
     * How long the result of a credential helper is reused. A command runs each helper once,
     * and a long-running snapshotter runs it again after this, so rotated credentials reach it.
     */
    private static final Duration HELPER_RESULT_LIFETIME = Duration.ofMinutes(5);

    private final Path file;
    private final Map<String, Credentials> byRegistry;
    private final Map<String, CredentialHelper> helperByRegistry;
    private final CredentialHelper store;
    private final Map<String, HelperResult> helperResults = new ConcurrentHashMap<>();

    private DockerConfigCredentials(Path file, Map<String, Credentials> byRegistry,
            Map<String, CredentialHelper> helperByRegistry, CredentialHelper store) {
        this.file = file;
        this.byRegistry = Map.copyOf(byRegistry);
        this.helperByRegistry = Map.copyOf(helperByRegistry);
        this.store = store;
    }

    /** The credentials a helper returned for a registry, and when. */
    private record HelperResult(Optional<Credentials> credentials, long nanoTime) {
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
        return load(file, System.getenv());
    }

    /**
     * Reads {@code file} like {@link #load(Path)}, looking credential helpers up on the
     * {@code PATH} of {@code environment}.
     *
     * @throws IOException naming the file and the entry if it cannot be read or parsed
     */
    public static DockerConfigCredentials load(Path file, Map<String, String> environment)
            throws IOException {
        byte[] json;
        try {
            json = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            LOG.debug("no Docker config file at {}", file);
            return new DockerConfigCredentials(file, Map.of(), Map.of(), null);
        }
        try {
            Map<String, JsonNode> fields = JsonFields.parse(json, file.toString()).unread();
            return new DockerConfigCredentials(file, parseAuths(fields.get("auths")),
                    parseHelpers(fields.get("credHelpers"), environment),
                    parseStore(fields.get("credsStore"), environment));
        } catch (IllegalArgumentException e) {
            throw new IOException("invalid Docker config file " + file + ": " + e.getMessage(),
                    e);
        }
    }

    private static Map<String, CredentialHelper> parseHelpers(JsonNode helpers,
            Map<String, String> environment) {
        Map<String, CredentialHelper> result = new HashMap<>();
        if (helpers == null || helpers.isNull()) {
            return result;
        }
        if (!helpers.isObject()) {
            throw new IllegalArgumentException("field 'credHelpers' must be an object");
        }
        for (Map.Entry<String, JsonNode> entry : helpers.properties()) {
            if (!entry.getValue().isTextual()) {
                throw new IllegalArgumentException("credHelpers entry '" + entry.getKey()
                        + "' must be a string");
            }
            result.put(normalizeKey(entry.getKey()),
                    CredentialHelper.of(entry.getValue().textValue(), environment));
        }
        return result;
    }

    private static CredentialHelper parseStore(JsonNode store, Map<String, String> environment) {
        if (store == null || store.isNull()) {
            return null;
        }
        if (!store.isTextual()) {
            throw new IllegalArgumentException("field 'credsStore' must be a string");
        }
        return store.textValue().isEmpty() ? null
                : CredentialHelper.of(store.textValue(), environment);
    }

    private static Map<String, Credentials> parseAuths(JsonNode root) {
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
        JsonNode identityToken = entry.get("identitytoken");
        if (identityToken != null && identityToken.isTextual()
                && !identityToken.textValue().isEmpty()) {
            return Optional.of(Credentials.identityToken(identityToken.textValue()));
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

    /**
     * {@inheritDoc}
     *
     * @throws UncheckedIOException naming the helper and the registry if a credential helper
     *     is missing, fails or times out
     */
    @Override
    public Optional<Credentials> credentialsFor(String registry) {
        CredentialHelper helper = helperByRegistry.getOrDefault(registry, store);
        if (helper != null) {
            Optional<Credentials> found = askHelper(helper, registry);
            if (found.isPresent()) {
                return found;
            }
        }
        return Optional.ofNullable(byRegistry.get(registry));
    }

    private Optional<Credentials> askHelper(CredentialHelper helper, String registry) {
        HelperResult cached = helperResults.get(registry);
        long now = System.nanoTime();
        if (cached != null && now - cached.nanoTime() < HELPER_RESULT_LIFETIME.toNanos()) {
            return cached.credentials();
        }
        Optional<Credentials> found;
        try {
            found = helper.get(serverAddress(registry));
        } catch (IOException e) {
            throw new UncheckedIOException(new IOException(e.getMessage() + " (credential"
                    + " helper named in " + file + ")", e));
        }
        LOG.debug("credential helper {} {} credentials for {}", helper,
                found.isPresent() ? "returned" : "has no", registry);
        helperResults.put(registry, new HelperResult(found, now));
        return found;
    }

    /** Returns the server address under which {@code docker login} stores a registry. */
    private static String serverAddress(String registry) {
        return registry.equals(ImageReference.DOCKER_HUB) ? DOCKER_HUB_KEY : registry;
    }

    @Override
    public String toString() {
        return "DockerConfigCredentials[" + file + ", registries=" + byRegistry.keySet()
                + ", helpers=" + helperByRegistry + ", store=" + store + "]";
    }
}
