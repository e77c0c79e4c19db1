package io.nydus.nydusify;

import io.nydus.registry.ImageReference;
import java.util.Objects;

/**
 * The build cache of a conversion: an image in a registry that maps source layers, by chain
 * ID, to the Nydus blob and layer bootstrap built from them before.
 *
 * @param reference the cache image; it must name a tag, which each conversion moves
 * @param version the cache version; a cache image of another version is ignored
 * @param maxRecords records kept in the cache image, from 1 to {@link #MAX_RECORDS}
 */
public record BuildCacheSpec(ImageReference reference, String version, int maxRecords) {

    /** The version written and accepted when none is given, as upstream's nydusify. */
    public static final String DEFAULT_VERSION = "v1";

    /** The maximum and default number of records, as upstream's nydusify has them. */
    public static final int MAX_RECORDS = 200;

    public BuildCacheSpec {
        Objects.requireNonNull(reference, "reference");
        Objects.requireNonNull(version, "version");
        if (reference.digest() != null) {
            throw new IllegalArgumentException("build cache " + reference + " names a digest;"
                    + " give a tag, which each conversion moves to the new cache image");
        }
        if (version.isBlank()) {
            throw new IllegalArgumentException("the build cache version of " + reference
                    + " is empty");
        }
        if (maxRecords < 1 || maxRecords > MAX_RECORDS) {
            throw new IllegalArgumentException("build cache max records " + maxRecords
                    + " is out of range: give 1 to " + MAX_RECORDS);
        }
    }

    /**
     * Checks that writing the cache image moves the tag of neither the source nor the target
     * image, because the cache image would replace that image.
     *
     * @throws IllegalArgumentException naming both references if the cache reference is the
     *     tag of {@code source} or {@code target}
     */
    public void checkDistinctFrom(ImageLocation source, ImageLocation target) {
        checkDistinctFrom("target", target);
        checkDistinctFrom("source", source);
    }

    private void checkDistinctFrom(String role, ImageLocation location) {
        if (!location.isRegistry()) {
            return;
        }
        ImageReference image = location.reference();
        if (image.tag() != null && image.tag().equals(reference.tag())
                && image.toRepository().equals(reference.toRepository())) {
            throw new IllegalArgumentException("build cache " + reference + " is the " + role
                    + " image " + image + ", which the cache image would replace; give the"
                    + " build cache another tag or repository");
        }
    }

    /** Returns the spec with the default version and maximum records. */
    public static BuildCacheSpec of(ImageReference reference) {
        return new BuildCacheSpec(reference, DEFAULT_VERSION, MAX_RECORDS);
    }
}
