package io.nydus.nydusify;

import io.nydus.registry.Descriptor;
import io.nydus.registry.MediaTypes;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * Checks that a source layer of an OCI-ref conversion is a gzip tarball. Such a conversion
 * keeps each layer as the image's data blob and indexes its gzip stream, so it cannot take a
 * layer of another compression.
 */
final class GzipLayers {
    /** Layer types that name an uncompressed or zstd tarball. */
    private static final Set<String> OTHER_TYPES = Set.of(MediaTypes.OCI_LAYER_TAR,
            MediaTypes.OCI_LAYER_ZSTD, "application/vnd.docker.image.rootfs.diff.tar");
    private static final String FIX = "; --oci-ref keeps every source layer as a gzip data"
            + " blob, so give an image whose layers are gzip tarballs, or convert without"
            + " --oci-ref";

    private GzipLayers() {
    }

    /**
     * Rejects a layer whose media type names another compression, before it is downloaded.
     * Other types, including unknown ones, are checked by their content.
     */
    static void requireGzipType(Descriptor layer, String sourceName) throws IOException {
        if (OTHER_TYPES.contains(layer.mediaType())) {
            throw new IOException(sourceName + " has media type " + layer.mediaType()
                    + ", which is not gzip" + FIX);
        }
    }

    /** Rejects a downloaded layer that does not start with the gzip magic bytes. */
    static void requireGzipContent(Path file, Descriptor layer, String sourceName)
            throws IOException {
        byte[] magic;
        try (InputStream in = Files.newInputStream(file)) {
            magic = in.readNBytes(2);
        }
        if (magic.length < 2 || magic[0] != (byte) 0x1f || magic[1] != (byte) 0x8b) {
            throw new IOException(sourceName + " (" + layer.mediaType() + ") is not gzip data"
                    + FIX);
        }
    }
}
