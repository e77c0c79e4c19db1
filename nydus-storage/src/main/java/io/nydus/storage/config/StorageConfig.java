package io.nydus.storage.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The storage part of a nydusd configuration (version 1 JSON): the blob backend, the cache,
 * read amplification, digest checks of cached chunks and prefetch.
 *
 * @param backend where blobs are read from
 * @param cache where fetched chunks are kept
 * @param digestValidate whether chunks read from the cache are checked against their digest
 *     again (chunks fetched from the backend are always checked)
 * @param amplifyIo the most bytes one on-demand backend request fetches, 0 for the requested
 *     chunk only
 * @param prefetch background fetching
 */
public record StorageConfig(BackendConfig backend, CacheConfig cache, boolean digestValidate,
        int amplifyIo, PrefetchConfig prefetch) {

    /** The environment variable whose value replaces the registry's {@code auth}. */
    public static final String PULL_AUTH_VARIABLE = "IMAGE_PULL_AUTH";
    public static final int DEFAULT_AMPLIFY_IO = 1 << 20;
    /** Smaller non-zero amplification sizes are raised to this, as in upstream nydusd. */
    public static final int MIN_AMPLIFY_IO = 128 << 10;
    public static final int MAX_AMPLIFY_IO = 256 << 20;

    public StorageConfig {
        if (backend == null) {
            throw new ConfigException("device.backend is missing");
        }
        if (amplifyIo < 0 || amplifyIo > MAX_AMPLIFY_IO) {
            throw new ConfigException("amplify_io " + amplifyIo + " is outside 0.."
                    + MAX_AMPLIFY_IO);
        }
        if (amplifyIo > 0) {
            amplifyIo = Math.max(amplifyIo, MIN_AMPLIFY_IO);
        }
    }

    /**
     * Parses a version 1 JSON configuration, taking {@value #PULL_AUTH_VARIABLE} from
     * {@code environment}.
     *
     * @throws ConfigException naming the key and value that are invalid
     */
    public static StorageConfig parse(String json, Map<String, String> environment) {
        return ConfigParser.parse(json, environment);
    }

    /**
     * Reads and parses a version 1 JSON configuration file.
     *
     * @throws IOException if the file cannot be read
     * @throws ConfigException naming the file, key and value that are invalid
     */
    public static StorageConfig read(Path file, Map<String, String> environment)
            throws IOException {
        String json = Files.readString(file);
        try {
            return parse(json, environment);
        } catch (ConfigException e) {
            throw new ConfigException(file + ": " + e.getMessage(), e);
        }
    }

    /** Returns a copy with another cache. */
    public StorageConfig withCache(CacheConfig newCache) {
        return new StorageConfig(backend, newCache, digestValidate, amplifyIo, prefetch);
    }

    /** Returns a copy with another amplification size. */
    public StorageConfig withAmplifyIo(int bytes) {
        return new StorageConfig(backend, cache, digestValidate, bytes, prefetch);
    }

    /** Returns a copy with other prefetch settings. */
    public StorageConfig withPrefetch(PrefetchConfig newPrefetch) {
        return new StorageConfig(backend, cache, digestValidate, amplifyIo, newPrefetch);
    }
}
