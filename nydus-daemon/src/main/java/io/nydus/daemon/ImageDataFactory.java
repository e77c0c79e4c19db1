package io.nydus.daemon;

import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.storage.config.RuntimeSettings;
import java.io.IOException;

/** Opens the data side of an image from its configuration and bootstrap. */
@FunctionalInterface
public interface ImageDataFactory {

    /**
     * Opens the data side of {@code image}.
     *
     * @param settings the mount's settings that the API may change while it runs
     */
    ImageData open(DaemonConfig config, DecodedBootstrap image, RuntimeSettings.Scope settings)
            throws IOException;
}
