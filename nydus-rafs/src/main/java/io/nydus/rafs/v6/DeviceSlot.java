package io.nydus.rafs.v6;

/**
 * One 128-byte device table slot (`RafsV6Device`): slot i describes blob i, EROFS device i + 1.
 *
 * @param blobId the blob id as stored, without NUL padding
 * @param blocks blocks of the blob's uncompressed address space
 * @param mappedBlockAddress the blob's first block when the image is flattened into one device
 */
public record DeviceSlot(String blobId, long blocks, long mappedBlockAddress) {
}
