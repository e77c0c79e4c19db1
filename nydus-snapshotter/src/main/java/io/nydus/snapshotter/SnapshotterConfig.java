package io.nydus.snapshotter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.nydus.registry.GoDuration;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshotter's settings, read from a {@code config.toml} with upstream
 * nydus-snapshotter's keys where they apply. Absent keys take the defaults below.
 *
 * @param root the directory of snapshots, daemon sockets, mounts and the cache
 * @param address the unix socket the snapshots gRPC service listens on
 * @param daemonMode one nydusd for all images, or one per image
 * @param nydusdConfig the nydusd v1 JSON config used as template for each image
 * @param nydusdPath the nydusd executable
 * @param mountTimeout how long starting a daemon and mounting an image may take
 * @param logLevel trace, debug, info, warn or error
 * @param metricsAddress {@code HOST:PORT} of the Prometheus endpoint, or empty for none
 * @param cacheDir where nydusd caches blob data; empty means {@code <root>/cache}
 * @param cacheDisabled whether the periodic garbage collection is off
 * @param gcPeriod how often unused blobs are freed from the cache
 * @param cacheLimitBytes the cache size above which unmounted blobs are evicted; 0 for none
 * @param criKeychain whether to serve the CRI image service as a proxy that remembers the
 *     credentials of each pull
 * @param imageServiceAddress the unix socket of containerd's CRI service the proxy forwards to
 * @param cleanupOnClose whether stopping the snapshotter also stops its daemons and unmounts
 *     their images; off by default, so that running containers keep their files
 * @param nydusdThreads the FUSE threads of each nydusd, or 0 for nydusd's default
 * @param recoverPolicy what happens when a nydusd dies
 * @param systemAddress the socket of the system API, such as the nydusd upgrade, or null for
 *     none
 * @param logToStdout whether each nydusd writes its log to the snapshotter's standard output
 *     instead of to {@code nydusd.log} in its daemon directory
 * @param nydusdLogRotationMiB the size in MiB at which a nydusd's log file is compressed and
 *     a new one started, or 0 to let it grow
 * @param mirrorsConfigDir the directory of registries' {@code hosts.toml} files in containerd's
 *     format, whose mirrors nydusd reads blobs from, or null for none
 * @param volatileOverlays whether every container's overlay is mounted with {@code volatile}
 */
public record SnapshotterConfig(Path root, Path address, DaemonMode daemonMode,
        Path nydusdConfig, Path nydusdPath, Duration mountTimeout, String logLevel,
        String metricsAddress, Path cacheDir, boolean cacheDisabled, Duration gcPeriod,
        long cacheLimitBytes, boolean criKeychain, Path imageServiceAddress,
        boolean cleanupOnClose, int nydusdThreads, RecoverPolicy recoverPolicy,
        Path systemAddress, boolean logToStdout, int nydusdLogRotationMiB,
        Path mirrorsConfigDir, boolean volatileOverlays) {

    public static final Path DEFAULT_ROOT =
            Path.of("/var/lib/containerd/io.containerd.snapshotter.v1.nydus");
    public static final Path DEFAULT_ADDRESS =
            Path.of("/run/containerd-nydus/containerd-nydus-grpc.sock");
    public static final Path DEFAULT_NYDUSD_CONFIG =
            Path.of("/etc/nydus/nydusd-config.fusedev.json");
    public static final Path DEFAULT_CONFIG = Path.of("/etc/nydus/config.toml");
    public static final Path DEFAULT_SYSTEM_ADDRESS =
            Path.of("/run/containerd-nydus/system.sock");

    private static final Logger LOG = LoggerFactory.getLogger(SnapshotterConfig.class);
    /** Upstream's default for {@code daemon.log_rotation_size}, in MiB. */
    private static final int DEFAULT_LOG_ROTATION_MIB = 100;
    /**
     * nydusd's limit on --log-rotation-size, 1 TiB, checked here so that a larger value fails
     * at start and not at every mount.
     */
    private static final int MAX_LOG_ROTATION_MIB = 1 << 20;
    /** nydusd's limit on --fuse-threads, which the FUSE server sets in MountOptions. */
    private static final int MAX_NYDUSD_THREADS = 64;
    private static final Set<String> SUPPORTED_TABLES = Set.of("daemon", "log", "metrics",
            "cache_manager", "remote", "remote.auth", "remote.mirrors_config", "snapshot",
            "system");
    private static final Set<String> SUPPORTED_KEYS = Set.of("version", "root", "address",
            "daemon_mode", "cleanup_on_close", "daemon.nydusd_config", "daemon.nydusd_path",
            "daemon.threads_number", "daemon.recover_policy", "daemon.log_rotation_size",
            "system.enable", "system.address",
            "daemon.mount_timeout", "log.level", "log.log_to_stdout", "metrics.address",
            "cache_manager.disable", "cache_manager.gc_period", "cache_manager.cache_dir",
            "cache_manager.disk_limit",
            "remote.auth.enable_cri_keychain", "remote.auth.image_service_address",
            "remote.mirrors_config.dir", "snapshot.enable_overlayfs_volatile");
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*([KMGT]i?B?|B)?",
            Pattern.CASE_INSENSITIVE);

    /** How many nydusd processes serve the images. */
    public enum DaemonMode {
        /** One nydusd for every image, each image a sub-mount of its FUSE root. */
        SHARED,
        /** One nydusd per image (upstream's {@code multiple}, alias {@code dedicated}). */
        MULTIPLE;

        static DaemonMode parse(String text) {
            return switch (text.toLowerCase(Locale.ROOT)) {
                case "shared" -> SHARED;
                case "multiple", "dedicated" -> MULTIPLE;
                default -> throw new IllegalArgumentException("invalid daemon_mode '" + text
                        + "': expected shared, multiple or dedicated");
            };
        }
    }

    /** The snapshotter's action when a nydusd process dies. */
    public enum RecoverPolicy {
        /** Nothing until the next mount, which starts a new daemon. */
        NONE,
        /** Start a new daemon at once and mount its images again in a new FUSE mount. */
        RESTART,
        /**
         * Start a new daemon that takes over the dead daemon's FUSE mount, whose descriptor the
         * snapshotter keeps, so running containers keep their files.
         */
        FAILOVER;

        static RecoverPolicy parse(String text) {
            return switch (text.toLowerCase(Locale.ROOT)) {
                case "none" -> NONE;
                case "restart" -> RESTART;
                case "failover" -> FAILOVER;
                default -> throw new IllegalArgumentException("invalid daemon.recover_policy '"
                        + text + "': expected none, restart or failover");
            };
        }
    }

    public SnapshotterConfig {
        requireAbsolute(root, "root");
        requireAbsolute(address, "address");
        if (mountTimeout.isNegative() || mountTimeout.isZero()) {
            throw new IllegalArgumentException("mount timeout must be positive: " + mountTimeout);
        }
        if (gcPeriod.isNegative() || gcPeriod.isZero()) {
            throw new IllegalArgumentException("gc_period must be positive: " + gcPeriod);
        }
        if (cacheLimitBytes < 0) {
            throw new IllegalArgumentException("cache size limit is negative: "
                    + cacheLimitBytes);
        }
        if (!logLevel.matches("trace|debug|info|warn|error")) {
            throw new IllegalArgumentException("invalid log level '" + logLevel
                    + "': expected trace, debug, info, warn or error");
        }
        cacheDir = cacheDir == null ? root.resolve("cache") : cacheDir;
        if (systemAddress != null) {
            requireAbsolute(systemAddress, "system.address");
        }
        if (mirrorsConfigDir != null) {
            requireAbsolute(mirrorsConfigDir, "remote.mirrors_config.dir");
        }
    }

    /** Returns the defaults, with {@code nydusd} looked up on the PATH. */
    public static SnapshotterConfig defaults() {
        return new SnapshotterConfig(DEFAULT_ROOT, DEFAULT_ADDRESS, DaemonMode.SHARED,
                DEFAULT_NYDUSD_CONFIG, Path.of("nydusd"), Duration.ofSeconds(30), "info", "",
                null, false, Duration.ofHours(24), 0, false,
                Path.of("/run/containerd/containerd.sock"), false, 0, RecoverPolicy.RESTART,
                null, false, DEFAULT_LOG_ROTATION_MIB, null, false);
    }

    /**
     * Reads {@code file} over the defaults.
     *
     * @throws IOException naming the file and the key if it is unreadable or a value invalid
     */
    public static SnapshotterConfig load(Path file) throws IOException {
        JsonNode toml;
        try {
            toml = new TomlMapper().readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new IOException("cannot read snapshotter config " + file + ": "
                    + e.getMessage(), e);
        }
        for (String key : unsupportedKeys(toml, "")) {
            LOG.warn("ignoring config key '{}' in {}: this snapshotter does not support it",
                    key, file);
        }
        try {
            return fromToml(toml);
        } catch (IllegalArgumentException e) {
            throw new IOException("invalid snapshotter config " + file + ": " + e.getMessage(),
                    e);
        }
    }

    /** Returns the dotted names of the keys in {@code node} that {@link #fromToml} ignores. */
    static List<String> unsupportedKeys(JsonNode node, String prefix) {
        List<String> result = new ArrayList<>();
        for (Map.Entry<String, JsonNode> entry : node.properties()) {
            String key = prefix + entry.getKey();
            if (entry.getValue().isObject() && SUPPORTED_TABLES.contains(key)) {
                result.addAll(unsupportedKeys(entry.getValue(), key + "."));
            } else if (!SUPPORTED_KEYS.contains(key)) {
                result.add(key);
            }
        }
        return result;
    }

    static SnapshotterConfig fromToml(JsonNode toml) {
        SnapshotterConfig d = defaults();
        Path root = path(toml, "root", d.root);
        JsonNode daemon = toml.path("daemon");
        JsonNode cache = toml.path("cache_manager");
        JsonNode auth = toml.path("remote").path("auth");
        String cacheDir = text(cache, "cache_dir", "");
        return new SnapshotterConfig(root, path(toml, "address", d.address),
                DaemonMode.parse(text(toml, "daemon_mode", "shared")),
                path(daemon, "nydusd_config", d.nydusdConfig),
                path(daemon, "nydusd_path", d.nydusdPath),
                duration(daemon, "mount_timeout", d.mountTimeout),
                text(toml.path("log"), "level", d.logLevel),
                text(toml.path("metrics"), "address", ""),
                cacheDir.isEmpty() ? null : Path.of(cacheDir),
                flag(cache, "cache_manager.disable"),
                duration(cache, "gc_period", d.gcPeriod),
                size(cache, "disk_limit"),
                flag(auth, "remote.auth.enable_cri_keychain"),
                path(auth, "image_service_address", d.imageServiceAddress),
                flag(toml, "cleanup_on_close"),
                threads(daemon),
                RecoverPolicy.parse(text(daemon, "recover_policy", "restart")),
                systemAddress(toml.path("system")),
                flag(toml.path("log"), "log.log_to_stdout"),
                logRotationMiB(daemon),
                path(toml.path("remote").path("mirrors_config"), "dir", null),
                flag(toml.path("snapshot"), "snapshot.enable_overlayfs_volatile"));
    }

    /** Reads the system socket's address, or null when {@code system.enable} is not true. */
    private static Path systemAddress(JsonNode system) {
        if (!flag(system, "system.enable")) {
            return null;
        }
        return path(system, "address", DEFAULT_SYSTEM_ADDRESS);
    }

    /**
     * Reads {@code daemon.threads_number}: 0 (nydusd's default) or 1 to 64, the most FUSE
     * threads that this project's nydusd serves (upstream's takes up to 1024).
     */
    private static int threads(JsonNode daemon) {
        JsonNode node = daemon.path("threads_number");
        if (node.isMissingNode()) {
            return 0;
        }
        if (!node.canConvertToInt() || node.asInt() < 0 || node.asInt() > MAX_NYDUSD_THREADS) {
            throw new IllegalArgumentException("daemon.threads_number " + node
                    + " is not a number from 0 to " + MAX_NYDUSD_THREADS);
        }
        return node.asInt();
    }

    /** Reads {@code daemon.log_rotation_size}: a whole number of MiB, 0 for no rotation. */
    private static int logRotationMiB(JsonNode daemon) {
        JsonNode node = daemon.path("log_rotation_size");
        if (node.isMissingNode()) {
            return DEFAULT_LOG_ROTATION_MIB;
        }
        if (!node.isIntegralNumber() || !node.canConvertToInt() || node.asInt() < 0
                || node.asInt() > MAX_LOG_ROTATION_MIB) {
            throw new IllegalArgumentException("daemon.log_rotation_size " + node
                    + " is not a number of MiB from 0 (no rotation) to "
                    + MAX_LOG_ROTATION_MIB + ", the most that nydusd accepts");
        }
        return node.asInt();
    }

    public SnapshotterConfig withRoot(Path value) {
        Copy copy = new Copy(this);
        copy.root = value;
        // A cache directory that followed the old root follows the new one.
        copy.cacheDir = cacheDir.equals(root.resolve("cache")) ? null : cacheDir;
        return copy.build();
    }

    public SnapshotterConfig withAddress(Path value) {
        Copy copy = new Copy(this);
        copy.address = value;
        return copy.build();
    }

    public SnapshotterConfig withNydusdConfig(Path value) {
        Copy copy = new Copy(this);
        copy.nydusdConfig = value;
        return copy.build();
    }

    public SnapshotterConfig withNydusdPath(Path value) {
        Copy copy = new Copy(this);
        copy.nydusdPath = value;
        return copy.build();
    }

    /**
     * Returns this config with {@code mode} as daemon mode.
     *
     * @throws IllegalArgumentException naming the mode if it is not shared, multiple or
     *     dedicated
     */
    public SnapshotterConfig withDaemonMode(String mode) {
        Copy copy = new Copy(this);
        copy.daemonMode = DaemonMode.parse(mode);
        return copy.build();
    }

    public SnapshotterConfig withLogLevel(String value) {
        Copy copy = new Copy(this);
        copy.logLevel = value;
        return copy.build();
    }

    public SnapshotterConfig withLogToStdout(boolean value) {
        Copy copy = new Copy(this);
        copy.logToStdout = value;
        return copy.build();
    }

    /** The components of a config, changed one at a time by the {@code with} methods. */
    private static final class Copy {
        Path root;
        Path address;
        DaemonMode daemonMode;
        Path nydusdConfig;
        Path nydusdPath;
        final Duration mountTimeout;
        String logLevel;
        final String metricsAddress;
        Path cacheDir;
        final boolean cacheDisabled;
        final Duration gcPeriod;
        final long cacheLimitBytes;
        final boolean criKeychain;
        final Path imageServiceAddress;
        final boolean cleanupOnClose;
        final int nydusdThreads;
        final RecoverPolicy recoverPolicy;
        final Path systemAddress;
        boolean logToStdout;
        final int nydusdLogRotationMiB;
        final Path mirrorsConfigDir;
        final boolean volatileOverlays;

        Copy(SnapshotterConfig c) {
            root = c.root;
            address = c.address;
            daemonMode = c.daemonMode;
            nydusdConfig = c.nydusdConfig;
            nydusdPath = c.nydusdPath;
            mountTimeout = c.mountTimeout;
            logLevel = c.logLevel;
            metricsAddress = c.metricsAddress;
            cacheDir = c.cacheDir;
            cacheDisabled = c.cacheDisabled;
            gcPeriod = c.gcPeriod;
            cacheLimitBytes = c.cacheLimitBytes;
            criKeychain = c.criKeychain;
            imageServiceAddress = c.imageServiceAddress;
            cleanupOnClose = c.cleanupOnClose;
            nydusdThreads = c.nydusdThreads;
            recoverPolicy = c.recoverPolicy;
            systemAddress = c.systemAddress;
            logToStdout = c.logToStdout;
            nydusdLogRotationMiB = c.nydusdLogRotationMiB;
            mirrorsConfigDir = c.mirrorsConfigDir;
            volatileOverlays = c.volatileOverlays;
        }

        SnapshotterConfig build() {
            return new SnapshotterConfig(root, address, daemonMode, nydusdConfig, nydusdPath,
                    mountTimeout, logLevel, metricsAddress, cacheDir, cacheDisabled, gcPeriod,
                    cacheLimitBytes, criKeychain, imageServiceAddress, cleanupOnClose,
                    nydusdThreads, recoverPolicy, systemAddress, logToStdout,
                    nydusdLogRotationMiB, mirrorsConfigDir, volatileOverlays);
        }
    }

    /** Returns the directory of the shared daemon's FUSE mount. */
    public Path sharedMountpoint() {
        return root.resolve("mnt");
    }

    private static void requireAbsolute(Path path, String key) {
        if (path == null || !path.isAbsolute()) {
            throw new IllegalArgumentException(key + " must be an absolute path: " + path);
        }
    }

    private static String text(JsonNode node, String key, String fallback) {
        JsonNode value = node.path(key);
        if (value.isMissingNode() || value.isNull()) {
            return fallback;
        }
        if (!value.isValueNode()) {
            throw new IllegalArgumentException("key '" + key + "' must be a string");
        }
        return value.asText();
    }

    /**
     * Reads the boolean {@code dottedKey}, whose last part is the key in {@code node}, or false
     * when it is missing. A string such as "yes" or a number is rejected, because reading it
     * as false would silently turn off the switch that the file meant to turn on.
     */
    private static boolean flag(JsonNode node, String dottedKey) {
        JsonNode value = node.path(dottedKey.substring(dottedKey.lastIndexOf('.') + 1));
        if (value.isMissingNode()) {
            return false;
        }
        if (!value.isBoolean()) {
            throw new IllegalArgumentException("key '" + dottedKey + "' must be true or false,"
                    + " not " + value);
        }
        return value.booleanValue();
    }

    private static Path path(JsonNode node, String key, Path fallback) {
        String text = text(node, key, "");
        return text.isEmpty() ? fallback : Path.of(text);
    }

    private static Duration duration(JsonNode node, String key, Duration fallback) {
        String text = text(node, key, "");
        try {
            return text.isEmpty() ? fallback : GoDuration.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("key '" + key + "': " + e.getMessage(), e);
        }
    }

    /** Parses a size such as {@code 1048576}, {@code 512MiB} or {@code 10GB} into bytes. */
    static long parseSize(String text) {
        Matcher matcher = SIZE.matcher(text.strip());
        if (!matcher.matches()) {
            throw new IllegalArgumentException("invalid size '" + text
                    + "': expected bytes or a number with KiB, MiB, GiB or TiB");
        }
        long value = Long.parseLong(matcher.group(1));
        String unit = matcher.group(2) == null ? "" : matcher.group(2).toUpperCase(Locale.ROOT);
        int shift = unit.isEmpty() || unit.equals("B") ? 0 : switch (unit.charAt(0)) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            default -> 40;
        };
        if (Long.numberOfLeadingZeros(value) <= shift) {
            throw new IllegalArgumentException("size '" + text + "' is too large");
        }
        return value << shift;
    }

    private static long size(JsonNode node, String key) {
        String text = text(node, key, "");
        try {
            return text.isEmpty() ? 0 : parseSize(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("key '" + key + "': " + e.getMessage(), e);
        }
    }
}
