package io.nydus.cli;

import io.nydus.nydusify.CopyOptions;
import io.nydus.nydusify.CopyResult;
import io.nydus.nydusify.ImageCopier;
import io.nydus.nydusify.ImageLocation;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.TransportMode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * `nydusify copy`: copies an image between registry repositories, OCI layouts and layout
 * archives, byte for byte.
 */
@Command(name = "copy", mixinStandardHelpOptions = true,
        description = "Copy an image with the same digests between registry repositories,"
                + " oci:DIR[:TAG] layouts and OCI layout tars (file://FILE or"
                + " oci-archive:FILE[:TAG]). Blobs the target has are skipped, blobs in the"
                + " same registry are mounted, and the target tag is written last.")
final class CopyCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @Option(names = "--source", required = true, paramLabel = "REF",
            description = "Source image: a registry reference such as registry:5000/app:v1,"
                    + " file://FILE, oci:DIR[:TAG] or oci-archive:FILE[:TAG].")
    private String source;

    @Option(names = "--target", required = true, paramLabel = "REF",
            description = "Target image: a registry reference that names a tag, file://FILE"
                    + " (an OCI layout tar), oci:DIR[:TAG] or oci-archive:FILE[:TAG].")
    private String target;

    @Option(names = "--source-insecure",
            description = "Skip TLS verification for the source registry, and use plain HTTP"
                    + " where it does not speak TLS.")
    private boolean sourceInsecure;

    @Option(names = "--target-insecure",
            description = "Skip TLS verification for the target registry, and use plain HTTP"
                    + " where it does not speak TLS.")
    private boolean targetInsecure;

    @Option(names = "--plain-http", description = "Use plain HTTP for both registries.")
    private boolean plainHttp;

    @Option(names = "--work-dir", defaultValue = "./tmp", paramLabel = "DIR",
            description = "Directory where archives are unpacked and assembled during the"
                    + " copy; each run uses its own subdirectory and removes it (default:"
                    + " ${DEFAULT-VALUE}).")
    private Path workDir;

    @Spec
    private CommandSpec spec;

    @Option(names = "--push-chunk-size", defaultValue = "0", paramLabel = "SIZE",
            description = PushChunkSize.DESCRIPTION)
    private String pushChunkSize;

    @ArgGroup(exclusive = true)
    private PlatformChoice platforms = new PlatformChoice();

    static final class PlatformChoice {
        @Option(names = "--platform", paramLabel = "OS/ARCH[/VARIANT][,...]",
                description = "Platforms to copy from a source index: one copies that manifest"
                        + " alone, several (comma-separated) an index of just those entries."
                        + " A single-manifest source of another platform is copied as it is,"
                        + " unless this option names platforms other than this machine's, the"
                        + " first of which it must then match (default: this machine's, such as"
                        + " linux/amd64).")
        private String platform;

        @Option(names = "--all-platforms",
                description = "Copy a source index whole, with every manifest it lists.")
        private boolean all;
    }

    @Override
    public Integer call() throws IOException {
        long chunkSize = Cli.readOptions(spec, () -> PushChunkSize.parse(pushChunkSize));
        CopyOptions options = Cli.readOptions(spec, this::copyOptions);
        CredentialProvider credentials = CredentialProvider.defaults(System.getenv());
        try (RegistryClient sourceClient = client(sourceInsecure, credentials, 0);
                RegistryClient targetClient = client(targetInsecure, credentials,
                        chunkSize)) {
            CopyResult result = new ImageCopier(sourceClient, targetClient).copy(options);
            System.out.println("copied " + result.source() + " to " + result.target() + " as "
                    + result.digest() + ": " + result.blobsUploaded() + " blobs uploaded, "
                    + result.blobsMounted() + " mounted, " + result.blobsExisting()
                    + " already in target");
        }
        return 0;
    }

    private CopyOptions copyOptions() {
        CopyOptions options = CopyOptions.defaults(ImageLocation.parse(source),
                ImageLocation.parse(target)).withAllPlatforms(platforms.all)
                .withWorkDir(workDir);
        if (platforms.platform != null) {
            options = options.withPlatforms(PlatformSpec.parseList(platforms.platform));
        }
        return options;
    }

    /** Returns a client; a {@code chunkSize} above 0 sets its upload chunk size. */
    private RegistryClient client(boolean insecure, CredentialProvider credentials,
            long chunkSize) throws IOException {
        TransportMode mode = plainHttp ? TransportMode.PLAIN_HTTP
                : insecure ? TransportMode.INSECURE : TransportMode.HTTPS;
        RegistryClient.Builder builder = RegistryClient.builder().transportMode(mode)
                .credentials(credentials);
        if (chunkSize > 0) {
            builder.chunkSize((int) chunkSize);
        }
        return builder.build();
    }
}
