package io.nydus.builder;

import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import java.nio.file.Path;

/**
 * The outputs of a build.
 *
 * @param bootstrap the image metadata as written
 * @param bootstrapFile where the bootstrap was written
 * @param blob the new blob, or null when every chunk was found elsewhere and nothing was stored.
 *     A blob without chunks that only carries the inlined bootstrap is returned here but left
 *     out of the blob table
 * @param blobFile where the new blob was written, or null
 * @param blobFileSha256 the SHA-256 of the whole blob file in hex, or null if there is no blob
 *     file or {@link ImageBuilder#digestBlobFile} was not set. It differs from the blob id,
 *     which leaves out the chunk digest array
 * @param bytesRead file data bytes read from the source
 * @param chunksReused chunks found in this build, a parent or a dictionary instead of stored
 */
public record BuildResult(Bootstrap bootstrap, Path bootstrapFile, BlobInfo blob, Path blobFile,
        String blobFileSha256, long bytesRead, long chunksReused) {
}
