package io.nydus.nydusify;

import io.nydus.registry.ImageReference;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The settings of copying an image between registry repositories, OCI layouts and layout
 * archives.
 *
 * @param source the image to copy; a tag, a digest or a layout name
 * @param target where to write the copy; a registry target must name a tag, which is
 *     written last
 * @param platform the platform whose manifest is copied out of a source index, and which a
 *     single-manifest source must be for; unused with {@code allPlatforms}
 * @param allPlatforms whether a source index is copied whole, with every manifest it lists
 * @param workDir where archives are unpacked and assembled during the copy
 */
public record CopyOptions(ImageLocation source, ImageLocation target, PlatformSpec platform,
        boolean allPlatforms, Path workDir) {

    public CopyOptions {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(platform, "platform");
        Objects.requireNonNull(workDir, "workDir");
        if (target.isRegistry() && target.reference().digest() != null) {
            throw new IllegalArgumentException("target " + target + " names a digest; give a"
                    + " tag to push the copied image to");
        }
    }

    /** Returns the options that copy the host platform's manifest, working in ./tmp. */
    public static CopyOptions defaults(ImageLocation source, ImageLocation target) {
        return new CopyOptions(source, target, PlatformSpec.host(), false, Path.of("tmp"));
    }

    /** Returns the defaults for two registry references. */
    public static CopyOptions defaults(ImageReference source, ImageReference target) {
        return defaults(ImageLocation.registry(source), ImageLocation.registry(target));
    }

    public CopyOptions withPlatform(PlatformSpec value) {
        return new CopyOptions(source, target, value, allPlatforms, workDir);
    }

    public CopyOptions withAllPlatforms(boolean value) {
        return new CopyOptions(source, target, platform, value, workDir);
    }

    public CopyOptions withWorkDir(Path value) {
        return new CopyOptions(source, target, platform, allPlatforms, value);
    }
}
