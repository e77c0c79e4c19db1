package io.nydus.registry;

import java.net.URI;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The HTTPS origins that registries reached over plain HTTP redirected themselves to, such as a
 * registry behind a proxy that sends every plain HTTP request to HTTPS. Requests to such a
 * registry start on HTTPS for the life of the client, which saves each of them a redirect.
 * Entries are keyed by the registry as references name it, host and port.
 */
public final class SchemeUpgrades {

    private final Map<String, URI> origins = new ConcurrentHashMap<>();

    SchemeUpgrades() {
    }

    /**
     * Returns whether a redirect from {@code from} to {@code to} only upgrades the request to
     * HTTPS: plain HTTP to HTTPS on the same host, with the same path and query. The port may
     * change, as from 80 to 443.
     */
    public static boolean isUpgrade(URI from, URI to) {
        return "http".equalsIgnoreCase(from.getScheme())
                && "https".equalsIgnoreCase(to.getScheme())
                && from.getHost() != null && from.getHost().equalsIgnoreCase(to.getHost())
                && Objects.equals(from.getRawPath(), to.getRawPath())
                && Objects.equals(from.getRawQuery(), to.getRawQuery());
    }

    /** Returns {@code https://host:port} that {@code registry} upgraded to, if it did. */
    Optional<URI> origin(String registry) {
        return Optional.ofNullable(origins.get(registry));
    }

    /**
     * Records that {@code registry} redirected to {@code target} over HTTPS.
     *
     * @return whether this is a new origin for the registry
     */
    boolean remember(String registry, URI target) {
        URI origin = URI.create("https://" + HttpTransport.authority(target));
        return !origin.equals(origins.put(registry, origin));
    }

    /** Drops the upgrade of {@code registry} unless another thread already replaced it. */
    void forget(String registry, URI origin) {
        origins.remove(registry, origin);
    }
}
