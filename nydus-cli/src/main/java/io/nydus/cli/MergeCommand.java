package io.nydus.cli;

import io.nydus.builder.AtomicFiles;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.MergeResult;
import io.nydus.builder.PrefetchList;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** `nydus-image merge`: joins per-layer bootstraps into the bootstrap of the whole image. */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Merge the bootstraps of an image's layers (built with --whiteout-spec"
                + " none), bottom layer first, into one bootstrap, applying OCI whiteouts."
                + " Blobs are not read or changed.")
final class MergeCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Parameters(arity = "1..*", paramLabel = "LAYER_BOOTSTRAP",
            description = "Layer bootstraps, bottom layer first. A file name that starts with"
                    + " 64 hex digits and a '.' names the layer's blob id.")
    private List<Path> layers;

    @Option(names = {"--bootstrap", "-B"}, required = true, paramLabel = "FILE",
            description = "Where to write the merged bootstrap.")
    private Path bootstrap;

    @Option(names = {"--blob-dir", "-D"}, paramLabel = "DIR",
            description = "Directory of the layer blobs, named by blob id; merge checks that"
                    + " every blob of the result is there.")
    private Path blobDir;

    @Option(names = "--parent-bootstrap", paramLabel = "FILE",
            description = "Bootstrap of an image to put the layers on: its tree is the bottom"
                    + " and its blobs come first, with their ids kept.")
    private Path parentBootstrap;

    @Option(names = "--chunk-dict", paramLabel = "bootstrap=FILE",
            description = "Chunk dictionary the layers were built with (bootstrap=PATH, or a"
                    + " plain path). Its blobs keep their ids, and each layer may have one blob"
                    + " besides them, which takes the layer's digest. Give the same dictionary"
                    + " as the builds: a blob of another one counts as the layer's own, as in"
                    + " upstream's merge, and -D finds the mistake. Without it, no blob is"
                    + " taken as a dictionary blob.")
    private String chunkDict;

    @Option(names = "--blob-digests", split = ",", paramLabel = "DIGEST",
            description = "Layer digests (blob ids), one per layer bootstrap in the same order;"
                    + " they override the ids taken from the file names. For a ZRAN"
                    + " (targz-ref) layer the digest names its ref blob and the blob keeps the"
                    + " gzip layer's id.")
    private List<String> blobDigests;

    @Option(names = "--original-blob-ids", split = ",", paramLabel = "ID",
            description = "Blob ids, one per layer bootstrap, used where --blob-digests gives"
                    + " none; usually the layer digests.")
    private List<String> originalBlobIds;

    @Option(names = "--blob-sizes", split = ",", paramLabel = "BYTES",
            description = "Stored sizes of the layers' own blobs, one per layer bootstrap, in"
                    + " bytes; for a ZRAN layer the size of its ref blob.")
    private List<Long> blobSizes;

    @Option(names = "--blob-toc-digests", split = ",", paramLabel = "DIGEST",
            description = "SHA-256 digests of the layers' blob tables of contents, one per"
                    + " layer bootstrap.")
    private List<String> blobTocDigests;

    @Option(names = "--blob-toc-sizes", split = ",", paramLabel = "BYTES",
            description = "Sizes of the layers' blob tables of contents in bytes, one per"
                    + " layer bootstrap.")
    private List<Long> blobTocSizes;

    @Option(names = {"--prefetch-policy", "-P"}, defaultValue = "none", paramLabel = "POLICY",
            description = "fs reads prefetch paths (one absolute path per line) from standard"
                    + " input; none disables prefetch (default: ${DEFAULT-VALUE}).")
    private String prefetchPolicy;

    @Option(names = {"--output-json", "-J"}, paramLabel = "FILE",
            description = "Write a JSON summary (blob ids in table order) to this file.")
    private Path outputJson;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Cli.readOptions(spec, () -> {
            requireOnePerLayer("--blob-digests", blobDigests);
            requireOnePerLayer("--original-blob-ids", originalBlobIds);
            requireOnePerLayer("--blob-sizes", blobSizes);
            requireOnePerLayer("--blob-toc-digests", blobTocDigests);
            requireOnePerLayer("--blob-toc-sizes", blobTocSizes);
            requireNotNegative("--blob-sizes", blobSizes);
            return requireNotNegative("--blob-toc-sizes", blobTocSizes);
        });
        if (outputJson != null) {
            AtomicFiles.requireReplaceable(outputJson);
        }
        requireSeparateOutputs();
        ImageMerger merger = new ImageMerger().prefetch(readPrefetch()).blobDirectory(blobDir)
                .parentBootstrap(parentBootstrap)
                .chunkDict(CreateCommand.chunkDictBootstrap(chunkDict));
        if (blobDigests != null) {
            merger.blobDigests(blobDigests);
        }
        if (originalBlobIds != null) {
            merger.originalBlobIds(originalBlobIds);
        }
        if (blobSizes != null) {
            merger.blobSizes(blobSizes);
        }
        if (blobTocDigests != null || blobTocSizes != null) {
            merger.blobTocs(blobTocDigests == null ? List.of() : blobTocDigests,
                    blobTocSizes == null ? List.of() : blobTocSizes);
        }
        MergeResult result = merger.merge(layers, bootstrap);
        if (outputJson != null) {
            writeJson(result);
        }
        return 0;
    }

    /**
     * Rejects outputs that name an input bootstrap or each other, because renaming one output
     * onto such a file would replace an input or another output.
     */
    private void requireSeparateOutputs() throws IOException {
        List<Path> inputs = new ArrayList<>(layers);
        inputs.add(parentBootstrap);
        inputs.add(CreateCommand.chunkDictBootstrap(chunkDict));
        AtomicFiles.requireNotInput(bootstrap, inputs);
        if (outputJson != null) {
            AtomicFiles.requireNotInput(outputJson, inputs);
        }
        AtomicFiles.requireDistinctOutputs(bootstrap, outputJson);
    }

    /** Rejects a list of values per layer whose length differs from the layer count. */
    private void requireOnePerLayer(String option, List<?> values) {
        if (values != null && values.size() != layers.size()) {
            throw new IllegalArgumentException(option + " has " + values.size() + " values for "
                    + layers.size() + " layer bootstraps; give one per layer, in layer order");
        }
    }

    /** Rejects a negative size, which the blob table would store as a huge unsigned one. */
    private static List<Long> requireNotNegative(String option, List<Long> sizes) {
        if (sizes != null) {
            for (long size : sizes) {
                if (size < 0) {
                    throw new IllegalArgumentException(option + ": " + size + " is negative;"
                            + " give sizes in bytes");
                }
            }
        }
        return sizes;
    }

    private PrefetchList readPrefetch() throws IOException {
        return switch (prefetchPolicy) {
            case "none" -> PrefetchList.none();
            case "fs" -> PrefetchList.parse(System.in.readAllBytes());
            default -> throw new IllegalArgumentException("unknown --prefetch-policy '"
                    + prefetchPolicy + "', expected fs or none");
        };
    }

    private void writeJson(MergeResult result) throws IOException {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "6");
        root.put("bootstrap", result.bootstrapFile().toString());
        List<String> ids = new ArrayList<>();
        List<Map<String, Object>> details = new ArrayList<>();
        for (BlobInfo blob : result.bootstrap().blobs()) {
            ids.add(blob.blobId());
            details.add(JsonOutput.blob(blob));
        }
        root.put("blobs", ids);
        root.put("blob_details", details);
        root.put("dropped_blobs", result.droppedBlobIds());
        JsonOutput.write(outputJson, root);
    }
}
