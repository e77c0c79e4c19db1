package io.nydus.registry;

/** The outcome of pushing or mounting a blob. */
public enum BlobPushResult {
    /** The repository already had the blob, so nothing was sent. */
    EXISTED,
    /** The registry linked the blob from another repository without an upload. */
    MOUNTED,
    /** The blob was uploaded. */
    UPLOADED
}
