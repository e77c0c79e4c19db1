package io.nydus.rafs.v6;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import java.util.HexFormat;

/**
 * One blob as a bootstrap's blob table and device table describe it.
 *
 * @param blobId the blob's id, 64 lowercase hex characters (the sha256 of the blob)
 * @param chunkSize the image's chunk size
 * @param chunkCount chunks in the blob's CI table
 * @param compressor how chunks are compressed
 * @param digester how chunk digests are computed
 * @param features {@link BlobFeatures} bits
 * @param compressedSize stored size of the blob (see the format notes on what it counts)
 * @param uncompressedSize size of the blob's uncompressed address space, a 4 KiB multiple
 * @param tocSize ToC bytes including its tar header, 0 when unknown
 * @param ciCompressor compression of the CI table
 * @param ciOffset offset of the stored CI table in the blob
 * @param ciCompressedSize stored CI bytes, without the 4096-byte header
 * @param ciUncompressedSize CI bytes once decompressed
 * @param tocDigest sha256 hex of the ToC and its header, or 64 zeros
 * @param metaDigest sha256 hex of a separate meta blob, or 64 zeros
 * @param metaSize size of a separate meta blob, or 0
 * @param mappedBlockAddress block address of this blob in a flattened block device
 */
public record BlobInfo(String blobId, int chunkSize, int chunkCount, Compressor compressor,
        DigestAlgorithm digester, int features, long compressedSize, long uncompressedSize,
        int tocSize, Compressor ciCompressor, long ciOffset, long ciCompressedSize,
        long ciUncompressedSize, String tocDigest, String metaDigest, long metaSize,
        long mappedBlockAddress) {

    public static final String ZERO_DIGEST = "0".repeat(64);

    public BlobInfo {
        if (blobId == null || blobId.isEmpty() || blobId.length() > 64) {
            throw new IllegalArgumentException("blob id '" + blobId
                    + "' must have 1 to 64 characters");
        }
        if (chunkCount < 0 || chunkCount >= (1 << 24)) {
            throw new IllegalArgumentException("blob " + blobId + ": chunk count " + chunkCount
                    + " is outside 0..2^24-1");
        }
        if (uncompressedSize < 0 || uncompressedSize % 4096 != 0) {
            throw new IllegalArgumentException("blob " + blobId + ": uncompressed size "
                    + uncompressedSize + " is not a multiple of 4096");
        }
        checkHex(blobId, "ToC digest", tocDigest);
        checkHex(blobId, "meta digest", metaDigest);
    }

    private static void checkHex(String blobId, String field, String hex) {
        if (hex == null || hex.length() != 64 || !hex.chars().allMatch(HexFormat::isHexDigit)) {
            throw new IllegalArgumentException("blob " + blobId + ": " + field + " '" + hex
                    + "' is not 64 hex digits");
        }
    }

    public boolean has(int feature) {
        return (features & feature) != 0;
    }

    /** Returns a copy with another id, as merge does when it learns the layer digest. */
    public BlobInfo withBlobId(String newId) {
        return new BlobInfo(newId, chunkSize, chunkCount, compressor, digester, features,
                compressedSize, uncompressedSize, tocSize, ciCompressor, ciOffset,
                ciCompressedSize, ciUncompressedSize, tocDigest, metaDigest, metaSize,
                mappedBlockAddress);
    }

    public BlobInfo withFeatures(int newFeatures) {
        return new BlobInfo(blobId, chunkSize, chunkCount, compressor, digester, newFeatures,
                compressedSize, uncompressedSize, tocSize, ciCompressor, ciOffset,
                ciCompressedSize, ciUncompressedSize, tocDigest, metaDigest, metaSize,
                mappedBlockAddress);
    }

    public BlobInfo withCompressedSize(long size) {
        return new BlobInfo(blobId, chunkSize, chunkCount, compressor, digester, features,
                size, uncompressedSize, tocSize, ciCompressor, ciOffset, ciCompressedSize,
                ciUncompressedSize, tocDigest, metaDigest, metaSize, mappedBlockAddress);
    }

    /** Returns this blob with the digest and size of its table of contents replaced. */
    public BlobInfo withToc(String digest, int size) {
        return new BlobInfo(blobId, chunkSize, chunkCount, compressor, digester, features,
                compressedSize, uncompressedSize, size, ciCompressor, ciOffset,
                ciCompressedSize, ciUncompressedSize, digest, metaDigest, metaSize,
                mappedBlockAddress);
    }

    public BlobInfo withMappedBlockAddress(long address) {
        return new BlobInfo(blobId, chunkSize, chunkCount, compressor, digester, features,
                compressedSize, uncompressedSize, tocSize, ciCompressor, ciOffset,
                ciCompressedSize, ciUncompressedSize, tocDigest, metaDigest, metaSize, address);
    }
}
