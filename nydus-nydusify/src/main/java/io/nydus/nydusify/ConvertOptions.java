package io.nydus.nydusify;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.registry.ImageReference;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The settings of a conversion: source, target, platform and layer build settings.
 *
 * @param source the OCI image to read; an index is resolved to {@code platform}
 * @param target where to push the Nydus image; must name a tag, which is pushed last
 * @param platform the platform taken from a source index
 * @param compressor chunk compression of the data blobs
 * @param digester chunk digest algorithm
 * @param chunkSize chunk size in bytes, a power of two from 4 KiB to 16 MiB
 * @param threads threads per layer build that hash and compress chunks
 * @param workDir directory under which each run keeps its layer files until it ends
 */
public record ConvertOptions(ImageReference source, ImageReference target,
        PlatformSpec platform, Compressor compressor, DigestAlgorithm digester, int chunkSize,
        int threads, Path workDir) {

    public ConvertOptions {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(platform, "platform");
        Objects.requireNonNull(workDir, "workDir");
        if (target.digest() != null) {
            throw new IllegalArgumentException("target " + target + " names a digest; give a"
                    + " tag to push the converted image to");
        }
        buildOptions(compressor, digester, chunkSize, threads);
    }

    /** Returns the options with zstd, BLAKE3, 1 MiB chunks, the host platform and ./tmp. */
    public static ConvertOptions defaults(ImageReference source, ImageReference target) {
        return new ConvertOptions(source, target, PlatformSpec.host(), Compressor.ZSTD,
                DigestAlgorithm.BLAKE3, Bootstrap.DEFAULT_CHUNK_SIZE, 4, Path.of("tmp"));
    }

    public ConvertOptions withPlatform(PlatformSpec value) {
        return new ConvertOptions(source, target, value, compressor, digester, chunkSize,
                threads, workDir);
    }

    public ConvertOptions withCompressor(Compressor value) {
        return new ConvertOptions(source, target, platform, value, digester, chunkSize,
                threads, workDir);
    }

    public ConvertOptions withChunkSize(int value) {
        return new ConvertOptions(source, target, platform, compressor, digester, value,
                threads, workDir);
    }

    public ConvertOptions withWorkDir(Path value) {
        return new ConvertOptions(source, target, platform, compressor, digester, chunkSize,
                threads, value);
    }

    /**
     * Returns the settings of each layer build: whiteouts stay files until the merge, and
     * every blob carries its layer's bootstrap.
     */
    BuildOptions buildOptions() {
        return buildOptions(compressor, digester, chunkSize, threads);
    }

    private static BuildOptions buildOptions(Compressor compressor, DigestAlgorithm digester,
            int chunkSize, int threads) {
        return new BuildOptions(Objects.requireNonNull(compressor, "compressor"),
                Objects.requireNonNull(digester, "digester"), chunkSize, WhiteoutSpec.NONE,
                threads, true, true);
    }
}
