package io.nydus.daemon;

import io.nydus.rafs.v6.DecodedBootstrap;
import java.io.IOException;

/** Opens the data side of an image from its configuration and bootstrap. */
@FunctionalInterface
public interface ImageDataFactory {

    ImageData open(DaemonConfig config, DecodedBootstrap image) throws IOException;
}
