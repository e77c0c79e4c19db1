package io.nydus.cli;

import io.nydus.daemon.Daemon;
import io.nydus.daemon.DaemonConfig;
import io.nydus.daemon.FuseService;
import io.nydus.daemon.StorageImageData;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.Errno;
import io.nydus.posix.OpenFileLimit;
import io.nydus.posix.PosixException;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

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
    /** Descriptors left to other processes when the limit is raised towards fs.file-max. */
    private static final long RESERVED_FILES = 16384;
    private static final long MAX_OPEN_FILES = 1_000_000;
    private static final long MAX_LOG_ROTATION_MIB = 1 << 20;

    @CommandLine.Parameters(index = "0", arity = "0..1", paramLabel = "MODE",
            description = "fuse (the default) or singleton; both serve FUSE here.")
    private String mode = "fuse";

    @Option(names = {"-C", "--config"}, paramLabel = "FILE",
            description = "Configuration file, upstream's v1 JSON form (device.backend,"
                    + " device.cache, fs_prefetch...). Required with --bootstrap unless"
                    + " --localfs-dir is given, and not used without --bootstrap, as each"
                    + " POST /api/v1/mount brings the configuration of its image.")
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

    @Option(names = "--prefetch-files", paramLabel = "FILE",
            description = "File that lists files or directories inside the image, one path per"
                    + " line, to fetch first in place of the bootstrap's own prefetch list"
                    + " (needs --bootstrap and fs_prefetch.enable).")
    private Path prefetchList;

    @Option(names = {"-m", "--virtual-mountpoint"}, defaultValue = "/", paramLabel = "PATH",
            description = "Where the --bootstrap image appears in the FUSE file system: / or"
                    + " /NAME. With /NAME the daemon runs in shared mode, so the API can mount"
                    + " more images beside it (default: ${DEFAULT-VALUE}).")
    private String virtualMountpoint;

    @Option(names = {"--fuse-threads", "--thread-num", "-T"}, defaultValue = "4",
            paramLabel = "N",
            description = "Threads serving FUSE requests, 1 to " + MountOptions.MAX_WORKERS
                    + " (default: ${DEFAULT-VALUE}).")
    private int fuseThreads;

    @Option(names = "--rlimit-nofile", defaultValue = "1000000", paramLabel = "N",
            description = "Set the limit on open file descriptors to N, but at most 1,000,000"
                    + " and fs.file-max minus 16384, or the current limit where that is higher."
                    + " Without CAP_SYS_RESOURCE, the hard limit is the most it gets. 0 leaves"
                    + " the limit unchanged (default: ${DEFAULT-VALUE}).")
    private long openFileLimit;

    @Option(names = "--id", paramLabel = "ID",
            description = "Daemon id reported by the API (default: the mountpoint's name).")
    private String id;

    @Option(names = "--supervisor", paramLabel = "SOCKET",
            description = "Unix socket of a supervisor, such as the snapshotter, that listens"
                    + " there while it asks for PUT /api/v1/daemon/fuse/sendfd or"
                    + " /api/v1/daemon/fuse/takeover. It keeps the mount's /dev/fuse descriptor"
                    + " and the daemon's states, so a successor can take the mount over after"
                    + " this daemon dies or is upgraded.")
    private Path supervisor;

    @Option(names = "--upgrade",
            description = "Take over the mount of a daemon that the --supervisor keeps instead"
                    + " of mounting: the daemon waits in state INIT for PUT"
                    + " /api/v1/daemon/fuse/takeover, which restores the images of the states,"
                    + " and serves from PUT /api/v1/daemon/start on. Give the options of the"
                    + " daemon taken over: --bootstrap then only tells a single-image mount from"
                    + " a shared one, as the images come from the states.")
    private boolean upgrade;

    @Option(names = "--failover-policy", defaultValue = "resend", paramLabel = "POLICY",
            description = "After a takeover: resend has the kernel queue again the requests"
                    + " that the previous daemon read and never answered (Linux 6.9 or later),"
                    + " so their callers get replies; none leaves them waiting"
                    + " (default: ${DEFAULT-VALUE}).")
    private String failoverPolicy;

    @Option(names = {"-l", "--log-level"}, defaultValue = "info", paramLabel = "LEVEL",
            converter = LogLevel.Name.class,
            description = "Log level: trace, debug, info, warn or error"
                    + " (default: ${DEFAULT-VALUE}).")
    private String logLevel;

    @Option(names = {"-L", "--log-file"}, paramLabel = "FILE",
            description = "Write the log to this file instead of standard error.")
    private Path logFile;

    @Option(names = "--log-rotation-size", defaultValue = "0", paramLabel = "MIB",
            description = "With --log-file, move the log to FILE.1.gz when it reaches this many"
                    + " MiB and start a new one, keeping the last 10 as FILE.1.gz to FILE.10.gz;"
                    + " 0 never rotates (default: ${DEFAULT-VALUE}).")
    private long logRotationMiB;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        checkOptions();
        if (logFile != null) {
            LogFile.redirect(logFile, logRotationMiB);
        }
        LogFile.level(logLevel);
        DaemonRunner.stopOnIgnoredSignals("nydusd");
        applyOpenFileLimit();
        String daemonId = id != null ? id : mountpoint.getFileName().toString();
        boolean shared = bootstrap == null || !virtualMountpoint.equals("/");
        if (upgrade) {
            // The mount waits for a server, so even a stat of it would hang until the takeover.
            try (Daemon daemon = new Daemon(daemonId, shared, StorageImageData::open)) {
                return serve(daemon);
            }
        }
        DaemonRunner.detachDeadMount(mountpoint);
        if (!Files.exists(mountpoint)) {
            throw new IllegalArgumentException("mountpoint " + mountpoint + " does not exist;"
                    + " create the directory first");
        }
        if (!Files.isDirectory(mountpoint)) {
            throw new IllegalArgumentException("mountpoint " + mountpoint
                    + " is not a directory");
        }
        List<String> prefetchFiles = readPrefetchList();
        try (Daemon daemon = new Daemon(daemonId, shared, StorageImageData::open)) {
            // Without a bootstrap, each mount request brings the configuration of its image.
            if (bootstrap != null) {
                daemon.mount(virtualMountpoint, bootstrap, readConfig(), prefetchFiles);
            }
            return serve(daemon);
        }
    }

    /** Rejects option values that picocli's types let through, as usage errors (exit 2). */
    private void checkOptions() {
        if (!mode.equals("fuse") && !mode.equals("singleton")) {
            throw usage("mode '" + mode + "' is not supported; use fuse or singleton (virtiofs,"
                    + " fscache and nbd need devices this build does not drive)");
        }
        if (fuseThreads < 1 || fuseThreads > MountOptions.MAX_WORKERS) {
            throw usage("--fuse-threads " + fuseThreads + " is outside 1.."
                    + MountOptions.MAX_WORKERS);
        }
        if (openFileLimit < 0) {
            throw usage("--rlimit-nofile " + openFileLimit + " is negative; give 0 to leave"
                    + " the limit unchanged");
        }
        if (logRotationMiB < 0 || logRotationMiB > MAX_LOG_ROTATION_MIB) {
            throw usage("--log-rotation-size " + logRotationMiB + " is outside 0.."
                    + MAX_LOG_ROTATION_MIB + " MiB");
        }
        if (!virtualMountpoint.equals("/") && !virtualMountpoint.matches("/[^/]+")) {
            throw usage("--virtual-mountpoint '" + virtualMountpoint + "' must be / or /NAME");
        }
        if (bootstrap == null && prefetchList != null) {
            throw usage("--prefetch-files needs --bootstrap");
        }
        if (upgrade && (supervisor == null || apiSocket == null)) {
            throw usage("--upgrade needs --supervisor, which keeps the mount, and --apisock,"
                    + " where the takeover is asked for");
        }
        parsePolicy();
        if (bootstrap == null && !virtualMountpoint.equals("/")) {
            throw usage("--virtual-mountpoint needs --bootstrap; without one, mount images with"
                    + " POST /api/v1/mount");
        }
        if (bootstrap != null && !upgrade && config == null && localfsDir == null) {
            throw usage("--bootstrap needs --config FILE, or --localfs-dir DIR for blobs in a"
                    + " directory");
        }
    }

    private FuseService.FailoverPolicy parsePolicy() {
        try {
            return FuseService.FailoverPolicy.parse(failoverPolicy);
        } catch (IllegalArgumentException e) {
            throw usage("--failover-policy: " + e.getMessage());
        }
    }

    private CommandLine.ParameterException usage(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    private void applyOpenFileLimit() throws IOException {
        if (openFileLimit == 0) {
            return;
        }
        long fileMax = Long.parseLong(
                Files.readAllLines(Path.of("/proc/sys/fs/file-max")).getFirst().trim());
        OpenFileLimit current = OpenFileLimit.current();
        OpenFileLimit target = openFileTarget(openFileLimit, fileMax, current);
        OpenFileLimit applied = applyOrKeepHard(target, current, Nydusd::trySet);
        if (applied.equals(target)) {
            LOG.info("set the open file limit to {} (requested {})", applied.soft(),
                    openFileLimit);
        } else {
            // Only a limit the user requested deserves a warning, as the default is a best effort.
            boolean requested = spec.commandLine().getParseResult()
                    .hasMatchedOption("--rlimit-nofile");
            String message = "raising the open file limit to {} is not permitted (it needs"
                    + " CAP_SYS_RESOURCE); set it to the hard limit {} instead";
            if (requested) {
                LOG.warn(message, target.soft(), applied.soft());
            } else {
                LOG.info(message, target.soft(), applied.soft());
            }
        }
    }

    /** Sets a limit, and returns false when the process may not raise the hard limit so far. */
    @FunctionalInterface
    interface LimitSetter {
        boolean trySet(OpenFileLimit limit) throws IOException;
    }

    /**
     * Sets {@code target}, or, when raising the hard limit is not permitted, raises the soft
     * limit as far as the current hard limit allows, which needs no privilege.
     *
     * @return the limit that was set
     */
    static OpenFileLimit applyOrKeepHard(OpenFileLimit target, OpenFileLimit current,
            LimitSetter setter) throws IOException {
        if (setter.trySet(target)) {
            return target;
        }
        OpenFileLimit fallback = new OpenFileLimit(Math.min(target.soft(), current.hard()),
                current.hard());
        if (!setter.trySet(fallback)) {
            throw new IOException("setting the open file limit to " + fallback.soft()
                    + " is not permitted; give --rlimit-nofile 0 to leave it unchanged");
        }
        return fallback;
    }

    private static boolean trySet(OpenFileLimit limit) throws IOException {
        try {
            limit.apply();
            return true;
        } catch (PosixException e) {
            if (e.errno() == Errno.EPERM) {
                return false;
            }
            throw new IOException(e.getMessage() + "; give --rlimit-nofile 0 to leave the"
                    + " limit unchanged", e);
        }
    }

    /**
     * Returns the limit for a request of {@code requested} descriptors: at most 1,000,000 and at
     * most {@code fileMax} minus a reserve left to other processes, unless the current soft
     * limit is already higher, in which case up to that.
     *
     * @throws IllegalArgumentException if {@code fileMax} leaves no room for the reserve
     */
    static OpenFileLimit openFileTarget(long requested, long fileMax, OpenFileLimit current) {
        if (fileMax < 2 * RESERVED_FILES) {
            throw new IllegalArgumentException("fs.file-max " + fileMax + " is below "
                    + 2 * RESERVED_FILES + ", too low to raise the open file limit; give"
                    + " --rlimit-nofile 0 to leave it unchanged");
        }
        long ceiling = Math.min(fileMax - RESERVED_FILES, MAX_OPEN_FILES);
        ceiling = Math.max(ceiling, current.soft());
        long limit = Math.min(requested, ceiling);
        return new OpenFileLimit(limit, limit);
    }

    private List<String> readPrefetchList() throws IOException {
        if (prefetchList == null) {
            return List.of();
        }
        if (!Files.isRegularFile(prefetchList)) {
            throw new IllegalArgumentException("--prefetch-files " + prefetchList
                    + " is not a file; give a file with one path inside the image per line");
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(prefetchList);
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("--prefetch-files " + prefetchList
                    + " is not UTF-8 text; give one path inside the image per line", e);
        }
        List<String> paths = new ArrayList<>();
        for (String line : lines) {
            if (!line.isBlank()) {
                paths.add(line.strip());
            }
        }
        return paths;
    }

    private int serve(Daemon daemon) throws IOException, InterruptedException {
        return DaemonRunner.serve(daemon, mountpoint, fuseThreads, apiSocket,
                new DaemonRunner.Handover(supervisor, upgrade, parsePolicy()));
    }

    private DaemonConfig readConfig() throws IOException {
        if (localfsDir != null) {
            if (!Files.isDirectory(localfsDir)) {
                throw new IllegalArgumentException("--localfs-dir " + localfsDir
                        + " is not a directory");
            }
            String json = "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\":"
                    + " {\"dir\": " + new com.fasterxml.jackson.databind.ObjectMapper()
                    .writeValueAsString(localfsDir.toAbsolutePath().toString()) + "}}}}";
            return DaemonConfig.parse("--localfs-dir", json);
        }
        return DaemonConfig.parse(config.toString(), Files.readString(config));
    }

    public static void main(String[] args) {
        System.exit(Cli.run(new Nydusd(), args));
    }
}
