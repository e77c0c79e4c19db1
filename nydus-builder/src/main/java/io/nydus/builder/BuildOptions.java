package io.nydus.builder;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.v6.Bootstrap;

/**
 * Settings of one image build.
 *
 * @param compressor chunk compression
 * @param digester chunk digest algorithm
 * @param chunkSize chunk size in bytes, a power of two from 4 KiB to 16 MiB
 * @param whiteoutSpec how the source marks deletions
 * @param threads threads that hash and compress chunks; output does not depend on it
 * @param inlineBootstrap whether the blob also carries the bootstrap (`--blob-inline-meta`)
 * @param explicitUidGid whether inodes keep their owners (upstream's default)
 */
public record BuildOptions(Compressor compressor, DigestAlgorithm digester, int chunkSize,
        WhiteoutSpec whiteoutSpec, int threads, boolean inlineBootstrap,
        boolean explicitUidGid) {

    public BuildOptions {
        Bootstrap.checkChunkSize(chunkSize);
        if (compressor == Compressor.GZIP) {
            throw new IllegalArgumentException("gzip is not a chunk compressor for new images;"
                    + " use zstd, lz4_block or none");
        }
        if (threads < 1 || threads > 1024) {
            throw new IllegalArgumentException("threads " + threads + " is outside 1..1024");
        }
    }

    public static BuildOptions defaults() {
        return new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3,
                Bootstrap.DEFAULT_CHUNK_SIZE, WhiteoutSpec.OCI, 4, false, true);
    }

    public BuildOptions withThreads(int n) {
        return new BuildOptions(compressor, digester, chunkSize, whiteoutSpec, n,
                inlineBootstrap, explicitUidGid);
    }
}
