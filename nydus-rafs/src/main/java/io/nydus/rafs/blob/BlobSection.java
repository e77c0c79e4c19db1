package io.nydus.rafs.blob;

import io.nydus.rafs.Compressor;
import java.util.Optional;

/**
 * The location of one section of a data blob, as its ToC entry or its tar header describes it.
 *
 * @param name the section name, such as {@code blob.meta} or {@code image.boot}
 * @param offset where the stored bytes start in the blob
 * @param storedSize stored (possibly compressed) bytes
 * @param size bytes once decompressed; for {@code image.blob}, the blob's uncompressed size
 * @param compression how the stored bytes are compressed
 * @param sha256 hex SHA-256 of the uncompressed content from the ToC, empty without a ToC
 */
public record BlobSection(String name, long offset, long storedSize, long size,
        Compressor compression, Optional<String> sha256) {
}
