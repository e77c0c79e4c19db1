package io.nydus.nydusify;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.BlobUpload;
import io.nydus.registry.Digest;
import io.nydus.registry.ManifestContent;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The manifests and blobs of one image location: a registry repository or an OCI image
 * layout. Converter, copier and check read and write through this interface, so they work the
 * same on registries and local layouts. Closing a store opened for writing an archive writes
 * the archive if {@link #putImage} succeeded.
 */
public interface ImageStore extends AutoCloseable {

    /** Returns the location this store was opened for. */
    ImageLocation location();

    /**
     * Fetches the manifest or index of the location: its tag, digest or layout name.
     *
     * @throws IOException naming the location if it has no such image
     */
    ManifestContent manifest() throws IOException;

    /**
     * Fetches a manifest or index by digest, such as an entry of an index.
     *
     * @param description what the manifest is, for the message if it is missing
     */
    ManifestContent manifest(Digest digest, String description) throws IOException;

    /**
     * Opens a blob as a stream that checks its digest, and its size if {@code size} is not
     * -1, when it is read to the end.
     */
    InputStream blob(Digest digest, long size) throws IOException;

    /** Returns the size of a blob, or empty if the store does not have it. */
    OptionalLong blobSize(Digest digest) throws IOException;

    /** Returns whether the store has the blob. */
    default boolean hasBlob(Digest digest) throws IOException {
        return blobSize(digest).isPresent();
    }

    /** Stores a blob unless the store has it. */
    BlobPushResult pushBlob(Digest digest, long size, BlobSource data) throws IOException;

    /**
     * Opens an upload of a blob that is sent in parts while it is produced, or returns empty
     * if the store takes a blob only whole.
     */
    default Optional<BlobUpload> startUpload() throws IOException {
        return Optional.empty();
    }

    /** Returns the largest part of an upload from {@link #startUpload} that one request sends. */
    default long maxUploadPartBytes() {
        return Long.MAX_VALUE;
    }

    /**
     * Returns whether the store has no image under any tag, so that a blob pushed into it is
     * most likely new there. Only a store that can check this with one request returns true.
     */
    default boolean hasNoImage() throws IOException {
        return false;
    }

    /**
     * Stores a blob of {@code from} unless this store has it. A registry mounts it from a
     * repository of the same registry instead of uploading it.
     */
    default BlobPushResult copyBlob(ImageStore from, Digest digest, long size)
            throws IOException {
        return pushBlob(digest, size, () -> from.blob(digest, size));
    }

    /** Stores a manifest or index by its digest only, such as an entry of an index. */
    Digest putManifest(ManifestContent content) throws IOException;

    /**
     * Stores a manifest or index under the location's tag or layout name: the last step of a
     * conversion or copy.
     */
    Digest putImage(ManifestContent content) throws IOException;

    /**
     * Returns a short name for messages, such as {@code 127.0.0.1:5000/app:v1} or
     * {@code oci:/images/app:v1}.
     */
    default String describe() {
        return location().toString();
    }

    @Override
    void close() throws IOException;
}
