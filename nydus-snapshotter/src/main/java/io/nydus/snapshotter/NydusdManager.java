package io.nydus.snapshotter;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.posix.BytePath;
import io.nydus.posix.FileTrees;
import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.snapshotter.SnapshotException.Reason;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts nydusd processes and mounts Nydus images through their HTTP API. Each daemon runs in
 * shared mode (started without a bootstrap) and mounts images below its FUSE mount point with
 * {@code POST /api/v1/mount?mountpoint=/<id>}: one daemon for every image, or one per image.
 *
 * <p>A daemon outlives the snapshotter, so running containers keep their files across a
 * restart; its pid file and API socket under {@code <root>/socket/<daemon>/} let the next
 * snapshotter process attach to it again.
 */
public final class NydusdManager implements ImageMounter {
    private static final Logger LOG = LoggerFactory.getLogger(NydusdManager.class);
    private static final Pattern BLOB_ID = Pattern.compile("[0-9a-f]{64}");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SHARED = "shared";
    private static final String LOG_FILE = "nydusd.log";
    private static final Duration POLL = Duration.ofMillis(50);

    private final SnapshotterConfig config;
    private final DaemonConfigs configs;
    private final Metrics metrics;
    private final Map<String, Daemon> daemons = new HashMap<>();
    /** The daemon that serves each mounted image, by bootstrap snapshot id. */
    private final Map<Long, Daemon> mounted = new HashMap<>();
    /** Each mounted image, by bootstrap snapshot id, to mount it again after a restart. */
    private final Map<Long, NydusImage> images = new HashMap<>();
    /** The supervisor of each daemon, by daemon name, with the failover policy only. */
    private final Map<String, Supervisor> supervisors = new HashMap<>();
    private final PrefetchLists prefetchLists = new PrefetchLists();
    /** Handles the exits of daemons, one at a time, outside the threads that wait for them. */
    private final ExecutorService exits = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("nydusd-exit").factory());
    /** The nydusd executable for new daemons, which an upgrade replaces. */
    private Path nydusdPath;

    /** Returns the command line of a nydusd, started without a bootstrap as every one here is. */
    static List<String> nydusdCommand(SnapshotterConfig config, Path socket, Path mountpoint,
            Path daemonConfig) {
        return nydusdCommand(config.nydusdPath(), config, socket, mountpoint, daemonConfig);
    }

    private static List<String> nydusdCommand(Path nydusd, SnapshotterConfig config,
            Path socket, Path mountpoint, Path daemonConfig) {
        List<String> command = new ArrayList<>(List.of(nydusd.toString(),
                "--apisock", socket.toString(), "--mountpoint", mountpoint.toString(),
                "--config", daemonConfig.toString(), "--log-level", config.logLevel()));
        if (config.nydusdThreads() > 0) {
            command.addAll(List.of("--thread-num", Integer.toString(config.nydusdThreads())));
        }
        if (!config.logToStdout()) {
            // nydusd writes the log itself, so that it can rotate the file. What it prints
            // outside the log, such as an invalid option, reaches the same file through the
            // redirection of its output, which nydusd moves to the new file at each rotation.
            command.addAll(List.of("--log-file", socket.resolveSibling(LOG_FILE).toString(),
                    "--log-rotation-size", Integer.toString(config.nydusdLogRotationMiB())));
        }
        return command;
    }

    /** Adds the options that let a daemon hand its mount to {@code supervisor}'s keeping. */
    static List<String> withSupervisor(List<String> command, String name, Path supervisor,
            boolean upgrade) {
        List<String> result = new ArrayList<>(command);
        result.addAll(List.of("--id", name, "--supervisor", supervisor.toString()));
        if (upgrade) {
            result.add("--upgrade");
        }
        return result;
    }

    /** A running nydusd: its name, API client, FUSE mount point and process id. */
    private record Daemon(String name, NydusdClient client, Path mountpoint, long pid) {
    }

    public NydusdManager(SnapshotterConfig config, DaemonConfigs configs, Metrics metrics) {
        this.config = config;
        this.configs = configs;
        this.metrics = metrics;
        this.nydusdPath = config.nydusdPath();
        metrics.exportDaemonsWith(() -> DaemonExporter.render(servedDaemons(),
                java.time.Instant.now().getEpochSecond()));
    }

    /** Returns each running daemon with the reference of each image it serves. */
    synchronized List<DaemonExporter.ServedDaemon> servedDaemons() {
        Map<String, Map<String, String>> references = new HashMap<>();
        mounted.forEach((id, daemon) -> {
            NydusImage image = images.get(id);
            if (image != null) {
                references.computeIfAbsent(daemon.name(), name -> new HashMap<>())
                        .put("/" + image.mountId(), image.reference().toString());
            }
        });
        List<DaemonExporter.ServedDaemon> served = new ArrayList<>();
        for (Daemon daemon : daemons.values()) {
            served.add(new DaemonExporter.ServedDaemon(daemon.name(), daemon.pid(),
                    daemon.client(), references.getOrDefault(daemon.name(), Map.of())));
        }
        return served;
    }

    @Override
    public Path mount(NydusImage image) throws SnapshotException {
        Path path = mountLocked(image);
        // Outside the lock: a look into a mount whose daemon just died waits for the
        // successor, which the exit handling starts under the lock.
        awaitVisible(path, image, System.nanoTime() + config.mountTimeout().toNanos());
        return path;
    }

    /** Mounts the image unless its daemon serves it already. Never touches the FUSE mount. */
    private synchronized Path mountLocked(NydusImage image) throws SnapshotException {
        // The time waited for the lock, say behind an upgrade, does not count.
        long deadline = System.nanoTime() + config.mountTimeout().toNanos();
        Daemon known = mounted.get(image.snapshotId());
        if (known != null && isDead(known)) {
            onExit(known);
            known = mounted.get(image.snapshotId());
        }
        if (known != null && respondsBefore(known, deadline)) {
            if (servesBefore(known, image, deadline)) {
                return known.mountpoint().resolve(image.mountId());
            }
            LOG.warn("Nydus image {} ({}) is no longer mounted by nydusd {}; mounting it"
                    + " again", image.mountId(), image.reference(), known.name());
            mounted.remove(image.snapshotId());
            metrics.mountedImages(mounted.size());
        } else if (known != null) {
            forget(known);
        }
        Daemon daemon = ensureDaemon(daemonName(image), deadline);
        mountImage(daemon, image, deadline);
        return daemon.mountpoint().resolve(image.mountId());
    }

    /**
     * Returns whether the daemon lists the image, asking again while its process lives.
     *
     * @throws SnapshotException if a live daemon sent no list before the deadline: the image
     *     may still be in use through it, so it is neither mounted again nor dropped
     */
    private static boolean servesBefore(Daemon daemon, NydusImage image, long deadline)
            throws SnapshotException {
        Optional<Set<String>> ids = servedMountIds(daemon, deadline,
                "image " + image.mountId());
        if (ids.isPresent()) {
            return ids.get().contains(image.mountId());
        }
        LOG.warn("nydusd {} (pid {}) did not list its images, so Nydus image {} ({}) is neither"
                + " mounted again nor dropped; its mount fails", daemon.name(), daemon.pid(),
                image.mountId(), image.reference());
        throw new SnapshotException(Reason.UNAVAILABLE, "nydusd " + daemon.name() + " (pid "
                + daemon.pid() + ") did not list its images within the mount timeout, so"
                + " whether it still serves Nydus image " + image.mountId() + " ("
                + image.reference() + ") is unknown; retry the mount");
    }

    /**
     * Returns the ids of the images that the daemon lists, asking again while it lives.
     * {@code purpose} names what the list decides, such as the image checked, for the log.
     */
    private static Optional<Set<String>> servedMountIds(Daemon daemon, long deadline,
            String purpose) {
        return ServedImages.await(daemon.name(), daemon.pid(), daemon.client(), deadline,
                purpose);
    }

    /**
     * Waits until the image's directory shows in the daemon's FUSE mount, so that containerd
     * never mounts an overlay over a lower directory that is not there yet.
     */
    private static void awaitVisible(Path path, NydusImage image, long deadline)
            throws SnapshotException {
        while (!Files.isDirectory(path)) {
            if (System.nanoTime() > deadline) {
                throw new SnapshotException(Reason.UNAVAILABLE, "Nydus image "
                        + image.reference() + " was mounted, but " + path + " did not appear"
                        + " within the mount timeout");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SnapshotException(Reason.UNAVAILABLE, "interrupted while waiting for "
                        + path, e);
            }
        }
    }

    @Override
    public synchronized void unmount(long snapshotId) throws SnapshotException {
        Daemon daemon = mounted.remove(snapshotId);
        images.remove(snapshotId);
        if (daemon == null) {
            return;
        }
        String id = Long.toString(snapshotId);
        // A daemon of the other mode can serve images since a daemon_mode change, so the
        // daemon's name, not the configured mode, decides whether it serves this image alone.
        if (!daemon.name().equals(SHARED)) {
            if (!isDead(daemon)) {
                sendUnmount(daemon, id);
            }
            stop(daemon);
        } else if (isDead(daemon)) {
            // Its successor restores the image from the states, then drops it after the
            // takeover, as it does for states sent before any other unmount.
            LOG.info("nydusd {} (pid {}) is dead; its successor unmounts image {}",
                    daemon.name(), daemon.pid(), id);
        } else {
            sendUnmount(daemon, id);
            fetchStates(daemon);
            if (config.daemonMode() == SnapshotterConfig.DaemonMode.MULTIPLE
                    && !mounted.containsValue(daemon)) {
                stop(daemon);
            }
        }
        metrics.mountedImages(mounted.size());
        LOG.info("unmounted Nydus image {} from nydusd {}", id, daemon.name());
    }

    /** Sends the DELETE of image {@code id}, and returns whether the daemon sent a response. */
    private boolean sendUnmount(Daemon daemon, String id) {
        try {
            NydusdClient.Response response = daemon.client().send("DELETE",
                    "/api/v1/mount?mountpoint=/" + id, null, config.mountTimeout());
            if (!response.ok()) {
                LOG.warn("nydusd {} refused to unmount image {}: {} {}", daemon.name(), id,
                        response.status(), response.body());
            }
            return true;
        } catch (IOException e) {
            LOG.warn("failed to unmount image {} from nydusd {}: {}", id, daemon.name(),
                    e.getMessage());
            return false;
        }
    }

    @Override
    public synchronized void recover(Collection<NydusImage> images) {
        adoptOtherModeDaemons(images);
        // One list per daemon, so that a daemon that never lists its images delays the
        // recovery by one mount timeout, not by one per image.
        Map<Daemon, Optional<Set<String>>> lists = new HashMap<>();
        for (NydusImage image : images) {
            if (mounted.containsKey(image.snapshotId())) {
                continue;
            }
            try {
                recoverImage(image, lists);
            } catch (SnapshotException e) {
                LOG.error("failed to recover Nydus image {} ({}): {}", image.mountId(),
                        image.reference(), e.getMessage());
            }
        }
        stopIdleDaemons();
        unmountIdleImages(lists);
    }

    /** Re-attaches the image to its daemon if the daemon lists it, else mounts it again. */
    private void recoverImage(NydusImage image, Map<Daemon, Optional<Set<String>>> lists)
            throws SnapshotException {
        long deadline = System.nanoTime() + config.mountTimeout().toNanos();
        Daemon daemon = ensureDaemon(daemonName(image), deadline);
        Optional<Set<String>> served = lists.computeIfAbsent(daemon,
                key -> servedMountIds(key, deadline, "the images to recover"));
        if (served.isEmpty()) {
            // A second mount at the same path would fail if the daemon serves it, and the next
            // mount of the image checks the daemon again.
            LOG.warn("nydusd {} (pid {}) did not list its images; taking Nydus image {} ({}) as"
                    + " mounted", daemon.name(), daemon.pid(), image.mountId(),
                    image.reference());
            reattach(daemon, image);
        } else if (served.get().contains(image.mountId())) {
            reattach(daemon, image);
        } else {
            mountImage(daemon, image, deadline);
        }
    }

    /**
     * Unmounts the images that a restart finds the shared daemon serving although no container
     * uses them, as images stay mounted after their containers end. Untracked, such an image
     * could not be mounted for its next container, because the daemon rejects a second mount
     * at the same path, and its files would stay open after containerd removes it.
     * {@code lists} contains the image lists that the recovery took, which miss only images
     * mounted since, and those are in use.
     */
    private void unmountIdleImages(Map<Daemon, Optional<Set<String>>> lists) {
        Daemon daemon = daemons.get(SHARED);
        if (daemon == null && config.daemonMode() == SnapshotterConfig.DaemonMode.SHARED) {
            daemon = attach(SHARED, mountDeadline()).orElse(null);
            if (daemon != null) {
                daemons.put(SHARED, daemon);
                watch(daemon);
                fetchStates(daemon);
            }
        }
        if (daemon == null) {
            return;
        }
        Set<String> tracked = new HashSet<>();
        for (Map.Entry<Long, Daemon> entry : mounted.entrySet()) {
            if (entry.getValue() == daemon) {
                tracked.add(Long.toString(entry.getKey()));
            }
        }
        Optional<Set<String>> served = lists.computeIfAbsent(daemon,
                key -> servedMountIds(key, mountDeadline(), "the images that no container uses"));
        if (served.isEmpty()) {
            LOG.warn("nydusd {} (pid {}) did not list its images; it keeps the images that no"
                    + " container uses", daemon.name(), daemon.pid());
            return;
        }
        boolean unmounted = false;
        for (String id : served.get()) {
            if (!tracked.contains(id)) {
                LOG.info("unmounting Nydus image {} from nydusd {}: no container uses it", id,
                        daemon.name());
                unmounted |= sendUnmount(daemon, id);
            }
        }
        if (unmounted) {
            fetchStates(daemon);
        }
    }

    /**
     * Stops the per-image daemons that a restart in multiple mode finds running for images
     * that no container uses. Untracked, such a daemon would reject the next mount of its
     * image as a duplicate, and its pid file would outlive it. Once it is stopped, the next
     * container of the image mounts it again.
     */
    private void stopIdleDaemons() {
        if (config.daemonMode() != SnapshotterConfig.DaemonMode.MULTIPLE) {
            return;
        }
        for (String name : perImageDaemonNames()) {
            if (daemons.containsKey(name)) {
                continue;
            }
            attach(name, mountDeadline()).ifPresent(daemon -> {
                LOG.info("stopping nydusd {} (pid {}): it serves no image in use", name,
                        daemon.pid());
                stop(daemon);
            });
        }
    }

    private void reattach(Daemon daemon, NydusImage image) {
        mounted.put(image.snapshotId(), daemon);
        this.images.put(image.snapshotId(), image);
        metrics.mountedImages(mounted.size());
        LOG.info("re-attached Nydus image {} ({}) served by nydusd {}", image.mountId(),
                image.reference(), daemon.name());
    }

    /**
     * Attaches to the running daemons of the other daemon mode, which a change of daemon_mode
     * leaves behind under running containers. The images in use that such a daemon serves stay
     * with it until they are unmounted, and a daemon that serves none of them is stopped.
     */
    private void adoptOtherModeDaemons(Collection<NydusImage> images) {
        for (String name : otherModeDaemonNames()) {
            Optional<Daemon> found = attach(name, mountDeadline());
            if (found.isEmpty()) {
                continue;
            }
            Daemon daemon = found.get();
            daemons.put(name, daemon);
            watch(daemon);
            fetchStates(daemon);
            Optional<Set<String>> served = servedMountIds(daemon, mountDeadline(),
                    "the images in use that it serves");
            if (served.isEmpty()) {
                LOG.warn("nydusd {} (pid {}), left by the other daemon mode, did not list its"
                        + " images; it keeps running", name, daemon.pid());
                continue;
            }
            for (NydusImage image : images) {
                if (served.get().contains(image.mountId())) {
                    reattach(daemon, image);
                }
            }
            if (!mounted.containsValue(daemon)) {
                LOG.info("stopping nydusd {} (pid {}), left by the other daemon mode: it"
                        + " serves no image in use", name, daemon.pid());
                stop(daemon);
            }
        }
    }

    /** Returns the names of daemon directories that the configured daemon mode never uses. */
    private List<String> otherModeDaemonNames() {
        if (config.daemonMode() == SnapshotterConfig.DaemonMode.MULTIPLE) {
            return List.of(SHARED);
        }
        return perImageDaemonNames();
    }

    /** Returns the names of the daemon directories of multiple mode, one per image. */
    private List<String> perImageDaemonNames() {
        Path sockets = config.root().resolve("socket");
        if (!Files.isDirectory(sockets)) {
            return List.of();
        }
        try (Stream<Path> dirs = Files.list(sockets)) {
            return dirs.map(dir -> dir.getFileName().toString())
                    .filter(name -> !name.equals(SHARED)).sorted().toList();
        } catch (IOException e) {
            LOG.warn("failed to list the daemon directories in {}: {}", sockets, e.toString());
            return List.of();
        }
    }

    /**
     * Sets the prefetch lists that the next mounts of their images take, from a body of
     * {@code PUT /api/v1/prefetch}.
     *
     * @return how many images the body named
     * @throws IllegalArgumentException naming the entry that is not an image and a file
     */
    public int setPrefetchLists(String body) {
        return prefetchLists.set(body);
    }

    @Override
    public synchronized List<Long> mountedImages() {
        return List.copyOf(mounted.keySet());
    }

    @Override
    public synchronized void close() {
        exits.shutdownNow();
        if (!config.cleanupOnClose()) {
            LOG.info("leaving {} nydusd process(es) running for their containers",
                    daemons.size());
            return;
        }
        for (Long id : new ArrayList<>(mounted.keySet())) {
            try {
                unmount(id);
            } catch (SnapshotException e) {
                LOG.warn("failed to unmount image {}: {}", id, e.getMessage());
            }
        }
        for (Daemon daemon : new ArrayList<>(daemons.values())) {
            stop(daemon);
        }
    }

    /**
     * Forgets a daemon that stopped responding, and the images it served, so that the next
     * mount starts a new daemon. The new daemon detaches the dead FUSE mount first.
     */
    private void forget(Daemon daemon) {
        LOG.warn("nydusd {} (pid {}) no longer responds; it is started again for the next"
                + " mount", daemon.name(), daemon.pid());
        daemons.remove(daemon.name());
        mounted.values().removeIf(d -> d.name().equals(daemon.name()));
        images.keySet().retainAll(mounted.keySet());
        metrics.mountedImages(mounted.size());
        closeSupervisor(daemon.name());
    }

    private String daemonName(NydusImage image) {
        return config.daemonMode() == SnapshotterConfig.DaemonMode.SHARED ? SHARED
                : image.mountId();
    }

    private Path daemonDir(String name) {
        return config.root().resolve("socket").resolve(name);
    }

    private Path daemonMountpoint(String name) {
        return name.equals(SHARED) ? config.sharedMountpoint()
                : config.root().resolve("snapshots").resolve(name).resolve("mnt");
    }

    private void mountImage(Daemon daemon, NydusImage image, long deadline)
            throws SnapshotException {
        installChunkTables(image);
        String imageConfig = configs.imageConfig(image);
        ObjectNode body = JSON.createObjectNode();
        body.put("source", image.bootstrap().toString());
        body.put("fs_type", "rafs");
        body.put("config", imageConfig);
        Optional<List<String>> prefetch = prefetchLists.take(image.reference());
        if (prefetch.isPresent()) {
            LOG.info("Nydus image {} prefetches the {} path(s) of its prefetch list first",
                    image.reference(), prefetch.get().size());
            ArrayNode files = body.putArray("prefetch_files");
            prefetch.get().forEach(files::add);
        }
        NydusdClient.Response response;
        try {
            response = daemon.client().send("POST", "/api/v1/mount?mountpoint=/"
                    + image.mountId(), body.toString(), remaining(deadline, image));
        } catch (IOException e) {
            throw new SnapshotException(Reason.UNAVAILABLE, "failed to mount Nydus image "
                    + image.reference() + ": " + e.getMessage(), e);
        }
        if (!response.ok()) {
            throw new SnapshotException(Reason.FAILED_PRECONDITION, "nydusd " + daemon.name()
                    + " failed to mount Nydus image " + image.reference() + " (HTTP "
                    + response.status() + "): " + response.errorMessage());
        }
        mounted.put(image.snapshotId(), daemon);
        images.put(image.snapshotId(), image);
        metrics.imageMounted();
        metrics.mountedImages(mounted.size());
        LOG.info("mounted Nydus image {} lazily at {} (nydusd {}, {} blob(s))",
                image.reference(), daemon.mountpoint().resolve(image.mountId()),
                daemon.name(), image.blobIds().size());
        fetchStates(daemon);
    }

    /**
     * Copies the chunk tables that the bootstrap layer carries ({@code image/<blob
     * id>.blob.meta}) into the blob cache, where nydusd reads them instead of fetching them
     * from each blob. A table that is missing or cannot be copied is fetched by nydusd.
     */
    private void installChunkTables(NydusImage image) {
        Path dir = image.bootstrap().getParent();
        for (String blobId : image.blobIds()) {
            if (!BLOB_ID.matcher(blobId).matches()) {
                continue;
            }
            Path table = dir.resolve(blobId + BlobMetaFile.SUFFIX);
            try {
                if (Files.isRegularFile(table, LinkOption.NOFOLLOW_LINKS)) {
                    BlobMetaFile.install(table, configs.cacheDir());
                }
            } catch (IOException e) {
                LOG.warn("cannot copy the chunk table of blob {} into the cache: {}", blobId,
                        e.getMessage());
            }
        }
    }

    private Daemon ensureDaemon(String name, long deadline) throws SnapshotException {
        Daemon known = daemons.get(name);
        if (known != null && isDead(known)) {
            // The recovery runs here when a mount comes before the exit watcher.
            onExit(known);
            known = daemons.get(name);
        }
        if (known != null && respondsBefore(known, deadline)) {
            return known;
        }
        Optional<Daemon> attached = attach(name, deadline);
        if (attached.isPresent()) {
            daemons.put(name, attached.get());
            watch(attached.get());
            fetchStates(attached.get());
            return attached.get();
        }
        Daemon started = start(name, deadline);
        daemons.put(name, started);
        watch(started);
        fetchStates(started);
        return started;
    }

    private Optional<Daemon> attach(String name, long deadline) {
        Path dir = daemonDir(name);
        NydusdClient client = new NydusdClient(dir.resolve("api.sock"));
        if (!Files.exists(client.socket())) {
            return Optional.empty();
        }
        long pid = readPid(dir.resolve("nydusd.pid"));
        Daemon daemon = new Daemon(name, client, daemonMountpoint(name), pid);
        if (!respondsBefore(daemon, deadline)) {
            return Optional.empty();
        }
        LOG.info("attached to running nydusd {} (pid {})", name, pid);
        return Optional.of(daemon);
    }

    private long mountDeadline() {
        return System.nanoTime() + config.mountTimeout().toNanos();
    }

    private static boolean responds(NydusdClient client) {
        return "RUNNING".equals(state(client));
    }

    /**
     * Returns whether the daemon's API reports RUNNING before {@code deadline}. While its
     * process lives, the API is asked again until then. A loaded machine or a long garbage
     * collection can delay a reply past one request's timeout, and replacing a daemon taken
     * for dead detaches its FUSE mount under running containers. A daemon whose pid is not
     * known gets one request.
     */
    private static boolean respondsBefore(Daemon daemon, long deadline) {
        boolean first = true;
        while (!responds(daemon.client())) {
            if (daemon.pid() <= 0 || isDead(daemon) || System.nanoTime() >= deadline) {
                return false;
            }
            if (first) {
                LOG.info("nydusd {} (pid {}) runs but did not reply to its API; waiting for it"
                        + " up to the mount timeout", daemon.name(), daemon.pid());
                first = false;
            }
            try {
                Thread.sleep(POLL);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /** Returns the state the daemon's API reports, or "" when the API does not respond. */
    private static String state(NydusdClient client) {
        try {
            NydusdClient.Response response = client.send("GET", "/api/v1/daemon", null,
                    Duration.ofSeconds(2));
            return response.ok() ? JSON.readTree(response.body()).path("state").asText() : "";
        } catch (IOException e) {
            return "";
        }
    }

    private Daemon start(String name, long deadline) throws SnapshotException {
        Path dir = daemonDir(name);
        Path mountpoint = daemonMountpoint(name);
        Process process;
        DaemonLog log;
        try {
            Files.createDirectories(dir);
            // A dead daemon's FUSE mount fails every access, so it goes before anything else.
            if (MountTable.isMountpoint(mountpoint)) {
                LOG.warn("detaching the stale mount at {} that a dead nydusd left", mountpoint);
                MountTable.detach(mountpoint);
            }
            Files.createDirectories(mountpoint);
            Files.deleteIfExists(dir.resolve("api.sock"));
            Path daemonConfig = dir.resolve("config.json");
            StateFiles.write(daemonConfig,
                    configs.daemonConfig().getBytes(StandardCharsets.UTF_8));
            List<String> command = nydusdCommand(nydusdPath, config, dir.resolve("api.sock"),
                    mountpoint, daemonConfig);
            if (config.recoverPolicy() == SnapshotterConfig.RecoverPolicy.FAILOVER) {
                command = withSupervisor(command, name, supervisor(name).socket(), false);
            }
            log = daemonLog(dir);
            process = log.redirect(new ProcessBuilder(command)).start();
        } catch (IOException e) {
            throw new SnapshotException(Reason.UNAVAILABLE, "failed to start nydusd "
                    + nydusdPath + " for daemon " + name + ": " + e, e);
        }
        try {
            writePidFile(dir, process);
        } catch (IOException e) {
            throw new SnapshotException(Reason.UNAVAILABLE, e.getMessage(), e);
        }
        metrics.daemonStarted();
        LOG.info("started nydusd {} (pid {}) at {}", name, process.pid(), mountpoint);
        Daemon daemon = new Daemon(name, new NydusdClient(dir.resolve("api.sock")), mountpoint,
                process.pid());
        awaitRunning(daemon, process, log, deadline);
        return daemon;
    }

    private void awaitRunning(Daemon daemon, Process process, DaemonLog log, long deadline)
            throws SnapshotException {
        awaitState(daemon, process, log, deadline, "RUNNING");
    }

    private void awaitState(Daemon daemon, Process process, DaemonLog log, long deadline,
            String expected) throws SnapshotException {
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new SnapshotException(Reason.UNAVAILABLE, "nydusd " + daemon.name()
                        + " exited with status " + process.exitValue() + " during start: "
                        + log.tail());
            }
            if (Files.exists(daemon.client().socket())
                    && expected.equals(state(daemon.client()))) {
                return;
            }
            try {
                Thread.sleep(POLL);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        process.destroyForcibly();
        throw new SnapshotException(Reason.DEADLINE_EXCEEDED, "nydusd " + daemon.name()
                + " did not start within " + config.mountTimeout().toSeconds() + " s: "
                + log.tail());
    }

    /** Returns whether the daemon's process has ended, or false when its pid is not known. */
    private static boolean isDead(Daemon daemon) {
        return daemon.pid() > 0 && ProcessHandle.of(daemon.pid())
                .map(process -> !process.isAlive()).orElse(true);
    }

    /** Returns the supervisor of daemon {@code name}, made on first use. */
    private Supervisor supervisor(String name) {
        return supervisors.computeIfAbsent(name, key -> new Supervisor(key,
                config.root().resolve("supervisor").resolve(key + ".sock")));
    }

    private void closeSupervisor(String name) {
        Supervisor supervisor = supervisors.remove(name);
        if (supervisor != null) {
            supervisor.close();
        }
    }

    /**
     * With the failover policy, has the daemon send its states and FUSE descriptor to its
     * supervisor, which keeps them for a successor. Called after each change of its mounts.
     */
    private void fetchStates(Daemon daemon) {
        if (config.recoverPolicy() != SnapshotterConfig.RecoverPolicy.FAILOVER) {
            return;
        }
        try {
            supervisor(daemon.name()).fetch(() -> put(daemon, "/api/v1/daemon/fuse/sendfd"),
                    config.mountTimeout());
        } catch (IOException e) {
            LOG.warn("nydusd {} (pid {}) did not hand its mount to the snapshotter: {}. If it"
                    + " dies, it is restarted instead of taken over", daemon.name(),
                    daemon.pid(), e.getMessage());
        }
    }

    private void put(Daemon daemon, String path) throws IOException {
        NydusdClient.Response response = daemon.client().send("PUT", path, null,
                config.mountTimeout());
        if (!response.ok()) {
            throw new IOException("PUT " + path + " to nydusd " + daemon.name() + " returned"
                    + " HTTP " + response.status() + ": " + response.errorMessage());
        }
    }

    /** Runs {@link #onExit} when the daemon's process ends. */
    private void watch(Daemon daemon) {
        if (daemon.pid() <= 0) {
            LOG.warn("nydusd {} has no pid file, so its exit is noticed only at the next mount",
                    daemon.name());
            return;
        }
        Optional<ProcessHandle> process = ProcessHandle.of(daemon.pid());
        if (process.isEmpty()) {
            exits.execute(() -> onExit(daemon));
            return;
        }
        process.get().onExit().thenRunAsync(() -> onExit(daemon), exits);
    }

    /**
     * Recovers from the death of a daemon that was not stopped on purpose, by the recover
     * policy: nothing until the next mount, a restart that mounts its images again, or a
     * successor that takes its FUSE mount over.
     */
    private synchronized void onExit(Daemon dead) {
        if (daemons.get(dead.name()) != dead) {
            return;
        }
        LOG.warn("nydusd {} (pid {}) exited; recover policy {}", dead.name(), dead.pid(),
                config.recoverPolicy().name().toLowerCase(java.util.Locale.ROOT));
        switch (config.recoverPolicy()) {
            case NONE -> forget(dead);
            case RESTART -> restart(dead);
            case FAILOVER -> failover(dead);
        }
    }

    private void restart(Daemon dead) {
        List<NydusImage> served = new ArrayList<>();
        mounted.forEach((id, daemon) -> {
            if (daemon.name().equals(dead.name()) && images.containsKey(id)) {
                served.add(images.get(id));
            }
        });
        forget(dead);
        long deadline = System.nanoTime() + config.mountTimeout().toNanos();
        try {
            Daemon daemon = ensureDaemon(dead.name(), deadline);
            for (NydusImage image : served) {
                mountImage(daemon, image, System.nanoTime() + config.mountTimeout().toNanos());
            }
            LOG.info("restarted nydusd {} (pid {}) and mounted its {} image(s) again; running"
                    + " containers of the old mount lost their files", daemon.name(),
                    daemon.pid(), served.size());
        } catch (SnapshotException e) {
            LOG.error("failed to restart nydusd {}: {}", dead.name(), e.getMessage());
        }
    }

    private void failover(Daemon dead) {
        Supervisor supervisor = supervisors.get(dead.name());
        if (supervisor == null || !supervisor.hasStates()) {
            LOG.warn("the snapshotter has no states of nydusd {}; restarting it", dead.name());
            restart(dead);
            return;
        }
        Daemon successor;
        try {
            successor = takeOver(dead, supervisor, nydusdPath);
        } catch (IOException | SnapshotException e) {
            LOG.error("nydusd {} could not be taken over: {}; restarting it", dead.name(),
                    e.getMessage());
            restart(dead);
            return;
        }
        daemons.put(dead.name(), successor);
        mounted.replaceAll((id, daemon) -> daemon.name().equals(dead.name()) ? successor
                : daemon);
        metrics.daemonStarted();
        LOG.info("nydusd {} (pid {}) took over the mount at {} from pid {}", successor.name(),
                successor.pid(), successor.mountpoint(), dead.pid());
        watch(successor);
        dropForgottenImages(successor);
        fetchStates(successor);
    }

    /**
     * Unmounts the images that a shared successor restored from states older than the
     * snapshotter's last unmounts, such as states the dead daemon could not send after one.
     */
    private void dropForgottenImages(Daemon successor) {
        if (!successor.name().equals(SHARED)) {
            return;
        }
        List<String> served = new ArrayList<>();
        try {
            NydusdClient.Response response = successor.client().send("GET", "/api/v1/daemon",
                    null, config.mountTimeout());
            if (!response.ok()) {
                return;
            }
            JSON.readTree(response.body()).path("backend_collection").fieldNames()
                    .forEachRemaining(served::add);
        } catch (IOException e) {
            LOG.warn("cannot list the images of nydusd {}: {}", successor.name(),
                    e.getMessage());
            return;
        }
        for (String path : served) {
            String id = path.startsWith("/") ? path.substring(1) : path;
            boolean known = mounted.entrySet().stream().anyMatch(entry -> entry.getValue()
                    .name().equals(successor.name()) && Long.toString(entry.getKey()).equals(id));
            if (!known) {
                LOG.info("nydusd {} restored image {}, which the snapshotter unmounted;"
                        + " unmounting it again", successor.name(), id);
                sendUnmount(successor, id);
            }
        }
    }

    /**
     * Starts a daemon with {@code --upgrade} on the dead daemon's mount point, hands it the
     * supervisor's states and descriptor, and starts it. Nothing here touches the mount, as
     * every access waits until the successor serves it.
     */
    private Daemon takeOver(Daemon dead, Supervisor supervisor, Path nydusd)
            throws IOException, SnapshotException {
        Path dir = daemonDir(dead.name());
        Successor successor = launchSuccessor(dead, supervisor, nydusd, dir.resolve("api.sock"));
        writePidFile(dir, successor.process());
        startSuccessor(successor, supervisor);
        return successor.daemon();
    }

    /** A daemon started with {@code --upgrade}, and its process. */
    private record Successor(Daemon daemon, Process process, DaemonLog log) {
    }

    /**
     * Starts a daemon of {@code nydusd} with {@code --upgrade} and its API on {@code socket},
     * and has it take over the states and descriptor of {@code predecessor}'s supervisor. It is
     * READY then: its images are open, and it does not serve the mount yet.
     */
    private Successor launchSuccessor(Daemon predecessor, Supervisor supervisor, Path nydusd,
            Path socket) throws IOException, SnapshotException {
        long deadline = System.nanoTime() + config.mountTimeout().toNanos();
        Path dir = daemonDir(predecessor.name());
        DaemonLog log = daemonLog(dir);
        Files.deleteIfExists(socket);
        List<String> command = withSupervisor(nydusdCommand(nydusd, config, socket,
                predecessor.mountpoint(), dir.resolve("config.json")), predecessor.name(),
                supervisor.socket(), true);
        java.util.concurrent.CompletableFuture<Void> served =
                supervisor.serve(config.mountTimeout());
        Process process;
        try {
            process = log.redirect(new ProcessBuilder(command)).start();
        } catch (IOException e) {
            supervisor.stopServing();
            throw new IOException("failed to start nydusd " + nydusd + " for daemon "
                    + predecessor.name() + ": " + e.getMessage(), e);
        }
        Daemon daemon = new Daemon(predecessor.name(), new NydusdClient(socket),
                predecessor.mountpoint(), process.pid());
        try {
            awaitState(daemon, process, log, deadline, "INIT");
            put(daemon, "/api/v1/daemon/fuse/takeover");
            served.get(config.mountTimeout().toMillis(),
                    java.util.concurrent.TimeUnit.MILLISECONDS);
            awaitState(daemon, process, log, deadline, "READY");
            return new Successor(daemon, process, log);
        } catch (IOException | SnapshotException | RuntimeException e) {
            kill(process);
            supervisor.stopServing();
            throw e;
        } catch (java.util.concurrent.ExecutionException
                | java.util.concurrent.TimeoutException e) {
            kill(process);
            supervisor.stopServing();
            throw new IOException("supervisor " + supervisor.socket() + " did not hand the"
                    + " states to nydusd " + predecessor.name() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            kill(process);
            supervisor.stopServing();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while nydusd " + predecessor.name()
                    + " took over its mount", e);
        }
    }

    /** Makes a READY successor serve the mount, and kills it if it does not start. */
    private void startSuccessor(Successor successor, Supervisor supervisor)
            throws IOException, SnapshotException {
        long deadline = System.nanoTime() + config.mountTimeout().toNanos();
        try {
            put(successor.daemon(), "/api/v1/daemon/start");
            awaitRunning(successor.daemon(), successor.process(), successor.log(), deadline);
        } catch (IOException | SnapshotException | RuntimeException e) {
            kill(successor.process());
            supervisor.stopServing();
            throw e;
        }
    }

    /**
     * Records the pid of the daemon in {@code dir}, by which a restarted snapshotter watches it.
     * A daemon whose pid cannot be recorded is killed, because nothing would track it.
     *
     * @throws IOException naming the pid file
     */
    private static void writePidFile(Path dir, Process process) throws IOException {
        Path file = dir.resolve("nydusd.pid");
        try {
            StateFiles.write(file,
                    Long.toString(process.pid()).getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            kill(process);
            throw new IOException("failed to write the pid file " + file + " of nydusd (pid "
                    + process.pid() + "), so it was stopped: " + e, e);
        }
    }

    /** Kills {@code process} and waits for its end, so that it reads no more FUSE requests. */
    private static void kill(Process process) {
        process.destroyForcibly();
        try {
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                LOG.warn("nydusd (pid {}) did not end within 10 s of SIGKILL", process.pid());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Returns each running daemon as upstream's system API lists it: name, pid, sockets, mount
     * point, images and resident memory, with the daemon's state and the bytes its images
     * read. Each image is keyed by its snapshot id.
     */
    public List<Map<String, Object>> describeDaemons() {
        List<Daemon> running;
        Map<String, Map<String, Object>> instances = new HashMap<>();
        Map<String, String> supervisorPaths = new HashMap<>();
        synchronized (this) {
            running = new ArrayList<>(daemons.values());
            supervisors.forEach((name, supervisor) ->
                    supervisorPaths.put(name, supervisor.socket().toString()));
            mounted.forEach((id, daemon) -> instances.computeIfAbsent(daemon.name(),
                    name -> new java.util.TreeMap<>()).put(Long.toString(id),
                            instance(daemon, images.get(id), id)));
        }
        // The states and figures come from the daemons' APIs, requested outside the lock.
        List<Map<String, Object>> list = new ArrayList<>();
        for (Daemon daemon : running) {
            Map<String, Object> served = instances.getOrDefault(daemon.name(), Map.of());
            Map<String, Object> entry = new java.util.LinkedHashMap<>();
            entry.put("id", daemon.name());
            entry.put("pid", daemon.pid());
            entry.put("api_socket", daemon.client().socket().toString());
            entry.put("supervisor_path", supervisorPaths.getOrDefault(daemon.name(), ""));
            entry.put("reference", served.size());
            entry.put("mountpoint", daemon.mountpoint().toString());
            entry.put("memory_rss_kb", residentKib(daemon.pid()));
            entry.put("read_data_kb", bytesRead(daemon, served.keySet()) / 1024.0);
            entry.put("state", state(daemon.client()));
            entry.put("images", served.size());
            entry.put("instances", served);
            list.add(entry);
        }
        return list;
    }

    private Map<String, Object> instance(Daemon daemon, NydusImage image, long snapshotId) {
        Map<String, Object> instance = new java.util.LinkedHashMap<>();
        instance.put("snapshot_id", Long.toString(snapshotId));
        instance.put("snapshot_dir", config.root().resolve("snapshots")
                .resolve(Long.toString(snapshotId)).toString());
        instance.put("mountpoint", daemon.mountpoint().resolve(Long.toString(snapshotId))
                .toString());
        instance.put("image_id", image == null ? "" : image.reference().toString());
        return instance;
    }

    /** Returns the process's resident memory in KiB, or 0 when it cannot be read. */
    static long residentKib(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid),
                    "status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.substring(6).replace("kB", "").strip());
                }
            }
        } catch (IOException | NumberFormatException e) {
            LOG.debug("cannot read the resident memory of pid {}: {}", pid, e.toString());
        }
        return 0;
    }

    /** Returns the bytes the daemon's images read, from its per-image metrics. */
    private static long bytesRead(Daemon daemon, java.util.Set<String> snapshotIds) {
        long total = 0;
        for (String id : snapshotIds) {
            try {
                NydusdClient.Response response = daemon.client().send("GET",
                        "/api/v1/metrics?id=/" + id, null, Duration.ofSeconds(2));
                if (response.ok()) {
                    total += JSON.readTree(response.body()).path("data_read").asLong();
                }
            } catch (IOException e) {
                LOG.debug("nydusd {} sent no metrics of image {}: {}", daemon.name(), id,
                        e.getMessage());
            }
        }
        return total;
    }

    /**
     * Replaces every daemon by one of {@code nydusd} that takes its mount over, one daemon
     * after the other, as upstream does: the successor opens the images from the supervisor's
     * states, the old daemon exits without unmounting, and the successor serves. Requests wait
     * in the kernel between the exit and the start. Then the configured {@code nydusd_path}
     * becomes a symbolic link to {@code nydusd}, so later daemons and restarts run it too.
     *
     * @return the number of daemons replaced
     * @throws IllegalStateException if the recover policy is not failover, as only then do the
     *     daemons have supervisors, or a daemon's pid is not known
     * @throws IllegalArgumentException if {@code nydusd} is not an executable file
     * @throws IOException naming the daemon whose upgrade failed and how many were replaced
     *     before; the daemons after it are not upgraded
     */
    public int upgrade(Path nydusd) throws IOException {
        if (config.recoverPolicy() != SnapshotterConfig.RecoverPolicy.FAILOVER) {
            throw new IllegalStateException("an upgrade needs daemon.recover_policy = "
                    + "\"failover\", under which the snapshotter keeps the daemons' mounts");
        }
        if (!nydusd.isAbsolute() || !Files.isRegularFile(nydusd) || !Files.isExecutable(nydusd)) {
            throw new IllegalArgumentException("nydusd_path " + nydusd
                    + " is not an absolute path of an executable file");
        }
        List<Daemon> targets;
        synchronized (this) {
            targets = new ArrayList<>(daemons.values());
        }
        for (Daemon daemon : targets) {
            if (daemon.pid() <= 0) {
                throw new IllegalStateException("nydusd " + daemon.name() + " has no pid file,"
                        + " so its exit cannot be awaited; restart it before an upgrade");
            }
        }
        int upgraded = 0;
        for (Daemon daemon : targets) {
            try {
                if (upgradeOne(daemon, nydusd)) {
                    upgraded++;
                }
            } catch (IOException e) {
                throw new IOException(e.getMessage() + " (" + upgraded + " of " + targets.size()
                        + " daemons were upgraded before)", e);
            }
        }
        installExecutable(nydusd);
        LOG.info("upgraded {} nydusd process(es) to {}", upgraded, nydusd);
        return upgraded;
    }

    /**
     * Replaces the configured executable by a symbolic link to {@code nydusd}, as upstream
     * does. A copy would break a launcher that finds its release next to its own resolved
     * path, as this project's {@code bin/nydusd} does. The link is renamed over the target, so
     * a daemon that starts meanwhile runs either the old or the new executable.
     */
    private void installExecutable(Path nydusd) throws IOException {
        Path target = config.nydusdPath();
        if (!target.isAbsolute() || Files.isSameFile(nydusd, target)) {
            nydusdPath = nydusd;
            return;
        }
        Path temporary = target.resolveSibling("." + target.getFileName() + ".upgrade");
        Files.deleteIfExists(temporary);
        Files.createSymbolicLink(temporary, nydusd);
        Files.move(temporary, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        nydusdPath = target;
        LOG.info("linked {} to {}", target, nydusd);
    }

    /**
     * Upgrades one daemon, unless it has died or was replaced since the list was taken.
     *
     * @return whether the daemon was upgraded
     */
    private synchronized boolean upgradeOne(Daemon old, Path nydusd) throws IOException {
        if (daemons.get(old.name()) != old || isDead(old)) {
            LOG.warn("nydusd {} (pid {}) is not running any more; not upgraded", old.name(),
                    old.pid());
            return false;
        }
        Supervisor supervisor = supervisor(old.name());
        supervisor.fetch(() -> put(old, "/api/v1/daemon/fuse/sendfd"), config.mountTimeout());

        Path dir = daemonDir(old.name());
        Successor successor;
        try {
            successor = launchSuccessor(old, supervisor, nydusd,
                    dir.resolve("api-upgrade.sock"));
        } catch (IOException | SnapshotException e) {
            throw new IOException("upgrade of nydusd " + old.name() + " to " + nydusd
                    + " failed, and the old daemon serves on: " + e.getMessage(), e);
        }

        // Taken out first, so that the exit watcher leaves the old daemon's exit alone.
        daemons.remove(old.name());
        try {
            put(old, "/api/v1/daemon/exit");
            awaitExit(old);
        } catch (IOException e) {
            kill(successor.process());
            daemons.put(old.name(), old);
            if (isDead(old)) {
                failover(old);
            }
            throw new IOException("nydusd " + old.name() + " did not stop for the upgrade: "
                    + e.getMessage(), e);
        }

        try {
            startSuccessor(successor, supervisor);
        } catch (IOException | SnapshotException e) {
            LOG.error("nydusd {} of {} did not start: {}; taking the mount over with {}",
                    old.name(), nydusd, e.getMessage(), nydusdPath);
            daemons.put(old.name(), old);
            failover(old);
            throw new IOException("upgrade of nydusd " + old.name() + " to " + nydusd
                    + " failed: " + e.getMessage(), e);
        }

        Daemon upgraded = adoptSocket(successor, dir);
        daemons.put(old.name(), upgraded);
        mounted.replaceAll((id, daemon) -> daemon.name().equals(old.name()) ? upgraded
                : daemon);
        metrics.daemonStarted();
        LOG.info("nydusd {} (pid {}) of {} took over the mount at {} from pid {}",
                upgraded.name(), upgraded.pid(), nydusd, upgraded.mountpoint(), old.pid());
        watch(upgraded);
        fetchStates(upgraded);
        return true;
    }

    /**
     * Moves the successor's API socket to the usual name once the old daemon is gone, so that
     * a restarted snapshotter finds it there, and records its pid.
     */
    private Daemon adoptSocket(Successor successor, Path dir) throws IOException {
        Path socket = dir.resolve("api.sock");
        Files.move(successor.daemon().client().socket(), socket,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        StateFiles.write(dir.resolve("nydusd.pid"),
                Long.toString(successor.process().pid()).getBytes(StandardCharsets.US_ASCII));
        Daemon daemon = successor.daemon();
        return new Daemon(daemon.name(), new NydusdClient(socket), daemon.mountpoint(),
                daemon.pid());
    }

    /**
     * Waits for the daemon's process to end, killing it after the mount timeout, so that no
     * two daemons read the same FUSE connection.
     */
    private void awaitExit(Daemon daemon) throws IOException {
        Optional<ProcessHandle> process = ProcessHandle.of(daemon.pid());
        if (process.isEmpty()) {
            return;
        }
        try {
            process.get().onExit().get(config.mountTimeout().toMillis(),
                    java.util.concurrent.TimeUnit.MILLISECONDS);
            return;
        } catch (java.util.concurrent.ExecutionException
                | java.util.concurrent.TimeoutException e) {
            LOG.warn("nydusd {} (pid {}) did not exit; killing it", daemon.name(),
                    daemon.pid());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process.get().destroyForcibly();
        try {
            process.get().onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException
                | java.util.concurrent.TimeoutException | InterruptedException e) {
            throw new IOException("nydusd " + daemon.name() + " (pid " + daemon.pid()
                    + ") did not end after SIGKILL", e);
        }
    }

    private void stop(Daemon daemon) {
        daemons.remove(daemon.name());
        closeSupervisor(daemon.name());
        Optional<ProcessHandle> process = ProcessHandle.of(daemon.pid());
        process.ifPresent(ProcessHandle::destroy);
        process.ifPresent(handle -> {
            try {
                handle.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.warn("nydusd {} (pid {}) ignored SIGTERM, killing it", daemon.name(),
                        daemon.pid());
                handle.destroyForcibly();
            }
        });
        try {
            if (MountTable.isMountpoint(daemon.mountpoint())) {
                MountTable.detach(daemon.mountpoint());
            }
            if (daemon.name().equals(SHARED)) {
                // The log stays for diagnosis; the pid file and socket would name a dead daemon.
                Files.deleteIfExists(daemonDir(SHARED).resolve("nydusd.pid"));
                Files.deleteIfExists(daemon.client().socket());
            } else {
                // Each image mounted in multiple mode gets a daemon directory of its own, so
                // keeping them would leave one behind for every image the node ever ran.
                FileTrees.deleteRecursively(BytePath.of(daemonDir(daemon.name())));
            }
        } catch (IOException e) {
            LOG.warn("failed to clean up after nydusd {} at {}: {}", daemon.name(),
                    daemon.mountpoint(), e.getMessage());
        }
        LOG.info("stopped nydusd {} (pid {})", daemon.name(), daemon.pid());
    }

    private Duration remaining(long deadline, NydusImage image) throws SnapshotException {
        long nanos = deadline - System.nanoTime();
        if (nanos <= 0) {
            throw new SnapshotException(Reason.DEADLINE_EXCEEDED, "mounting Nydus image "
                    + image.reference() + " took longer than "
                    + config.mountTimeout().toSeconds() + " s");
        }
        return Duration.ofNanos(nanos);
    }

    private static long readPid(Path file) {
        try {
            return Long.parseLong(Files.readString(file).strip());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    /** Returns where the daemon of directory {@code dir} writes its log, as configured. */
    private DaemonLog daemonLog(Path dir) throws IOException {
        return config.logToStdout() ? DaemonLog.INHERITED
                : DaemonLog.from(dir.resolve(LOG_FILE));
    }

    /**
     * A daemon's log file and its size when the daemon started, or no file when the daemon
     * writes to the snapshotter's standard output. Daemons of one name append to the same file,
     * so an error quotes only the lines from {@code start} on, never those of an earlier daemon.
     */
    private record DaemonLog(Path file, long start) {
        static final DaemonLog INHERITED = new DaemonLog(null, 0);

        static DaemonLog from(Path file) throws IOException {
            return new DaemonLog(file, Files.exists(file) ? Files.size(file) : 0);
        }

        /**
         * Sends the output and errors of {@code builder}'s process to this log. The daemon gets
         * the file or the snapshotter's own descriptor, never a pipe, so that it keeps running
         * and logging after the snapshotter exits.
         */
        ProcessBuilder redirect(ProcessBuilder builder) {
            builder.redirectErrorStream(true);
            return builder.redirectOutput(file == null ? ProcessBuilder.Redirect.INHERIT
                    : ProcessBuilder.Redirect.appendTo(file.toFile()));
        }

        /** Returns the last 10 lines that the daemon wrote. */
        String tail() {
            if (file == null) {
                return "(see nydusd's lines in the snapshotter's output)";
            }
            byte[] written;
            try (FileChannel channel = FileChannel.open(file)) {
                channel.position(start);
                written = Channels.newInputStream(channel).readAllBytes();
            } catch (IOException e) {
                return "(no log at " + file + ")";
            }
            if (written.length == 0) {
                return "(nydusd wrote nothing to " + file + ")";
            }
            List<String> lines = new String(written, StandardCharsets.UTF_8).lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 10),
                    lines.size()));
        }
    }
}
