package io.nydus.storage.config;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Where fetched chunks are kept ({@code device.cache}).
 *
 * @param type the cache type
 * @param workDir the directory of the blob cache files, present exactly for {@link Type#FILE}
 */
public record CacheConfig(Type type, Optional<Path> workDir) {

    /** Cache types. */
    public enum Type {
        /** Chunks stay in a bounded memory cache only ({@code type} absent or empty). */
        NONE,
        /** Chunks are kept in {@code work_dir} ({@code blobcache} or {@code filecache}). */
        FILE
    }

    public CacheConfig {
        if (type == Type.FILE && workDir.isEmpty()) {
            throw new ConfigException("device.cache.config.work_dir is missing for a blob cache");
        }
        if (type == Type.NONE && workDir.isPresent()) {
            workDir = Optional.empty();
        }
    }

    public static CacheConfig none() {
        return new CacheConfig(Type.NONE, Optional.empty());
    }

    public static CacheConfig file(Path workDir) {
        return new CacheConfig(Type.FILE, Optional.of(workDir));
    }
}
