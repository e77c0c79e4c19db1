package io.nydus.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import io.nydus.registry.CredentialProvider;
import io.nydus.snapshotter.SnapshotterConfig;
import io.nydus.snapshotter.SnapshotterServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * `containerd-nydus-grpc` (alias `nydus-snapshotter`): the containerd proxy snapshotter that
 * runs Nydus images lazily and other images on overlayfs. Runs until SIGTERM or SIGINT.
 */
@Command(name = "containerd-nydus-grpc", mixinStandardHelpOptions = true,
        versionProvider = Version.class,
        description = "Serve containerd's snapshots API on a unix socket: Nydus images are"
                + " mounted lazily through nydusd, other images are unpacked on overlayfs."
                + " Options given here override the config file.")
public final class Snapshotter implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE",
            description = "Snapshotter config.toml (default: "
                    + "/etc/nydus/config.toml if it exists, else built-in defaults).")
    private Path config;

    @Option(names = "--root", paramLabel = "DIR",
            description = "Directory of snapshots, daemon sockets and the blob cache"
                    + " (default: root of the config, else"
                    + " /var/lib/containerd/io.containerd.snapshotter.v1.nydus).")
    private Path root;

    @Option(names = "--address", paramLabel = "SOCKET",
            description = "Unix socket to serve on (default: address of the config, else"
                    + " /run/containerd-nydus/containerd-nydus-grpc.sock).")
    private Path address;

    @Option(names = {"--nydusd-config", "--config-path"}, paramLabel = "FILE",
            description = "nydusd JSON config template (default: [daemon] nydusd_config of"
                    + " the config, else /etc/nydus/nydusd-config.fusedev.json).")
    private Path nydusdConfig;

    @Option(names = "--nydusd", paramLabel = "FILE",
            description = "nydusd executable (default: [daemon] nydusd_path of the config,"
                    + " else nydusd on the PATH).")
    private Path nydusd;

    @Option(names = "--daemon-mode", paramLabel = "MODE",
            description = "shared: one nydusd for all images; multiple or dedicated: one"
                    + " nydusd per image (default: daemon_mode of the config, else shared).")
    private String daemonMode;

    @Option(names = "--fs-driver", paramLabel = "DRIVER",
            description = "Driver that mounts the images: only fusedev is supported.")
    private String fsDriver;

    // Upstream's snapshotter also logs to a file under its root unless this flag is given. This
    // one always logs to its standard output, so the flag only decides where nydusd logs.
    @Option(names = "--log-to-stdout", arity = "0..1", paramLabel = "BOOL",
            description = "Send each nydusd's log to the snapshotter's standard output instead"
                    + " of nydusd.log in its directory under <root>/socket (default: [log]"
                    + " log_to_stdout of the config, else false). The snapshotter itself always"
                    + " logs to standard output.")
    private Boolean logToStdout;

    @Option(names = {"--nydus-image", "--nydus-overlayfs-path"}, paramLabel = "FILE",
            description = "Ignored: this snapshotter runs no nydus-image and no"
                    + " nydus-overlayfs.")
    private Path ignoredTool;

    @Option(names = "--log-level", paramLabel = "LEVEL", converter = LogLevel.Name.class,
            description = "Log level: trace, debug, info, warn or error (default: info, or"
                    + " [log] level of the config).")
    private String logLevel;

    @Override
    public Integer call() throws IOException, InterruptedException {
        SnapshotterConfig settings = settings();
        Logger rootLogger = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        rootLogger.setLevel(Level.toLevel(settings.logLevel(), Level.INFO));
        if (ignoredTool != null) {
            LoggerFactory.getLogger(Snapshotter.class).warn("ignoring {}: this snapshotter"
                    + " runs no nydus-image and no nydus-overlayfs", ignoredTool);
        }
        SnapshotterServer server = SnapshotterServer.start(settings,
                CredentialProvider.defaults(System.getenv()));
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "nydus-shutdown"));
        server.awaitTermination();
        return 0;
    }

    private SnapshotterConfig settings() throws IOException {
        SnapshotterConfig settings;
        if (config != null) {
            settings = SnapshotterConfig.load(config);
        } else if (Files.exists(SnapshotterConfig.DEFAULT_CONFIG)) {
            settings = SnapshotterConfig.load(SnapshotterConfig.DEFAULT_CONFIG);
        } else {
            settings = SnapshotterConfig.defaults();
        }
        try {
            if (root != null) {
                settings = settings.withRoot(root.toAbsolutePath());
            }
            if (address != null) {
                settings = settings.withAddress(address.toAbsolutePath());
            }
            if (nydusdConfig != null) {
                settings = settings.withNydusdConfig(nydusdConfig.toAbsolutePath());
            }
            if (logLevel != null) {
                settings = settings.withLogLevel(logLevel);
            }
            if (nydusd != null) {
                settings = settings.withNydusdPath(nydusd.toAbsolutePath());
            }
            if (daemonMode != null) {
                settings = settings.withDaemonMode(daemonMode);
            }
            if (logToStdout != null) {
                settings = settings.withLogToStdout(logToStdout);
            }
            checkFsDriver();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(new CommandLine(this), e.getMessage());
        }
        return settings;
    }

    /** Rejects the file system drivers of upstream's snapshotter other than fusedev. */
    private void checkFsDriver() {
        if (fsDriver != null && !fsDriver.equals("fusedev")) {
            throw new IllegalArgumentException("--fs-driver " + fsDriver + " is not supported:"
                    + " this snapshotter mounts images through FUSE only (fusedev)");
        }
    }

    public static void main(String[] args) {
        System.exit(Cli.run(new Snapshotter(), args));
    }
}
