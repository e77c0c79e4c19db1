package io.nydus.storage.config;

import io.nydus.registry.Credentials;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * Settings that a running daemon takes through its API ({@code PUT /api/v1/config?id=ID}), per
 * mount id, as upstream's nydusd keeps them: the registry credentials of a mount, which a
 * snapshotter replaces when they are about to expire, without a remount. Thread-safe.
 */
public final class RuntimeSettings {

    /** A setting's name in the API. */
    public enum Key {
        /** Base64 of {@code user:password}, replacing the backend's {@code auth}. */
        REGISTRY_AUTH("registry_auth");

        private final String apiName;

        Key(String apiName) {
            this.apiName = apiName;
        }

        public String apiName() {
            return apiName;
        }

        /** Returns the key that {@code name} names in the API. */
        public static Optional<Key> of(String name) {
            return Arrays.stream(values()).filter(key -> key.apiName.equals(name)).findFirst();
        }
    }

    /** The settings of one mount id, as a backend reads them at each request. */
    public record Scope(RuntimeSettings settings, String id) {
        public Scope {
            Objects.requireNonNull(settings, "settings");
            Objects.requireNonNull(id, "id");
        }

        /** Returns the registry credentials set for this id, if any. */
        public Optional<Credentials> registryCredentials() {
            return settings.get(id, Key.REGISTRY_AUTH)
                    .map(auth -> decodeAuth(auth, Key.REGISTRY_AUTH.apiName()));
        }
    }

    private final ConcurrentMap<String, String> values = new ConcurrentHashMap<>();

    /** Returns the view of the settings of mount {@code id}. */
    public Scope scope(String id) {
        return new Scope(this, id);
    }

    /**
     * Sets {@code key} of mount {@code id}; an empty value removes it.
     *
     * @throws IllegalArgumentException if the value is invalid for the key
     */
    public void set(String id, Key key, String value) {
        if (value.isEmpty()) {
            values.remove(name(id, key));
            return;
        }
        if (key == Key.REGISTRY_AUTH) {
            decodeAuth(value, key.apiName());
        }
        values.put(name(id, key), value);
    }

    /** Removes every setting of mount {@code id}. */
    public void clear(String id) {
        values.keySet().removeIf(name -> name.startsWith(id + ":"));
    }

    /** Returns {@code key} of mount {@code id}, if set. */
    public Optional<String> get(String id, Key key) {
        return Optional.ofNullable(values.get(name(id, key)));
    }

    /**
     * Returns the settings of mount {@code id} by key name, or, for a null id, every setting
     * by {@code ID:KEY}, both sorted.
     */
    public Map<String, String> list(String id) {
        Map<String, String> found = new TreeMap<>();
        String prefix = id == null ? "" : id + ":";
        values.forEach((name, value) -> {
            if (name.startsWith(prefix)) {
                found.put(name.substring(prefix.length()), value);
            }
        });
        return found;
    }

    private static String name(String id, Key key) {
        return id + ":" + key.apiName();
    }

    /**
     * Decodes base64 of {@code user:password}, the form of the registry backend's
     * {@code auth}.
     *
     * @param field names the value in errors, which never quote it
     * @throws IllegalArgumentException if the value is not base64 of {@code user:password}
     */
    public static Credentials decodeAuth(String base64, String field) {
        String decoded;
        try {
            decoded = new String(Base64.getDecoder().decode(base64.trim()),
                    StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + " is not valid base64");
        }
        int colon = decoded.indexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException(field + " does not decode to user:password");
        }
        return new Credentials(decoded.substring(0, colon), decoded.substring(colon + 1));
    }
}
