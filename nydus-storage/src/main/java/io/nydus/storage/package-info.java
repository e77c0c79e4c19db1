/**
 * Chunk storage of mounted images: {@link io.nydus.storage.ImageStorage} serves the chunks a
 * FUSE read needs from a blob cache, fetching missing ones from a
 * {@link io.nydus.storage.BlobBackend} (registry or local files) and checking each against its
 * digest. Subpackages: {@code config} parses nydusd's version 1 JSON configuration,
 * {@code backend} reads blobs, {@code cache} keeps fetched chunks in upstream's
 * {@code work_dir} layout.
 */
package io.nydus.storage;
