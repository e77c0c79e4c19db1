package io.nydus.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import io.nydus.builder.AtomicFiles;
import io.nydus.nydusify.BuildCacheSpec;
import io.nydus.nydusify.ChunkDictSpec;
import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.ConvertProgress;
import io.nydus.nydusify.ConvertResult;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.ImageLocation;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.ReverseConverter;
import io.nydus.nydusify.ReverseOptions;
import io.nydus.nydusify.ReverseResult;
import io.nydus.rafs.Compressor;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.GoDuration;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RetryPolicy;
import io.nydus.registry.TransportMode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.LoggerFactory;
import org.slf4j.Marker;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

/**
 * `nydusify convert`: converts an OCI image in a registry, an OCI layout or a layout archive
 * to a Nydus image, or with --reverse a Nydus image back to an OCI image.
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert an OCI image to a Nydus image (RAFS v6), or with --reverse a"
                + " Nydus image to an OCI image. Source and target are registry references,"
                + " oci:DIR[:TAG] layouts or oci-archive:FILE[:TAG] archives. The target tag"
                + " is written last, so a failed conversion leaves it unchanged.")
final class ConvertCommand implements Callable<Integer> {
    private static final int DEFAULT_PUSH_ATTEMPTS = 3;
    private static final String DEFAULT_PUSH_DELAY = "5s";
    /** Options that set how the Nydus image is built, which --reverse rejects. */
    private static final List<String> BUILD_OPTIONS = List.of("--compressor", "--chunk-size",
            "--fs-align-chunk", "--fs-version", "--chunk-dict", "--chunk-dict-insecure",
            "--build-cache", "--build-cache-tag", "--build-cache-version",
            "--build-cache-insecure", "--build-cache-max-records", "--merge-platform",
            "--docker-v2-format", "--oci", "--oci-ref", "--with-referrer", "--prefetch-patterns",
            "--prefetch-dir");

    @Mixin
    private LogLevel logLevel;

    @Option(names = "--source", paramLabel = "REF",
            description = "Source image, OCI (or a Nydus image with --reverse): a registry"
                    + " reference such as registry:5000/app:v1, oci:DIR[:TAG] or"
                    + " oci-archive:FILE[:TAG].")
    private String source;

    @Option(names = "--source-archive", paramLabel = "FILE",
            description = "Read the source from this OCI image layout tar instead; the same as"
                    + " --source oci-archive:FILE.")
    private Path sourceArchive;

    @ArgGroup(exclusive = true)
    private TargetChoice target = new TargetChoice();

    static final class TargetChoice {
        @Option(names = "--target", paramLabel = "REF",
                description = "Target Nydus image: a registry reference that names a tag,"
                        + " oci:DIR[:TAG] or oci-archive:FILE[:TAG].")
        private String reference;

        @Option(names = "--target-suffix", paramLabel = "SUFFIX",
                description = "Write to the source repository or layout under the source tag"
                        + " plus this suffix, such as -nydus.")
        private String suffix;
    }

    @Option(names = "--target-archive", paramLabel = "FILE",
            description = "Write the target as an OCI image layout tar to this file instead of"
                    + " pushing it; the image is named by the tag of --target, if given.")
    private Path targetArchive;

    @Option(names = "--reverse",
            description = "Convert a Nydus image (--source) back to an OCI image (--target);"
                    + " experimental, as upstream. Each Nydus blob layer becomes the gzipped"
                    + " tar layer it was built from and the bootstrap layer is dropped. An"
                    + " OCI source is an error. Build options such as --compressor are"
                    + " rejected; --platform and --all-platforms choose from an index"
                    + " (default: off).")
    private boolean reverse;

    @Option(names = "--source-insecure",
            description = "Skip TLS verification for the source registry, and use plain HTTP"
                    + " where it does not speak TLS.")
    private boolean sourceInsecure;

    @Option(names = "--target-insecure",
            description = "Skip TLS verification for the target registry, and use plain HTTP"
                    + " where it does not speak TLS.")
    private boolean targetInsecure;

    @Option(names = "--plain-http",
            description = "Use plain HTTP for both registries.")
    private boolean plainHttp;

    @Option(names = "--push-chunk-size", defaultValue = "0", paramLabel = "SIZE",
            description = PushChunkSize.DESCRIPTION)
    private String pushChunkSize;

    @Option(names = "--compressor", defaultValue = "zstd", paramLabel = "NAME",
            description = "Chunk compression: none, lz4_block or zstd (default:"
                    + " ${DEFAULT-VALUE}).")
    private String compressor;

    @Option(names = {"--chunk-size", "--fs-chunk-size"}, defaultValue = "0x100000",
            paramLabel = "BYTES",
            description = "Chunk size in bytes, a power of two from 0x1000 to 0x1000000"
                    + " (default: ${DEFAULT-VALUE}).")
    private String chunkSize;

    @Option(names = {"--fs-align-chunk", "--backend-aligned-chunk"},
            description = "Align chunks to 4 KiB, which upstream passes to its builder as"
                    + " --aligned-chunk for either name. That applies to RAFS v5 only, so a"
                    + " v6 conversion ignores it, as upstream's does.")
    private boolean fsAlignChunk;

    @Option(names = "--fs-version", defaultValue = "6", paramLabel = "VERSION",
            description = "RAFS version of the Nydus image; only 6 is built (default:"
                    + " ${DEFAULT-VALUE}).")
    private String fsVersion;

    @Option(names = "--chunk-dict", paramLabel = "SPEC",
            description = "Chunk dictionary: bootstrap:registry:REF (a Nydus image, whose blobs"
                    + " are mounted or copied into the target when used) or"
                    + " bootstrap:local:PATH (a bootstrap file, whose blobs must be in the"
                    + " target already). Chunks it holds are not stored again.")
    private String chunkDict;

    @Option(names = "--chunk-dict-insecure",
            description = "Skip TLS verification for the chunk dictionary's registry, and use"
                    + " plain HTTP where it does not speak TLS.")
    private boolean chunkDictInsecure;

    @Option(names = "--build-cache", paramLabel = "REF",
            description = "Build cache image, a registry reference with a tag. Source layers"
                    + " recorded in it are not pulled or built: their bootstrap and blob are"
                    + " reused. After the conversion the cache image is updated with every"
                    + " layer of this image. A missing or unreadable cache image only warns"
                    + " (default: no cache).")
    private String buildCache;

    @Option(names = "--build-cache-tag", paramLabel = "TAG",
            description = "Use the target repository under this tag as the build cache image;"
                    + " cannot be combined with --build-cache (default: no cache).")
    private String buildCacheTag;

    @Option(names = "--build-cache-version", paramLabel = "VERSION",
            defaultValue = BuildCacheSpec.DEFAULT_VERSION,
            description = "Version of the build cache image. A cache image of another version"
                    + " is not used and is replaced (default: ${DEFAULT-VALUE}).")
    private String buildCacheVersion;

    @Option(names = "--build-cache-insecure",
            description = "Skip TLS verification for the build cache registry, and use plain"
                    + " HTTP where it does not speak TLS.")
    private boolean buildCacheInsecure;

    @Option(names = "--build-cache-max-records", paramLabel = "N",
            defaultValue = "" + BuildCacheSpec.MAX_RECORDS,
            description = "Source layers the build cache image keeps, from 1 to "
                    + BuildCacheSpec.MAX_RECORDS + "; the least recently used are dropped"
                    + " first (default: ${DEFAULT-VALUE}).")
    private int buildCacheMaxRecords;

    @ArgGroup(exclusive = true)
    private PlatformChoice platforms = new PlatformChoice();

    static final class PlatformChoice {
        @Option(names = "--platform", paramLabel = "OS/ARCH[/VARIANT][,...]",
                description = "Platforms to convert, comma separated: the manifests taken"
                        + " from a source index (several give an index). A single-manifest"
                        + " source of another platform is converted as it is, unless this"
                        + " option names platforms other than this machine's (default: this"
                        + " machine's, such as linux/amd64).")
        private String platform;

        @Option(names = "--all-platforms",
                description = "Convert every platform of a source index and write an index.")
        private boolean all;
    }

    @Option(names = {"--merge-platform", "--multi-platform"},
            description = "Write an index that lists the source manifests and the Nydus"
                    + " manifests, which carry the Nydus artifact type so that OCI clients"
                    + " keep pulling the source.")
    private boolean mergePlatform;

    @Option(names = "--docker-v2-format",
            description = "Keep Docker schema 2 media types for a Docker source (manifest,"
                    + " manifest list, config, bootstrap layer); by default the output is OCI.")
    private boolean dockerV2Format;

    @Option(names = "--oci",
            description = "Write OCI media types, which is the default; accepted for"
                    + " compatibility.")
    private boolean oci;

    @Option(names = "--oci-ref",
            description = "Convert to an OCI-ref (ZRAN) image: each gzip source layer stays in"
                    + " the target repository as the data blob, and a small ref blob with the"
                    + " chunks' places in it is pushed per layer. Implies --oci and ignores"
                    + " --docker-v2-format; not with --chunk-dict or --build-cache.")
    private boolean ociRef;

    @Option(names = "--with-referrer",
            description = "Name the source manifest as the subject of each Nydus manifest, so"
                    + " that a registry with the OCI referrers API lists the Nydus image among"
                    + " the source's referrers (default: off, because some registries reject"
                    + " the field). Not with --docker-v2-format for a Docker source.")
    private boolean withReferrer;

    @ArgGroup(exclusive = true)
    private PrefetchChoice prefetch = new PrefetchChoice();

    static final class PrefetchChoice {
        @Option(names = "--prefetch-patterns",
                description = "Read the paths to prefetch from standard input, one absolute"
                        + " path per line (default without this option: /, everything).")
        private boolean patterns;

        @Option(names = "--prefetch-dir", paramLabel = "DIR",
                description = "Prefetch this one absolute directory.")
        private String dir;
    }

    @Option(names = "--work-dir", defaultValue = "./tmp", paramLabel = "DIR",
            description = "Directory for layer files during the conversion; each run uses"
                    + " its own subdirectory and removes it (default: ${DEFAULT-VALUE}).")
    private Path workDir;

    @Option(names = "--output-json", paramLabel = "FILE",
            description = "Write the digests, sizes, times and reused bytes as JSON to this"
                    + " file.")
    private Path outputJson;

    @Option(names = "--push-retry-count", paramLabel = "N",
            defaultValue = "" + DEFAULT_PUSH_ATTEMPTS,
            description = "Attempts of each request to the target registry, in all, when one"
                    + " fails with a connection error or status 429, 500, 502, 503 or 504;"
                    + " 0 or less means " + DEFAULT_PUSH_ATTEMPTS
                    + " (default: ${DEFAULT-VALUE}).")
    private int pushRetryCount;

    @Option(names = "--push-retry-delay", paramLabel = "DURATION",
            defaultValue = DEFAULT_PUSH_DELAY,
            description = "Wait between those attempts, such as 500ms, 5s or 1m; 0 means "
                    + DEFAULT_PUSH_DELAY + " (default: ${DEFAULT-VALUE}).")
    private String pushRetryDelay;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        preferCommandLine();
        if (outputJson != null) {
            AtomicFiles.requireReplaceable(outputJson);
        }
        if (reverse) {
            return reverse();
        }
        ConvertOptions options = Cli.readOptions(spec, this::convertOptions);
        RetryPolicy pushRetries = Cli.readOptions(spec, this::pushRetryPolicy);
        int chunkSize = Cli.readOptions(spec, () -> PushChunkSize.parse(pushChunkSize));
        CredentialProvider credentials = CredentialProvider.defaults(System.getenv());
        try (RegistryClient sourceClient = client(sourceInsecure, credentials,
                    RetryPolicy.DEFAULT, 0);
                RegistryClient targetClient = client(targetInsecure, credentials,
                        pushRetries, chunkSize);
                RegistryClient dictClient = chunkDictInsecure ? insecureClient(credentials)
                        : null;
                RegistryClient cacheClient = buildCacheInsecure ? insecureClient(credentials)
                        : null) {
            Converter converter = new Converter(sourceClient, targetClient);
            if (dictClient != null) {
                converter.chunkDictClient(dictClient);
            }
            if (cacheClient != null) {
                converter.buildCacheClient(cacheClient);
            }
            ConvertResult result = convert(converter, options);
            if (outputJson != null) {
                JsonOutput.write(outputJson, ConvertSummary.of(result));
            }
        }
        return 0;
    }

    /** Runs `convert --reverse`: a Nydus image to an OCI image. */
    private int reverse() throws IOException {
        ReverseOptions options = Cli.readOptions(spec, this::reverseOptions);
        RetryPolicy pushRetries = Cli.readOptions(spec, this::pushRetryPolicy);
        int chunkSize = Cli.readOptions(spec, () -> PushChunkSize.parse(pushChunkSize));
        CredentialProvider credentials = CredentialProvider.defaults(System.getenv());
        try (RegistryClient sourceClient = client(sourceInsecure, credentials,
                    RetryPolicy.DEFAULT, 0);
                RegistryClient targetClient = client(targetInsecure, credentials,
                        pushRetries, chunkSize)) {
            ReverseResult result = new ReverseConverter(sourceClient, targetClient)
                    .reverse(options);
            if (outputJson != null) {
                JsonOutput.write(outputJson, ReverseSummary.of(result));
            }
        }
        return 0;
    }

    private ReverseOptions reverseOptions() {
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        for (String option : BUILD_OPTIONS) {
            if (parsed.hasMatchedOption(option)) {
                throw new IllegalArgumentException(option + " sets how a Nydus image is built"
                        + " and cannot be combined with --reverse, which writes gzipped OCI"
                        + " layers; leave it out");
            }
        }
        ImageLocation sourceLocation = sourceLocation();
        ReverseOptions options = ReverseOptions.defaults(sourceLocation,
                targetLocation(sourceLocation))
                .withWorkDir(workDir.normalize())
                .withAllPlatforms(platforms.all);
        if (platforms.platform != null) {
            options = options.withPlatforms(PlatformSpec.parseList(platforms.platform));
        }
        return options;
    }

    private ConvertOptions convertOptions() throws IOException {
        if (!fsVersion.strip().equals("6")) {
            throw new IllegalArgumentException("--fs-version " + fsVersion + " is not"
                    + " supported: this converter builds RAFS v6 only");
        }
        if (dockerV2Format && oci) {
            throw new IllegalArgumentException("--docker-v2-format and --oci contradict each"
                    + " other; give one");
        }
        if (dockerV2Format && ociRef) {
            // Upstream's nydusify forces OCI media types here and only warns, so scripts
            // written for it that pass both options keep working.
            LoggerFactory.getLogger(ConvertCommand.class).warn("--oci-ref writes OCI media"
                    + " types, so --docker-v2-format is ignored");
        }
        ImageLocation sourceLocation = sourceLocation();
        ImageLocation targetLocation = targetLocation(sourceLocation);
        ConvertOptions options = ConvertOptions.defaults(sourceLocation, targetLocation)
                .withCompressor(Compressor.fromLabel(compressor))
                .withChunkSize(Numbers.parseSize("--chunk-size", chunkSize))
                .withWorkDir(workDir.normalize())
                .withAllPlatforms(platforms.all)
                .withMergePlatform(mergePlatform)
                .withDockerV2Format(dockerV2Format && !ociRef)
                .withReferrer(withReferrer)
                .withOciRef(ociRef)
                .withPrefetchPatterns(prefetchPatterns());
        if (platforms.platform != null) {
            options = options.withPlatforms(PlatformSpec.parseList(platforms.platform));
        }
        if (chunkDict != null && !chunkDict.isBlank()) {
            options = options.withChunkDict(ChunkDictSpec.parse(chunkDict.strip()));
        }
        return options.withBuildCache(buildCacheSpec(sourceLocation, targetLocation));
    }

    /** Returns the build cache of --build-cache or --build-cache-tag, or null for none. */
    private BuildCacheSpec buildCacheSpec(ImageLocation sourceLocation,
            ImageLocation targetLocation) {
        if (buildCacheMaxRecords < 1 || buildCacheMaxRecords > BuildCacheSpec.MAX_RECORDS) {
            throw new IllegalArgumentException("--build-cache-max-records "
                    + buildCacheMaxRecords + " is out of range: give 1 to "
                    + BuildCacheSpec.MAX_RECORDS);
        }
        boolean byReference = buildCache != null && !buildCache.isBlank();
        boolean byTag = buildCacheTag != null && !buildCacheTag.isBlank();
        if (byReference && byTag) {
            throw new IllegalArgumentException("--build-cache and --build-cache-tag conflict:"
                    + " give one");
        }
        if (!byReference && !byTag) {
            return null;
        }
        ImageReference reference;
        if (byReference) {
            reference = ImageReference.parse(buildCache.strip());
        } else if (targetLocation.isRegistry()) {
            reference = targetLocation.reference().withTag(buildCacheTag.strip());
        } else {
            throw new IllegalArgumentException("--build-cache-tag needs a registry target, but"
                    + " the target is " + targetLocation + "; give --build-cache instead");
        }
        BuildCacheSpec spec = new BuildCacheSpec(reference, buildCacheVersion.strip(),
                buildCacheMaxRecords);
        spec.checkDistinctFrom(sourceLocation, targetLocation);
        return spec;
    }

    /**
     * Converts with a progress display on a terminal and plain log lines otherwise. While the
     * display draws, a filter drops log events below WARN from every logger, whatever its
     * level, so that they do not break the display. Warnings and errors still print.
     */
    private static ConvertResult convert(Converter converter, ConvertOptions options)
            throws IOException {
        if (!ProgressDisplay.isTerminal(System.getenv())) {
            return converter.progress(ConvertProgress.NONE).convert(options);
        }
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        TurboFilter quiet = new TurboFilter() {
            @Override
            public FilterReply decide(Marker marker, Logger logger, Level level, String format,
                    Object[] params, Throwable t) {
                return level == null || level.isGreaterOrEqual(Level.WARN) ? FilterReply.NEUTRAL
                        : FilterReply.DENY;
            }
        };
        quiet.start();
        context.addTurboFilter(quiet);
        try {
            return converter.progress(new ProgressDisplay(System.err, System::nanoTime))
                    .convert(options);
        } finally {
            context.getTurboFilterList().remove(quiet);
        }
    }

    /**
     * Drops an environment default that a rival option given on the command line replaces.
     * The environment fills every option, so SOURCE would otherwise clash with
     * --source-archive, or TARGET win over --target-suffix.
     */
    private void preferCommandLine() {
        if (givenAlone("--source-archive", "--source")) {
            source = null;
        }
        if (givenAlone("--source", "--source-archive")) {
            sourceArchive = null;
        }
        if (givenAlone("--target-suffix", "--target")) {
            target.reference = null;
        }
        if (givenAlone("--target", "--target-suffix")
                || givenAlone("--target-archive", "--target-suffix")) {
            target.suffix = null;
        }
        if (givenAlone("--build-cache-tag", "--build-cache")) {
            buildCache = null;
        }
        if (givenAlone("--build-cache", "--build-cache-tag")) {
            buildCacheTag = null;
        }
        if (givenAlone("--prefetch-dir", "--prefetch-patterns")) {
            prefetch.patterns = false;
        }
        if (givenAlone("--prefetch-patterns", "--prefetch-dir")) {
            prefetch.dir = null;
        }
    }

    /** Returns whether {@code option} is on the command line and {@code rival} is not. */
    private boolean givenAlone(String option, String rival) {
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        return parsed.hasMatchedOption(option) && !parsed.hasMatchedOption(rival);
    }

    private ImageLocation sourceLocation() {
        if (sourceArchive != null) {
            if (source != null) {
                throw new IllegalArgumentException("give either --source or --source-archive,"
                        + " not both");
            }
            return ImageLocation.archive(sourceArchive, null);
        }
        if (source == null) {
            throw new IllegalArgumentException("missing the source: give --source or"
                    + " --source-archive");
        }
        return ImageLocation.parse(source);
    }

    private ImageLocation targetLocation(ImageLocation sourceLocation) {
        if (targetArchive != null) {
            if (target.suffix != null) {
                throw new IllegalArgumentException("--target-archive names the target file;"
                        + " --target-suffix cannot be combined with it");
            }
            String tag = target.reference == null ? null
                    : ImageLocation.parse(target.reference).tagOrName();
            return ImageLocation.archive(targetArchive, tag);
        }
        if (target.reference != null) {
            return ImageLocation.parse(target.reference);
        }
        if (target.suffix == null) {
            throw new IllegalArgumentException("missing the target: give --target,"
                    + " --target-suffix or --target-archive");
        }
        if (target.suffix.isEmpty()) {
            throw new IllegalArgumentException("--target-suffix must not be empty");
        }
        if (sourceLocation.kind() == ImageLocation.Kind.ARCHIVE) {
            throw new IllegalArgumentException("--target-suffix would rewrite the source"
                    + " archive " + sourceLocation.path() + "; give --target or"
                    + " --target-archive instead");
        }
        if (sourceLocation.tagOrName() == null) {
            throw new IllegalArgumentException("--target-suffix needs a source with a tag,"
                    + " but " + sourceLocation + " has none; give --target instead");
        }
        return sourceLocation.withTag(sourceLocation.tagOrName() + target.suffix);
    }

    /** Returns the prefetch patterns: standard input, one directory, or "/" for everything. */
    private String prefetchPatterns() throws IOException {
        if (prefetch.dir != null) {
            return prefetch.dir;
        }
        if (!prefetch.patterns) {
            return ConvertOptions.PREFETCH_ALL;
        }
        InputStream in = System.in;
        String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        return text.isBlank() ? ConvertOptions.PREFETCH_ALL : text;
    }

    /**
     * Returns the retries of requests to the target registry. Upstream retries a whole push
     * with these options, and this converter retries each of the push's requests instead, so
     * that a failure repeats one blob upload rather than all of them.
     */
    RetryPolicy pushRetryPolicy() {
        int attempts = pushRetryCount > 0 ? pushRetryCount : DEFAULT_PUSH_ATTEMPTS;
        Duration delay = GoDuration.parse(pushRetryDelay.strip());
        if (delay.isZero()) {
            delay = GoDuration.parse(DEFAULT_PUSH_DELAY);
        }
        return RetryPolicy.fixedDelay(attempts, delay);
    }

    private static RegistryClient insecureClient(CredentialProvider credentials)
            throws IOException {
        return RegistryClient.builder().transportMode(TransportMode.INSECURE)
                .credentials(credentials).build();
    }

    /** Returns a client; a {@code chunkSize} above 0 limits the body of each upload request. */
    private RegistryClient client(boolean insecure, CredentialProvider credentials,
            RetryPolicy retries, int chunkSize) throws IOException {
        TransportMode mode = plainHttp ? TransportMode.PLAIN_HTTP
                : insecure ? TransportMode.INSECURE : TransportMode.HTTPS;
        RegistryClient.Builder builder = RegistryClient.builder().transportMode(mode)
                .credentials(credentials).retryPolicy(retries);
        if (chunkSize > 0) {
            builder.chunkSize(chunkSize);
        }
        return builder.build();
    }
}
