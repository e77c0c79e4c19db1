package io.nydus.cli;

import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.ConvertResult;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.LayerResult;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.rafs.Compressor;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.TransportMode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** `nydusify convert`: converts one platform of an OCI image to a Nydus image. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert an OCI image in a registry to a Nydus image (RAFS v6) and push"
                + " it to a registry. The target tag is pushed last, so a failed conversion"
                + " leaves it unchanged.")
final class ConvertCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Option(names = "--source", required = true, paramLabel = "REF",
            description = "Source OCI image reference, such as registry:5000/app:v1.")
    private String source;

    @ArgGroup(exclusive = true, multiplicity = "1")
    private TargetChoice target;

    static final class TargetChoice {
        @Option(names = "--target", paramLabel = "REF",
                description = "Target Nydus image reference; must name a tag.")
        private String reference;

        @Option(names = "--target-suffix", paramLabel = "SUFFIX",
                description = "Push to the source repository under the source tag plus this"
                        + " suffix, such as -nydus.")
        private String suffix;
    }

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

    @Option(names = "--compressor", defaultValue = "zstd", paramLabel = "NAME",
            description = "Chunk compression: none, lz4_block or zstd (default:"
                    + " ${DEFAULT-VALUE}).")
    private String compressor;

    @Option(names = {"--chunk-size", "--fs-chunk-size"}, defaultValue = "0x100000",
            paramLabel = "BYTES",
            description = "Chunk size in bytes, a power of two from 0x1000 to 0x1000000"
                    + " (default: ${DEFAULT-VALUE}).")
    private String chunkSize;

    @Option(names = "--fs-version", defaultValue = "6", paramLabel = "VERSION",
            description = "RAFS version of the Nydus image; only 6 is built (default:"
                    + " ${DEFAULT-VALUE}).")
    private String fsVersion;

    @Option(names = "--platform", paramLabel = "OS/ARCH[/VARIANT]",
            description = "Platform to convert: the manifest taken from a source index, and"
                    + " the platform that the config of a single-manifest source must state"
                    + " (default: this machine's, such as linux/amd64).")
    private String platform;

    @Option(names = "--work-dir", defaultValue = "./tmp", paramLabel = "DIR",
            description = "Directory for layer files during the conversion; each run uses"
                    + " its own subdirectory and removes it (default: ${DEFAULT-VALUE}).")
    private Path workDir;

    @Option(names = "--output-json", paramLabel = "FILE",
            description = "Write the pushed digests, sizes and times as JSON to this file.")
    private Path outputJson;

    @Override
    public Integer call() throws IOException {
        if (!fsVersion.strip().equals("6")) {
            throw new IllegalArgumentException("--fs-version " + fsVersion + " is not"
                    + " supported: this converter builds RAFS v6 only");
        }
        ImageReference sourceRef = ImageReference.parse(source);
        ImageReference targetRef = targetReference(sourceRef);
        ConvertOptions options = ConvertOptions.defaults(sourceRef, targetRef)
                .withCompressor(Compressor.fromLabel(compressor))
                .withChunkSize(Numbers.parseSize("--chunk-size", chunkSize))
                .withWorkDir(workDir);
        if (platform != null) {
            options = options.withPlatform(PlatformSpec.parse(platform));
        }
        CredentialProvider credentials = CredentialProvider.defaults(System.getenv());
        try (RegistryClient sourceClient = client(sourceInsecure, credentials);
                RegistryClient targetClient = client(targetInsecure, credentials)) {
            ConvertResult result = new Converter(sourceClient, targetClient).convert(options);
            if (outputJson != null) {
                JsonOutput.write(outputJson, summary(result));
            }
        }
        return 0;
    }

    private ImageReference targetReference(ImageReference sourceRef) {
        if (target.reference != null) {
            return ImageReference.parse(target.reference);
        }
        if (target.suffix.isEmpty()) {
            throw new IllegalArgumentException("--target-suffix must not be empty");
        }
        if (sourceRef.tag() == null) {
            throw new IllegalArgumentException("--target-suffix needs a source with a tag,"
                    + " but " + sourceRef + " has none; give --target instead");
        }
        return sourceRef.toRepository().tag(sourceRef.tag() + target.suffix);
    }

    private RegistryClient client(boolean insecure, CredentialProvider credentials)
            throws IOException {
        TransportMode mode = plainHttp ? TransportMode.PLAIN_HTTP
                : insecure ? TransportMode.INSECURE : TransportMode.HTTPS;
        return RegistryClient.builder().transportMode(mode).credentials(credentials).build();
    }

    private static Map<String, Object> summary(ConvertResult result) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("source", result.source().toString());
        root.put("source_manifest", result.sourceManifest().toString());
        root.put("target", result.target().toString());
        root.put("target_manifest", result.targetManifest().toString());
        root.put("target_manifest_size", result.targetManifestSize());
        root.put("config", result.config().toString());
        List<Map<String, Object>> layers = new ArrayList<>();
        for (LayerResult layer : result.layers()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("source_digest", layer.sourceDigest().toString());
            entry.put("source_size", layer.sourceSize());
            entry.put("blob_digest", layer.blobDigest().toString());
            entry.put("blob_size", layer.blobSize());
            entry.put("push", layer.push().name().toLowerCase(java.util.Locale.ROOT));
            entry.put("millis", layer.millis());
            layers.add(entry);
        }
        root.put("layers", layers);
        Map<String, Object> bootstrap = new LinkedHashMap<>();
        bootstrap.put("digest", result.bootstrapDigest().toString());
        bootstrap.put("size", result.bootstrapSize());
        bootstrap.put("diff_id", result.bootstrapDiffId().toString());
        bootstrap.put("push", result.bootstrapPush().name().toLowerCase(java.util.Locale.ROOT));
        root.put("bootstrap", bootstrap);
        root.put("uploads", result.uploads());
        root.put("millis", result.millis());
        return root;
    }
}
