package io.nydus.nydusify;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The settings of a conversion from a Nydus image back to an OCI image.
 *
 * @param source the Nydus image to read; an index is resolved to {@code platforms} unless
 *     {@code allPlatforms}
 * @param target where to write the OCI image; a registry target must name a tag, which is
 *     pushed last
 * @param platforms the platforms taken from a source index, and those one of which a
 *     single-manifest source must be for; unused with {@code allPlatforms}
 * @param allPlatforms whether every Nydus manifest of a source index is converted
 * @param workDir directory under which each run keeps its layer files until it ends
 */
public record ReverseOptions(ImageLocation source, ImageLocation target,
        List<PlatformSpec> platforms, boolean allPlatforms, Path workDir) {

    public ReverseOptions {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(workDir, "workDir");
        platforms = List.copyOf(platforms);
        if (platforms.isEmpty()) {
            throw new IllegalArgumentException("give at least one platform");
        }
        if (target.isRegistry() && target.reference().digest() != null) {
            throw new IllegalArgumentException("target " + target + " names a digest; give a"
                    + " tag to push the OCI image to");
        }
    }

    /** Returns the options with the host platform and ./tmp as work directory. */
    public static ReverseOptions defaults(ImageLocation source, ImageLocation target) {
        return new ReverseOptions(source, target, List.of(PlatformSpec.host()), false,
                Path.of("tmp"));
    }

    public ReverseOptions withPlatforms(List<PlatformSpec> value) {
        return new ReverseOptions(source, target, value, allPlatforms, workDir);
    }

    public ReverseOptions withAllPlatforms(boolean value) {
        return new ReverseOptions(source, target, platforms, value, workDir);
    }

    public ReverseOptions withWorkDir(Path value) {
        return new ReverseOptions(source, target, platforms, allPlatforms, value);
    }
}
