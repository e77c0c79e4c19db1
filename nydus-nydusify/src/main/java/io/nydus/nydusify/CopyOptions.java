package io.nydus.nydusify;

import io.nydus.registry.ImageReference;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The settings of copying an image between registry repositories, OCI layouts and layout
 * archives.
 *
 * @param source the image to copy; a tag, a digest or a layout name
 * @param target where to write the copy; a registry target must name a tag, which is
 *     written last
 * @param platforms the platforms whose manifests are copied out of a source index: one gives
 *     that manifest alone, several an index of just those entries. A single-manifest source
 *     must be for the first. Unused with {@code allPlatforms}
 * @param allPlatforms whether a source index is copied whole, with every manifest it lists
 * @param workDir where archives are unpacked and assembled during the copy
 */
public record CopyOptions(ImageLocation source, ImageLocation target,
        List<PlatformSpec> platforms, boolean allPlatforms, Path workDir) {

    public CopyOptions {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
        platforms = List.copyOf(platforms);
        if (platforms.isEmpty()) {
            throw new IllegalArgumentException("a copy needs at least one platform");
        }
        Objects.requireNonNull(workDir, "workDir");
        if (target.isRegistry() && target.reference().digest() != null) {
            throw new IllegalArgumentException("target " + target + " names a digest; give a"
                    + " tag to push the copied image to");
        }
    }

    /** Returns the options that copy the host platform's manifest, working in ./tmp. */
    public static CopyOptions defaults(ImageLocation source, ImageLocation target) {
        return new CopyOptions(source, target, List.of(PlatformSpec.host()), false,
                Path.of("tmp"));
    }

    /** Returns the defaults for two registry references. */
    public static CopyOptions defaults(ImageReference source, ImageReference target) {
        return defaults(ImageLocation.registry(source), ImageLocation.registry(target));
    }

    /** Returns the first platform, the one a single-manifest source must be for. */
    public PlatformSpec platform() {
        return platforms.getFirst();
    }

    public CopyOptions withPlatform(PlatformSpec value) {
        return withPlatforms(List.of(value));
    }

    public CopyOptions withPlatforms(List<PlatformSpec> values) {
        return new CopyOptions(source, target, values, allPlatforms, workDir);
    }

    public CopyOptions withAllPlatforms(boolean value) {
        return new CopyOptions(source, target, platforms, value, workDir);
    }

    public CopyOptions withWorkDir(Path value) {
        return new CopyOptions(source, target, platforms, allPlatforms, value);
    }
}
