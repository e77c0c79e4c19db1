package io.nydus.cli;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.daemon.Daemon;
import io.nydus.daemon.DaemonConfig;
import io.nydus.daemon.StorageImageData;
import io.nydus.fuse.MountOptions;
import io.nydus.nydusify.ImageLocation;
import io.nydus.nydusify.MountSource;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.TransportMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * `nydusify mount`: fetches a Nydus image's bootstrap and mounts the image with an in-process
 * daemon, reading blobs on demand from the registry or layout, until Ctrl-C or SIGTERM.
 */
@Command(name = "mount", aliases = "view", mixinStandardHelpOptions = true,
        description = "Mount a Nydus image from a registry or an OCI layout (oci:DIR[:TAG])"
                + " with FUSE. File data is fetched on demand into a blob cache under"
                + " --work-dir. Runs until the mount is unmounted, or Ctrl-C / SIGTERM, then"
                + " unmounts.")
final class NydusifyMountCommand implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(NydusifyMountCommand.class);

    @Mixin
    private LogLevel logLevel;

    @Option(names = "--target", required = true, paramLabel = "REF",
            description = "The Nydus image: a registry reference or oci:DIR[:TAG].")
    private String target;

    @Option(names = "--mount-path", defaultValue = "./image-fs", paramLabel = "DIR",
            description = "Where to mount the image; created if missing"
                    + " (default: ${DEFAULT-VALUE}).")
    private Path mountPath;

    @Option(names = "--work-dir", defaultValue = "./tmp", paramLabel = "DIR",
            description = "Holds the bootstrap and the blob cache; the cache is kept for the"
                    + " next mount (default: ${DEFAULT-VALUE}).")
    private Path workDir;

    @Option(names = "--target-insecure",
            description = "Skip TLS verification for the registry, falling back to plain HTTP"
                    + " when it does not speak TLS.")
    private boolean insecure;

    @Option(names = "--plain-http", description = "Use plain HTTP for the registry.")
    private boolean plainHttp;

    @Option(names = "--platform", paramLabel = "OS/ARCH[/VARIANT]",
            description = "Platform to mount from an index (default: this host's).")
    private String platform;

    @Option(names = "--prefetch",
            description = "Fetch the whole image in the background after mounting.")
    private boolean prefetch;

    @Option(names = "--fuse-threads", defaultValue = "4", paramLabel = "N",
            description = "Threads serving FUSE requests, 1 to " + MountOptions.MAX_WORKERS
                    + " (default: ${DEFAULT-VALUE}).")
    private int fuseThreads;

    @Option(names = "--apisock", paramLabel = "SOCKET",
            description = "Unix socket for the daemon's management API (none without it).")
    private Path apiSocket;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (fuseThreads < 1 || fuseThreads > MountOptions.MAX_WORKERS) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--fuse-threads "
                    + fuseThreads + " is outside 1.." + MountOptions.MAX_WORKERS);
        }
        ImageLocation location = Cli.readOptions(spec, () -> ImageLocation.parse(target));
        PlatformSpec platformSpec = platform == null ? PlatformSpec.host()
                : Cli.readOptions(spec, () -> PlatformSpec.parse(platform));
        TransportMode mode = plainHttp ? TransportMode.PLAIN_HTTP
                : insecure ? TransportMode.INSECURE : TransportMode.HTTPS;
        CredentialProvider credentials = CredentialProvider.defaults(System.getenv());
        Path work = workDir.toAbsolutePath();
        MountSource source;
        try (RegistryClient client = RegistryClient.builder().transportMode(mode)
                .credentials(credentials).build()) {
            source = MountSource.fetch(location, client, mode, credentials, platformSpec,
                    work.resolve("bootstrap"));
        }
        LOG.info("fetched the bootstrap of {} ({} data blobs)", source.description(),
                source.blobs().size());
        source.installBlobMetas(work.resolve("cache"));
        DaemonConfig config = DaemonConfig.parse("the configuration for " + target,
                configJson(source, work.resolve("cache")));
        Files.createDirectories(mountPath);
        DaemonRunner.stopOnIgnoredSignals("nydusify mount");
        DaemonRunner.detachDeadMount(mountPath);
        try (Daemon daemon = new Daemon(mountPath.getFileName().toString(), false,
                StorageImageData::open)) {
            daemon.mount("/", source.bootstrap(), config, List.of());
            LOG.info("mounting {} at {}; Ctrl-C unmounts", source.description(), mountPath);
            return DaemonRunner.serve(daemon, mountPath, fuseThreads, apiSocket,
                    DaemonRunner.Handover.NONE);
        }
    }

    private String configJson(MountSource source, Path cache) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode device = root.putObject("device");
        device.set("backend", source.backend());
        ObjectNode cacheNode = device.putObject("cache");
        cacheNode.put("type", "blobcache");
        cacheNode.putObject("config").put("work_dir", cache.toString());
        root.put("mode", "direct");
        root.put("digest_validate", false);
        root.put("enable_xattr", true);
        ObjectNode fsPrefetch = root.putObject("fs_prefetch");
        fsPrefetch.put("enable", prefetch);
        fsPrefetch.put("prefetch_all", prefetch);
        return root.toString();
    }
}
