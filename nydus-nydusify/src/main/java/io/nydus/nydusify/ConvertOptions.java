package io.nydus.nydusify;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.PrefetchList;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.registry.ImageReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The settings of a conversion: source, target, platforms, output format and layer build
 * settings.
 *
 * @param source the OCI image to read; an index is resolved to {@code platforms} unless
 *     {@code allPlatforms}
 * @param target where to write the Nydus image; a registry target must name a tag, which is
 *     pushed last
 * @param platforms the platforms taken from a source index, and those one of which a
 *     single-manifest source must be for; unused with {@code allPlatforms}
 * @param allPlatforms whether every platform of a source index is converted into a Nydus index
 * @param mergePlatform whether the target is an index of the source manifests and the Nydus
 *     manifests, the latter marked so that OCI clients skip them
 * @param dockerV2Format whether a Docker schema 2 source keeps Docker media types (manifest,
 *     manifest list, config and bootstrap layer); otherwise the output is OCI
 * @param chunkDict the chunk dictionary whose chunks are not stored again, or null
 * @param prefetchPatterns absolute paths, one per line, whose data is fetched first
 *     ({@code "/"} for everything); relative lines and lines below an earlier path are
 *     dropped with a warning
 * @param compressor chunk compression of the data blobs
 * @param digester chunk digest algorithm
 * @param chunkSize chunk size in bytes, a power of two from 4 KiB to 16 MiB
 * @param threads threads per layer build that hash and compress chunks
 * @param workDir directory under which each run keeps its layer files until it ends
 * @param buildCache the build cache that layers are taken from and recorded in, or null
 * @param referrer whether each Nydus manifest names its source manifest as its
 *     {@code subject}, so that registries list it among the source's referrers
 */
public record ConvertOptions(ImageLocation source, ImageLocation target,
        List<PlatformSpec> platforms, boolean allPlatforms, boolean mergePlatform,
        boolean dockerV2Format, ChunkDictSpec chunkDict, String prefetchPatterns,
        Compressor compressor, DigestAlgorithm digester, int chunkSize, int threads,
        Path workDir, BuildCacheSpec buildCache, boolean referrer, boolean ociRef) {

    /** The prefetch patterns when none are given: everything, as upstream's default. */
    public static final String PREFETCH_ALL = "/";

    public ConvertOptions {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
        platforms = List.copyOf(platforms);
        if (platforms.isEmpty()) {
            throw new IllegalArgumentException("give at least one platform");
        }
        Objects.requireNonNull(workDir, "workDir");
        Objects.requireNonNull(prefetchPatterns, "prefetchPatterns");
        // Each layer build and the merge parse the patterns again. Dropping the skipped lines
        // here logs their warnings once per conversion instead of once per parse.
        PrefetchList valid = PrefetchList.parse(prefetchPatterns.getBytes(StandardCharsets.UTF_8));
        prefetchPatterns = new String(valid.text(), StandardCharsets.UTF_8);
        if (target.isRegistry() && target.reference().digest() != null) {
            throw new IllegalArgumentException("target " + target + " names a digest; give a"
                    + " tag to push the converted image to");
        }
        buildOptions(compressor, digester, chunkSize, threads);
        if (ociRef) {
            requireOciRefCombinable(chunkDict != null, buildCache != null, dockerV2Format);
        }
    }

    /** Rejects each option that an OCI-ref conversion cannot honour, naming it. */
    private static void requireOciRefCombinable(boolean chunkDict, boolean buildCache,
            boolean dockerV2Format) {
        String dataBlobs = ": an OCI-ref image keeps the source layers as its data blobs and"
                + " builds none; leave the option out";
        if (chunkDict) {
            throw new IllegalArgumentException("--oci-ref cannot be combined with --chunk-dict"
                    + dataBlobs);
        }
        if (buildCache) {
            throw new IllegalArgumentException("--oci-ref cannot be combined with --build-cache"
                    + " or --build-cache-tag" + dataBlobs);
        }
        if (dockerV2Format) {
            throw new IllegalArgumentException("--oci-ref cannot be combined with"
                    + " --docker-v2-format: an OCI-ref image has OCI media types");
        }
    }

    /**
     * Returns the options with zstd, BLAKE3, 1 MiB chunks, the host platform, prefetch of
     * everything and ./tmp.
     */
    public static ConvertOptions defaults(ImageLocation source, ImageLocation target) {
        return new ConvertOptions(source, target, List.of(PlatformSpec.host()), false, false,
                false,
                null, PREFETCH_ALL, Compressor.ZSTD, DigestAlgorithm.BLAKE3,
                Bootstrap.DEFAULT_CHUNK_SIZE, 4, Path.of("tmp"), null, false, false);
    }

    /** Returns the defaults for two registry references. */
    public static ConvertOptions defaults(ImageReference source, ImageReference target) {
        return defaults(ImageLocation.registry(source), ImageLocation.registry(target));
    }

    /** Returns the first requested platform, the one a chunk dictionary index is read for. */
    public PlatformSpec platform() {
        return platforms.getFirst();
    }

    public ConvertOptions withPlatform(PlatformSpec value) {
        return withPlatforms(List.of(value));
    }

    public ConvertOptions withPlatforms(List<PlatformSpec> value) {
        return new ConvertOptions(source, target, value, allPlatforms, mergePlatform,
                dockerV2Format, chunkDict, prefetchPatterns, compressor, digester, chunkSize,
                threads, workDir, buildCache, referrer, ociRef);
    }

    public ConvertOptions withAllPlatforms(boolean value) {
        return new ConvertOptions(source, target, platforms, value, mergePlatform,
                dockerV2Format, chunkDict, prefetchPatterns, compressor, digester, chunkSize,
                threads, workDir, buildCache, referrer, ociRef);
    }

    public ConvertOptions withMergePlatform(boolean value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, value,
                dockerV2Format, chunkDict, prefetchPatterns, compressor, digester, chunkSize,
                threads, workDir, buildCache, referrer, ociRef);
    }

    public ConvertOptions withDockerV2Format(boolean value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                value, chunkDict, prefetchPatterns, compressor, digester, chunkSize, threads,
                workDir, buildCache, referrer, ociRef);
    }

    public ConvertOptions withChunkDict(ChunkDictSpec value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                dockerV2Format, value, prefetchPatterns, compressor, digester, chunkSize,
                threads, workDir, buildCache, referrer, ociRef);
    }

    /** Sets the prefetch patterns: absolute paths, one per line. */
    public ConvertOptions withPrefetchPatterns(String value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                dockerV2Format, chunkDict, value, compressor, digester, chunkSize, threads,
                workDir, buildCache, referrer, ociRef);
    }

    public ConvertOptions withCompressor(Compressor value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                dockerV2Format, chunkDict, prefetchPatterns, value, digester, chunkSize,
                threads, workDir, buildCache, referrer, ociRef);
    }

    public ConvertOptions withChunkSize(int value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                dockerV2Format, chunkDict, prefetchPatterns, compressor, digester, value,
                threads, workDir, buildCache, referrer, ociRef);
    }

    public ConvertOptions withWorkDir(Path value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                dockerV2Format, chunkDict, prefetchPatterns, compressor, digester, chunkSize,
                threads, value, buildCache, referrer, ociRef);
    }

    public ConvertOptions withBuildCache(BuildCacheSpec value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                dockerV2Format, chunkDict, prefetchPatterns, compressor, digester, chunkSize,
                threads, workDir, value, referrer, ociRef);
    }

    public ConvertOptions withReferrer(boolean value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                dockerV2Format, chunkDict, prefetchPatterns, compressor, digester, chunkSize,
                threads, workDir, buildCache, value, ociRef);
    }

    /**
     * Returns the options with OCI-ref conversion on or off. An OCI-ref image keeps each
     * source layer as its data blob and pushes a ZRAN ref blob per layer in its place.
     */
    public ConvertOptions withOciRef(boolean value) {
        return new ConvertOptions(source, target, platforms, allPlatforms, mergePlatform,
                dockerV2Format, chunkDict, prefetchPatterns, compressor, digester, chunkSize,
                threads, workDir, buildCache, referrer, value);
    }

    /** Returns the prefetch patterns as the builder reads them. */
    PrefetchList prefetchList() {
        return PrefetchList.parse(prefetchPatterns.getBytes(StandardCharsets.UTF_8));
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
