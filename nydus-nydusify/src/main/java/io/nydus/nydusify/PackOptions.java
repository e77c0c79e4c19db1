package io.nydus.nydusify;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.v6.Bootstrap;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The settings of packing a local directory into a Nydus image (RAFS v6).
 *
 * @param sourceDir the directory to pack
 * @param outputDir the directory that receives the bootstrap and the blob
 * @param bootstrapName the file name of the bootstrap inside {@code outputDir}
 * @param compressor chunk compression of the blob
 * @param chunkSize chunk size in bytes, a power of two from 4 KiB to 16 MiB
 * @param chunkDict a bootstrap whose chunks are reused instead of stored again, or null
 * @param parentBootstrap a bootstrap that the new image is built on top of, or null
 */
public record PackOptions(Path sourceDir, Path outputDir, String bootstrapName,
        Compressor compressor, int chunkSize, Path chunkDict, Path parentBootstrap) {
    private static final String LOCAL_DICT_PREFIX = "bootstrap:local:";
    private static final String REGISTRY_DICT_PREFIX = "bootstrap:registry:";
    private static final String BUILDER_DICT_PREFIX = "bootstrap=";

    public PackOptions {
        Objects.requireNonNull(sourceDir, "sourceDir");
        Objects.requireNonNull(outputDir, "outputDir");
        Objects.requireNonNull(compressor, "compressor");
        checkBootstrapName(bootstrapName);
        buildOptions(compressor, chunkSize);
    }

    /** Returns the options with zstd and 1 MiB chunks, without a chunk dictionary or parent. */
    public static PackOptions defaults(Path sourceDir, Path outputDir, String bootstrapName) {
        return new PackOptions(sourceDir, outputDir, bootstrapName, Compressor.ZSTD,
                Bootstrap.DEFAULT_CHUNK_SIZE, null, null);
    }

    public PackOptions withCompressor(Compressor value) {
        return new PackOptions(sourceDir, outputDir, bootstrapName, value, chunkSize, chunkDict,
                parentBootstrap);
    }

    public PackOptions withChunkSize(int value) {
        return new PackOptions(sourceDir, outputDir, bootstrapName, compressor, value,
                chunkDict, parentBootstrap);
    }

    public PackOptions withChunkDict(Path value) {
        return new PackOptions(sourceDir, outputDir, bootstrapName, compressor, chunkSize,
                value, parentBootstrap);
    }

    public PackOptions withParentBootstrap(Path value) {
        return new PackOptions(sourceDir, outputDir, bootstrapName, compressor, chunkSize,
                chunkDict, value);
    }

    /**
     * Returns where the bootstrap is written: the name as given, or with ".meta" added when it
     * has no extension, as upstream's pack names it.
     */
    public Path bootstrapFile() {
        boolean hasExtension = bootstrapName.lastIndexOf('.') > 0;
        return outputDir.resolve(hasExtension ? bootstrapName : bootstrapName + ".meta");
    }

    /**
     * Parses a chunk dictionary argument: a bootstrap path, {@code bootstrap:local:PATH} as
     * nydusify writes it, or {@code bootstrap=PATH} as nydus-image writes it.
     *
     * @throws IllegalArgumentException naming {@code text} if it is empty or names a
     *     dictionary in a registry
     */
    public static Path parseChunkDict(String text) {
        String value = text.strip();
        if (value.startsWith(REGISTRY_DICT_PREFIX)) {
            throw new IllegalArgumentException("chunk dictionary '" + text + "' is in a"
                    + " registry, but pack reads a local bootstrap only; give"
                    + " bootstrap:local:PATH or a path");
        }
        if (value.startsWith(LOCAL_DICT_PREFIX)) {
            value = value.substring(LOCAL_DICT_PREFIX.length());
        } else if (value.startsWith(BUILDER_DICT_PREFIX)) {
            value = value.substring(BUILDER_DICT_PREFIX.length());
        }
        if (value.isEmpty()) {
            throw new IllegalArgumentException("chunk dictionary '" + text + "' names no"
                    + " bootstrap file");
        }
        return Path.of(value);
    }

    /**
     * Returns the build settings: OCI whiteouts as upstream's pack uses, BLAKE3 chunk
     * digests, owners kept, and a blob without an inlined bootstrap.
     */
    BuildOptions buildOptions() {
        return buildOptions(compressor, chunkSize);
    }

    private static BuildOptions buildOptions(Compressor compressor, int chunkSize) {
        return new BuildOptions(compressor, DigestAlgorithm.BLAKE3, chunkSize, WhiteoutSpec.OCI,
                4, false, true);
    }

    private static void checkBootstrapName(String name) {
        if (name == null || name.isEmpty() || name.equals(".") || name.equals("..")
                || name.contains("/") || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("invalid bootstrap name '" + name + "': give a"
                    + " file name without '/', which is created in the output directory");
        }
    }
}
