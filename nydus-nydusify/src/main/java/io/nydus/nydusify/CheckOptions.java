package io.nydus.nydusify;

import io.nydus.registry.ImageReference;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The settings of a check of a Nydus image against the OCI image it was converted from.
 *
 * @param source the OCI image (registry, layout or archive); an index is resolved to
 *     {@code platform}. Null checks the Nydus image on its own, without the tree comparison
 * @param target the Nydus image; an index is resolved to its Nydus manifest for
 *     {@code platform}
 * @param platform the platform taken from an index
 * @param workDir directory under which each run keeps the bootstrap, blobs and reference
 *     bootstrap until it ends
 * @param multiPlatform whether the target must be an index that lists an OCI manifest and a
 *     Nydus manifest for {@code platform}, as {@code convert --merge-platform} writes it
 */
public record CheckOptions(ImageLocation source, ImageLocation target, PlatformSpec platform,
        Path workDir, boolean multiPlatform) {

    public CheckOptions {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(platform, "platform");
        Objects.requireNonNull(workDir, "workDir");
    }

    /** Returns the options with the host platform and the work directory ./output. */
    public static CheckOptions defaults(ImageLocation source, ImageLocation target) {
        return new CheckOptions(source, target, PlatformSpec.host(), Path.of("output"), false);
    }

    /** Returns the defaults for two registry references. */
    public static CheckOptions defaults(ImageReference source, ImageReference target) {
        return defaults(ImageLocation.registry(source), ImageLocation.registry(target));
    }

    public CheckOptions withPlatform(PlatformSpec value) {
        return new CheckOptions(source, target, value, workDir, multiPlatform);
    }

    public CheckOptions withWorkDir(Path value) {
        return new CheckOptions(source, target, platform, value, multiPlatform);
    }

    public CheckOptions withMultiPlatform(boolean value) {
        return new CheckOptions(source, target, platform, workDir, value);
    }
}
