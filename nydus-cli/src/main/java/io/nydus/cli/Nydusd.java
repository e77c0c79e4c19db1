package io.nydus.cli;

import io.nydus.daemon.ApiServer;
import io.nydus.daemon.Daemon;
import io.nydus.daemon.DaemonConfig;
import io.nydus.daemon.StorageImageData;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * `nydusd`: mounts a Nydus image with FUSE and fetches its data on demand, or, started without
 * a bootstrap, serves images that the API mounts below its mountpoint.
 */
@Command(name = "nydusd", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = "Mount a Nydus (RAFS v6) image with FUSE and fetch its chunks on demand"
                + " from a registry or a local directory, through a verified local blob cache."
                + " Without --bootstrap the daemon starts empty and images are mounted below"
                + " its mountpoint with POST /api/v1/mount on the --apisock socket.",
        subcommands = {CommandLine.HelpCommand.class})
public final class Nydusd implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger(Nydusd.class);

    @CommandLine.Parameters(index = "0", arity = "0..1", paramLabel = "MODE",
            description = "fuse (the default) or singleton; both serve FUSE here.")
    private String mode = "fuse";

    @Option(names = {"-C", "--config"}, paramLabel = "FILE",
            description = "Configuration file, upstream's v1 JSON form (device.backend,"
                    + " device.cache, fs_prefetch...). Required unless --localfs-dir is given.")
    private Path config;

    @Option(names = {"-B", "--bootstrap"}, paramLabel = "FILE",
            description = "Bootstrap of the image to mount at the mountpoint. Without it the"
                    + " daemon starts in shared mode, empty.")
    private Path bootstrap;

    @Option(names = {"-M", "--mountpoint"}, required = true, paramLabel = "DIR",
            description = "Directory to mount the FUSE file system on; must exist.")
    private Path mountpoint;

    @Option(names = {"-A", "--apisock"}, paramLabel = "SOCKET",
            description = "Unix socket for the HTTP management API (no API without it).")
    private Path apiSocket;

    @Option(names = {"-D", "--localfs-dir"}, paramLabel = "DIR",
            description = "Read blobs from this directory (files named by blob id) instead of"
                    + " the configured backend; no cache.")
    private Path localfsDir;

    @Option(names = "--prefetch-files", arity = "1..*", paramLabel = "PATH",
            description = "Files or directories inside the image to fetch first, after the"
                    + " bootstrap's own prefetch list (needs fs_prefetch.enable).")
    private List<String> prefetchFiles = new ArrayList<>();

    @Option(names = "--fuse-threads", defaultValue = "4", paramLabel = "N",
            description = "Threads serving FUSE requests (default: ${DEFAULT-VALUE}).")
    private int fuseThreads;

    @Option(names = "--id", paramLabel = "ID",
            description = "Daemon id reported by the API (default: the mountpoint's name).")
    private String id;

    @Option(names = {"-l", "--log-level"}, defaultValue = "info", paramLabel = "LEVEL",
            description = "Log level: trace, debug, info, warn or error"
                    + " (default: ${DEFAULT-VALUE}).")
    private String logLevel;

    @Option(names = {"-L", "--log-file"}, paramLabel = "FILE",
            description = "Write the log to this file instead of standard error.")
    private Path logFile;

    @Override
    public Integer call() throws Exception {
        if (!mode.equals("fuse") && !mode.equals("singleton")) {
            throw new IllegalArgumentException("mode '" + mode + "' is not supported; use fuse"
                    + " or singleton (virtiofs, fscache and nbd need devices this build does"
                    + " not drive)");
        }
        if (logFile != null) {
            LogFile.redirect(logFile);
        }
        LogFile.level(logLevel);
        if (fuseThreads < 1 || fuseThreads > 1024) {
            throw new IllegalArgumentException("--fuse-threads " + fuseThreads
                    + " is outside 1..1024");
        }
        if (!Files.isDirectory(mountpoint)) {
            throw new IllegalArgumentException("mountpoint " + mountpoint
                    + " is not a directory");
        }
        DaemonConfig daemonConfig = readConfig();
        String daemonId = id != null ? id : mountpoint.getFileName().toString();
        try (Daemon daemon = new Daemon(daemonId, bootstrap == null,
                StorageImageData::open)) {
            if (bootstrap != null) {
                daemon.mount("/", bootstrap, daemonConfig, prefetchFiles);
            }
            return serve(daemon);
        }
    }

    private int serve(Daemon daemon) throws IOException, InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        // On SIGTERM or Ctrl-C the JVM exits once its hooks end, so the hook waits for the
        // unmount below to finish.
        Thread hook = Thread.ofPlatform().unstarted(() -> {
            daemon.requestExit();
            awaitQuietly(stopped);
        });
        Runtime.getRuntime().addShutdownHook(hook);
        try (FuseSession session = FuseSession.mount(mountpoint, daemon.vfs(),
                new MountOptions("nydusd", "nydusd", fuseThreads,
                        MountOptions.DEFAULT_READ_AHEAD_KIB));
                ApiServer api = apiSocket == null ? null : ApiServer.start(apiSocket, daemon,
                        Version.current(), LogFile::level)) {
            daemon.running(mountpoint.toString());
            Thread.ofPlatform().daemon().name("nydusd-unmount-watch").start(() -> {
                try {
                    session.awaitUnmount();
                    LOG.info("{} was unmounted", mountpoint);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                daemon.requestExit();
            });
            daemon.awaitExit();
            LOG.info("daemon {} stopping, unmounting {}", daemon.id(), mountpoint);
        } finally {
            stopped.countDown();
        }
        return 0;
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private DaemonConfig readConfig() throws IOException {
        if (localfsDir != null) {
            if (!Files.isDirectory(localfsDir)) {
                throw new IllegalArgumentException("--localfs-dir " + localfsDir
                        + " is not a directory");
            }
            String json = "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\":"
                    + " {\"dir\": " + new com.fasterxml.jackson.databind.ObjectMapper()
                    .writeValueAsString(localfsDir.toString()) + "}}}}";
            return DaemonConfig.parse("--localfs-dir", json);
        }
        if (config == null) {
            throw new IllegalArgumentException("give --config FILE (or --localfs-dir DIR)");
        }
        return DaemonConfig.parse(config.toString(), Files.readString(config));
    }

    public static void main(String[] args) {
        System.exit(Cli.run(new Nydusd(), args));
    }
}
