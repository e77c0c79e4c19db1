package io.nydus.nydusify;

import io.nydus.registry.RegistryException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * Finds the cause of a failure to decode a blob, such as a gzipped bootstrap layer, read from
 * a stream that checks the blob's digest at its end. A damaged byte usually breaks the
 * decompressor before the end is reached, with a message such as "Corrupt GZIP trailer" that
 * names neither the blob nor the damage.
 */
final class BlobDecodeFailure {

    private BlobDecodeFailure() {
    }

    /**
     * Returns the error to raise after decoding {@code blob} failed with {@code failure}. The
     * rest of the blob is read, so that its digest is checked: a mismatch, or a failure to
     * read, is returned with {@code failure} suppressed, as it names the blob and the cause.
     * Otherwise {@code failure} is returned with {@code blobName} in front of its message.
     *
     * @param blob the still open stream of the blob, positioned where decoding stopped
     * @param blobName the blob for the message, such as {@code bootstrap layer sha256:...}
     */
    static IOException explain(InputStream blob, IOException failure, String blobName) {
        if (failure instanceof RegistryException) {
            return failure;
        }
        try {
            blob.transferTo(OutputStream.nullOutputStream());
        } catch (IOException cause) {
            cause.addSuppressed(failure);
            return cause;
        }
        return new IOException(blobName + ": " + failure.getMessage(), failure);
    }
}
