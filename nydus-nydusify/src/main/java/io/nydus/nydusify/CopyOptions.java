package io.nydus.nydusify;

import io.nydus.registry.ImageReference;
import java.util.Objects;

/**
 * The settings of copying an image between repositories.
 *
 * @param source the image to copy; a tag or a digest
 * @param target where to push the copy; must name a tag, which is pushed last
 * @param platform the platform whose manifest is copied out of a source index, and which a
 *     single-manifest source must be for; unused with {@code allPlatforms}
 * @param allPlatforms whether a source index is copied whole, with every manifest it lists
 */
public record CopyOptions(ImageReference source, ImageReference target, PlatformSpec platform,
        boolean allPlatforms) {

    public CopyOptions {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(platform, "platform");
        if (target.digest() != null) {
            throw new IllegalArgumentException("target " + target + " names a digest; give a"
                    + " tag to push the copied image to");
        }
    }

    /** Returns the options that copy the host platform's manifest. */
    public static CopyOptions defaults(ImageReference source, ImageReference target) {
        return new CopyOptions(source, target, PlatformSpec.host(), false);
    }

    public CopyOptions withPlatform(PlatformSpec value) {
        return new CopyOptions(source, target, value, allPlatforms);
    }

    public CopyOptions withAllPlatforms(boolean value) {
        return new CopyOptions(source, target, platform, value);
    }
}
