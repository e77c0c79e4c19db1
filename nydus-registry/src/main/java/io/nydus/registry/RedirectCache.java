package io.nydus.registry;

import java.net.URI;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The storage URLs that a registry redirected blob reads to, so that further Range reads of
 * the same blob go there directly, as upstream nydusd does. A registry backed by S3 or a CDN
 * responds to every blob GET with such a redirect, which would otherwise cost each read a
 * second round trip. The URLs may carry a signature, so they are never logged.
 */
final class RedirectCache {

    /** Bounds the memory of a client that reads very many blobs. */
    private static final int MAX_ENTRIES = 4096;

    private final Map<String, URI> locations = new ConcurrentHashMap<>();

    /** Returns the key of a request: its registry and location, such as a blob path. */
    static String key(RequestTarget target, HttpCall call) {
        return target.registry() + " " + call.location();
    }

    Optional<URI> get(String key) {
        return Optional.ofNullable(locations.get(key));
    }

    void put(String key, URI location) {
        if (locations.size() >= MAX_ENTRIES) {
            // Entries only save a round trip each, so dropping them all is cheap and simple.
            locations.clear();
        }
        locations.put(key, location);
    }

    void clear() {
        locations.clear();
    }

    /** Drops {@code location} unless another thread already replaced it. */
    void remove(String key, URI location) {
        locations.remove(key, location);
    }
}
