package io.nydus.cli;

import io.nydus.nydusify.CheckOptions;
import io.nydus.nydusify.CheckResult;
import io.nydus.nydusify.ImageCheck;
import io.nydus.nydusify.ImageLocation;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.TransportMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * `nydusify check`: checks a Nydus image against the OCI image it was converted from, and
 * exits with 1 if they differ.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Check a Nydus image in a registry against its source OCI image: the"
                + " manifest and config layout, every chunk of every blob, and the file tree"
                + " (metadata, xattrs and file contents). As root, on a kernel with"
                + " overlayfs, the source tree is its layers unpacked and mounted as one"
                + " overlayfs; otherwise it is built again from the layers by the converter's"
                + " builder. Prints one line per difference and exits with 1 if there is any.")
final class NydusifyCheckCommand implements Callable<Integer> {
    @Mixin
    private LogLevel logLevel;

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--source", paramLabel = "REF",
            description = "Source OCI image: a registry reference such as"
                    + " registry:5000/app:v1, oci:DIR[:TAG] or oci-archive:FILE[:TAG]. Without"
                    + " it the Nydus image is checked on its own: manifest, config, bootstrap"
                    + " and every chunk, but no comparison of file trees.")
    private String source;

    @Option(names = "--target", required = true, paramLabel = "REF",
            description = "Nydus image to check: a registry reference such as"
                    + " registry:5000/app:v1-nydus, oci:DIR[:TAG] or oci-archive:FILE[:TAG].")
    private String target;

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

    @Option(names = "--platform", paramLabel = "OS/ARCH[/VARIANT]",
            description = "Platform whose manifests are taken from an index, for the source"
                    + " and the target (default: this machine's, such as linux/amd64).")
    private String platform;

    @Option(names = "--multi-platform",
            description = "Also check that the target is an index that lists, for the"
                    + " platform, an OCI manifest (the source's, when --source is given) and a"
                    + " Nydus manifest, as convert --merge-platform writes it.")
    private boolean multiPlatform;

    @Option(names = "--work-dir", defaultValue = "./output", paramLabel = "DIR",
            description = "Directory for the bootstrap, blobs and the unpacked source layers or"
                    + " reference bootstrap during the check; each run uses its own"
                    + " subdirectories and removes them"
                    + " (default: ${DEFAULT-VALUE}).")
    private Path workDir;

    @Override
    public Integer call() throws IOException {
        CheckOptions options = Cli.readOptions(spec, this::checkOptions);
        CredentialProvider credentials = CredentialProvider.defaults(System.getenv());
        CheckResult result;
        try (RegistryClient sourceClient = client(sourceInsecure, credentials);
                RegistryClient targetClient = client(targetInsecure, credentials)) {
            result = new ImageCheck(sourceClient, targetClient).check(options);
        }
        PrintWriter out = spec.commandLine().getOut();
        result.differences().forEach(out::println);
        if (result.passed()) {
            String entries = source == null ? " entries read, " : " entries match, ";
            out.println("check passed: " + result.entries() + entries
                    + result.chunksVerified() + " chunks (" + result.bytesVerified()
                    + " bytes) verified in " + result.millis() + " ms"
                    + referenceText(result));
        } else {
            out.println("check failed: " + result.differences().size() + " differences");
        }
        out.flush();
        return result.passed() ? 0 : 1;
    }

    private static String referenceText(CheckResult result) {
        return result.reference() == CheckResult.Reference.NONE ? ""
                : ", compared with the " + result.reference().description();
    }

    private CheckOptions checkOptions() {
        CheckOptions options = CheckOptions.defaults(
                source == null ? null : ImageLocation.parse(source),
                ImageLocation.parse(target)).withWorkDir(workDir)
                .withMultiPlatform(multiPlatform);
        if (platform != null) {
            options = options.withPlatform(PlatformSpec.parse(platform));
        }
        return options;
    }

    private RegistryClient client(boolean insecure, CredentialProvider credentials)
            throws IOException {
        TransportMode mode = plainHttp ? TransportMode.PLAIN_HTTP
                : insecure ? TransportMode.INSECURE : TransportMode.HTTPS;
        return RegistryClient.builder().transportMode(mode).credentials(credentials).build();
    }
}
