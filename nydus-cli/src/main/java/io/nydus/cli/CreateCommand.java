package io.nydus.cli;

import io.nydus.builder.AtomicFiles;
import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.PrefetchList;
import io.nydus.builder.SourceType;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** `nydus-image create`: builds a bootstrap and a data blob from a directory or a tarball. */
@Command(name = "create", mixinStandardHelpOptions = true,
        description = "Build a RAFS v6 image (bootstrap and data blob) from a directory or an OCI"
                + " layer tarball.")
final class CreateCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Parameters(index = "0", paramLabel = "SOURCE",
            description = "Directory or tarball to build from; '-' reads a tarball from stdin.")
    private String source;

    @Option(names = {"--bootstrap", "-B"}, required = true, paramLabel = "FILE",
            description = "Where to write the bootstrap (image metadata).")
    private Path bootstrap;

    @ArgGroup(exclusive = true, multiplicity = "1")
    private BlobOutput blobOutput;

    static final class BlobOutput {
        @Option(names = {"--blob-dir", "-D"}, paramLabel = "DIR",
                description = "Directory for the data blob, which is named by its blob id.")
        Path blobDir;

        @Option(names = {"--blob", "-b"}, paramLabel = "FILE",
                description = "File to write the data blob to.")
        Path blob;
    }

    @Option(names = {"--type", "-t"}, defaultValue = "dir-rafs", paramLabel = "TYPE",
            description = "Source type: dir-rafs, tar-rafs, targz-rafs or targz-ref (default:"
                    + " ${DEFAULT-VALUE}). Tarballs may be plain, gzip or zstd for tar-rafs and"
                    + " targz-rafs. targz-ref reads a gzip tarball file, which stays the data"
                    + " blob (named by its sha256), and writes only a ref blob of ZRAN"
                    + " contexts; chunks use sha256 and the blob's compressor is gzip.")
    private String type;

    @Option(names = "--fs-version", defaultValue = "6", paramLabel = "VERSION",
            description = "RAFS version; only 6 is supported (default: ${DEFAULT-VALUE}).")
    private int fsVersion;

    @Option(names = {"--compressor", "-c"}, defaultValue = "zstd", paramLabel = "ALGO",
            description = "Chunk compression: zstd, lz4_block or none (default: ${DEFAULT-VALUE}).")
    private String compressor;

    @Option(names = {"--chunk-size", "-S"}, defaultValue = "0x100000", paramLabel = "BYTES",
            description = "Chunk size in bytes, a power of two from 0x1000 to 0x1000000, hex or"
                    + " decimal (default: ${DEFAULT-VALUE}).")
    private String chunkSize;

    @Option(names = {"--digester", "-d"}, defaultValue = "blake3", paramLabel = "ALGO",
            description = "Chunk digest: blake3 or sha256 (default: ${DEFAULT-VALUE}).")
    private String digester;

    @Option(names = {"--whiteout-spec", "-W"}, defaultValue = "oci", paramLabel = "SPEC",
            description = "Whiteout convention of the source: oci, overlayfs or none"
                    + " (default: ${DEFAULT-VALUE}). With none, .wh. files stay ordinary files.")
    private String whiteoutSpec;

    @Option(names = {"--prefetch-policy", "-P"}, defaultValue = "none", paramLabel = "POLICY",
            description = "fs reads prefetch paths (one absolute path per line) from standard"
                    + " input; none disables prefetch (default: ${DEFAULT-VALUE}).")
    private String prefetchPolicy;

    @Option(names = {"--parent-bootstrap", "-p"}, paramLabel = "FILE",
            description = "Build on top of this image: its tree is the lower layer and its"
                    + " chunks are reused.")
    private Path parentBootstrap;

    @Option(names = {"--chunk-dict", "-M"}, paramLabel = "bootstrap=FILE",
            description = "Reuse chunks of this image instead of storing them again"
                    + " (bootstrap=PATH, or a plain path).")
    private String chunkDict;

    @Option(names = {"--blob-inline-meta", "--inline-bootstrap"},
            description = "Also store the bootstrap inside the data blob, with a ToC.")
    private boolean inlineMeta;

    @Option(names = "--features", split = ",", paramLabel = "FEATURE",
            description = "Blob features; blob-toc is always on, so this is accepted for"
                    + " compatibility.")
    private java.util.List<String> features;

    @Option(names = {"--output-json", "-J"}, paramLabel = "FILE",
            description = "Write a JSON summary (blobs, sizes, counts) to this file.")
    private Path outputJson;

    @Option(names = "--threads", defaultValue = "4", paramLabel = "N",
            description = "Threads that hash and compress chunks, 1 to 1024; output does not"
                    + " depend on it (default: ${DEFAULT-VALUE}).")
    private int threads;

    // Upstream's flags that change nothing here, so that its command lines run unchanged.
    @Option(names = "--repeatable",
            description = "Build reproducible metadata. Every build is: the output depends"
                    + " only on the source and the options, and no build time is written.")
    private boolean repeatable;

    @Option(names = "--aligned-chunk",
            description = "Align chunks to 4 KiB in the blob. It applies to RAFS v5 only,"
                    + " as upstream's does, so a v6 build ignores it.")
    private boolean alignedChunk;

    @Option(names = "--disable-check", hidden = true,
            description = "Skip checking the bootstrap after the build, which this builder"
                    + " does not do.")
    private boolean disableCheck;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        BuildOptions options = Cli.readOptions(spec, this::buildOptions);
        SourceType sourceType = Cli.readOptions(spec, () -> SourceType.fromLabel(type));
        if (outputJson != null) {
            AtomicFiles.requireReplaceable(outputJson);
        }
        requireSeparateOutputs();
        ImageBuilder builder = new ImageBuilder(options).parentBootstrap(parentBootstrap)
                .chunkDict(chunkDictBootstrap(chunkDict)).prefetch(readPrefetch());
        ImageBuilder.BlobTarget target = blobOutput.blobDir != null
                ? ImageBuilder.BlobTarget.inDirectory(blobOutput.blobDir)
                : ImageBuilder.BlobTarget.toFile(blobOutput.blob);
        BuildResult result = build(builder, target, sourceType);
        if (outputJson != null) {
            JsonOutput.writeBuild(outputJson, result);
        }
        return 0;
    }

    /**
     * Rejects outputs that name an input file or each other, because renaming one output onto
     * such a file would replace an input or another output.
     */
    private void requireSeparateOutputs() throws IOException {
        Path sourceFile = source.equals("-") ? null : Path.of(source);
        List<Path> inputs = Arrays.asList(sourceFile, parentBootstrap,
                chunkDictBootstrap(chunkDict));
        for (Path output : Arrays.asList(bootstrap, blobOutput.blob, outputJson)) {
            if (output != null) {
                AtomicFiles.requireNotInput(output, inputs);
            }
        }
        AtomicFiles.requireDistinctOutputs(bootstrap, blobOutput.blob);
        AtomicFiles.requireDistinctOutputs(bootstrap, outputJson);
        AtomicFiles.requireDistinctOutputs(blobOutput.blob, outputJson);
    }

    private BuildOptions buildOptions() {
        if (fsVersion != 6) {
            throw new IllegalArgumentException("--fs-version " + fsVersion
                    + " is not supported; only RAFS v6 images can be built");
        }
        checkFeatures();
        return new BuildOptions(Compressor.fromLabel(compressor),
                DigestAlgorithm.fromLabel(digester), Numbers.parseSize("--chunk-size", chunkSize),
                WhiteoutSpec.fromLabel(whiteoutSpec), threads, inlineMeta, true);
    }

    private BuildResult build(ImageBuilder builder, ImageBuilder.BlobTarget target,
            SourceType sourceType) throws Exception {
        if (sourceType == SourceType.DIR_RAFS) {
            return builder.buildDirectory(Path.of(source), bootstrap, target);
        }
        if (sourceType == SourceType.TARGZ_REF) {
            if (source.equals("-")) {
                throw new IllegalArgumentException("--type targz-ref reads a gzip tarball file"
                        + " twice, so it cannot read '-'; give the file's path");
            }
            if (Files.isDirectory(Path.of(source))) {
                throw new IllegalArgumentException(source + " is a directory, but --type"
                        + " targz-ref builds from a gzip tarball; give its path, or build the"
                        + " directory with --type dir-rafs");
            }
            return builder.buildTargzRef(Path.of(source), bootstrap, target);
        }
        if (source.equals("-")) {
            return builder.buildTar(new BufferedInputStream(System.in, 1 << 20), "stdin",
                    bootstrap, target);
        }
        Path tarball = Path.of(source);
        if (Files.isDirectory(tarball)) {
            throw new IllegalArgumentException("source " + source + " is a directory, but --type "
                    + type + " reads a tarball; use --type dir-rafs for a directory");
        }
        try (InputStream in = new BufferedInputStream(Files.newInputStream(tarball), 1 << 20)) {
            return builder.buildTar(in, source, bootstrap, target);
        }
    }

    private void checkFeatures() {
        if (features == null) {
            return;
        }
        for (String f : features) {
            if (!f.isBlank() && !f.equals("blob-toc")) {
                throw new IllegalArgumentException("unsupported --features value '" + f
                        + "'; only blob-toc is supported");
            }
        }
    }

    /**
     * Returns the bootstrap that a {@code --chunk-dict} value names, as {@code bootstrap=PATH}
     * or a plain path, or null for no value.
     */
    static Path chunkDictBootstrap(String value) {
        if (value == null) {
            return null;
        }
        return Path.of(value.startsWith("bootstrap=")
                ? value.substring("bootstrap=".length()) : value);
    }

    private PrefetchList readPrefetch() throws java.io.IOException {
        return switch (prefetchPolicy) {
            case "none" -> PrefetchList.none();
            case "fs" -> PrefetchList.parse(System.in.readAllBytes());
            default -> throw new IllegalArgumentException("unknown --prefetch-policy '"
                    + prefetchPolicy + "', expected fs or none");
        };
    }
}
