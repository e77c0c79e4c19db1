package io.nydus.daemon;

import io.nydus.fuse.InflightRequest;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.storage.config.RuntimeSettings;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's state: the images it serves through its {@link Vfs}, how their data is opened,
 * and whether it runs. The FUSE session and the API server sit around it.
 */
public final class Daemon implements Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);
    /**
     * Enough calls for the JIT to compile the metadata path, about 50 ms of work. It halved a
     * cold {@code find -ls} of a 7,000-entry rootfs; {@code -Dnydus.warmup=0} turns it off.
     */
    private static final int WARM_UP_REQUESTS = Integer.getInteger("nydus.warmup", 60_000);
    /** Whether a mount of this process has warmed the metadata path up already. */
    private static final AtomicBoolean WARMED_UP = new AtomicBoolean();

    /**
     * The daemon states upstream's API reports. A daemon started to take over a mount stays in
     * INIT until the takeover, is READY until it starts serving, and then RUNNING.
     */
    /** How long a mount or unmount waits for the kernel to take the root's invalidation. */
    private static final Duration INVALIDATION_WAIT = Duration.ofSeconds(2);

    public enum State { INIT, READY, RUNNING, STOPPED }

    private final String id;
    private final Vfs vfs;
    private final ImageDataFactory dataFactory;
    private final Map<String, MountedImage> mounts = new ConcurrentHashMap<>();
    /**
     * The lock of each path that a mount, remount or unmount works on now. It is held while
     * the image opens, which is slow for a large image, so FUSE requests and the operations on
     * other paths never take it.
     */
    private final Map<String, PathLock> pathLocks = new ConcurrentHashMap<>();
    /**
     * Held while {@link #mounts} and the Vfs change, which is quick, so that the changes for
     * different paths do not interleave. Otherwise a new image could take the Vfs slot of an
     * image being restored.
     */
    private final Object registry = new Object();
    private final RuntimeSettings settings = new RuntimeSettings();
    private final CountDownLatch exit = new CountDownLatch(1);
    private volatile State state = State.INIT;
    private volatile String mountpoint = "";
    private volatile Supplier<List<InflightRequest>> inflight = List::of;
    private volatile boolean exitForSuccessor;
    private volatile String supervisor;
    private volatile FuseService fuse;

    /**
     * @param id the daemon's id in the API
     * @param shared whether images are mounted below the root through the API
     * @param dataFactory opens each image's data side
     */
    public Daemon(String id, boolean shared, ImageDataFactory dataFactory) {
        this.id = id;
        this.dataFactory = dataFactory;
        this.vfs = shared ? Vfs.shared() : null;
    }

    public String id() {
        return id;
    }

    /** Records the FUSE mount and the supervisor socket that {@code GET /api/v1/daemon} shows. */
    void serveWith(FuseService service, Path supervisorSocket) {
        this.fuse = service;
        this.supervisor = supervisorSocket == null ? null : supervisorSocket.toString();
    }

    /** Returns the daemon's FUSE mount, or null when another program serves it. */
    public FuseService fuseService() {
        return fuse;
    }

    public State state() {
        return state;
    }

    /** Returns the settings that {@code /api/v1/config} changes, by mount path. */
    public RuntimeSettings settings() {
        return settings;
    }

    /** Records that the FUSE mount at {@code path} is being served. */
    public void running(String path) {
        this.mountpoint = path;
        this.state = State.RUNNING;
        LOG.info("daemon {} serving {}", id, path);
    }

    /** Records that the daemon serves {@code path} through a session that lists requests. */
    public void running(String path, Supplier<List<InflightRequest>> requests) {
        this.inflight = requests;
        running(path);
    }

    /** Records that the daemon restored its images and waits for the start of serving. */
    public void ready(String path) {
        this.mountpoint = path;
        this.state = State.READY;
        LOG.info("daemon {} took over {} and is ready to serve it", id, path);
    }

    /** Returns the FUSE requests that are being handled now, none before the mount. */
    public List<InflightRequest> inflight() {
        return inflight.get();
    }

    public String fuseMountpoint() {
        return mountpoint;
    }

    /** Returns the file system to serve over FUSE; in single mode, only after {@link #mount}. */
    public Vfs vfs() {
        if (vfs == null) {
            MountedImage image = mounts.get("/");
            if (image == null) {
                throw new IllegalStateException("no image is mounted at /");
            }
            return Vfs.single(image.fs());
        }
        return vfs;
    }

    public boolean isShared() {
        return vfs != null;
    }

    /**
     * Mounts the image of {@code bootstrap} at {@code path} ("/" in single mode, "/NAME" in
     * shared mode), opens its data side and starts its prefetch. A mount, remount or unmount
     * of the same path that is in progress finishes first.
     *
     * @param prefetchFiles paths inside the image whose data is fetched first
     * @throws IOException naming the bootstrap when it cannot be read
     * @throws IllegalArgumentException if {@code path} is not a valid mountpoint, or the
     *     bootstrap is not a valid RAFS v6 bootstrap
     * @throws IllegalStateException if an image is mounted at {@code path} already
     */
    public MountedImage mount(String path, Path bootstrap, DaemonConfig config,
            List<String> prefetchFiles) throws IOException {
        String name = subName(path);
        return exclusively(path, () -> {
            if (mounts.containsKey(path)) {
                throw new IllegalStateException("an image is already mounted at " + path
                        + "; unmount it first or remount with PUT");
            }
            MountedImage image = open(path, bootstrap, config, prefetchFiles);
            register(image, () -> {
                if (vfs != null) {
                    vfs.attach(name, image.fs());
                }
            });
            LOG.info("mounted {} at {} ({} inodes, backend {})", bootstrap, path,
                    image.fs().inodeCount(), image.data().backend());
            return image;
        });
    }

    /**
     * Mounts an image that a previous process served at {@code path}, in the same Vfs slot,
     * and prefetches what its mount request listed. In single mode the slot is 0.
     */
    MountedImage restore(String path, int slot, Path bootstrap, DaemonConfig config,
            List<String> prefetchFiles) throws IOException {
        String name = subName(path);
        if (vfs == null) {
            return mount(path, bootstrap, config, prefetchFiles);
        }
        return exclusively(path, () -> {
            if (mounts.containsKey(path)) {
                throw new IllegalStateException("an image is already mounted at " + path);
            }
            MountedImage image = open(path, bootstrap, config, prefetchFiles);
            register(image, () -> vfs.restore(name, slot, image.fs()));
            LOG.info("restored {} at {} in slot {}", bootstrap, path, slot);
            return image;
        });
    }

    /**
     * Returns the lowest Vfs slot never used in this process: 1 in single mode. New images
     * take freed slots below it first.
     */
    int nextSlot() {
        return vfs == null ? 1 : vfs.nextSlot();
    }

    /** Keeps the slots below {@code slot} from new images, as a previous process used them. */
    void reserveSlotsBelow(int slot) {
        if (vfs != null) {
            vfs.reserveSlotsBelow(slot);
        }
    }

    /** Returns the Vfs slot of the image at {@code path}: 0 in single mode. */
    int slotOf(String path) {
        return vfs == null ? 0 : vfs.slotOf(subName(path));
    }

    /** Replaces the image at {@code path} with that of {@code bootstrap}. */
    public MountedImage remount(String path, Path bootstrap, DaemonConfig config,
            List<String> prefetchFiles) throws IOException {
        String name = subName(path);
        return exclusively(path, () -> {
            MountedImage old = mounts.get(path);
            if (old == null) {
                throw new IllegalStateException("nothing is mounted at " + path);
            }
            if (vfs == null) {
                throw new IllegalStateException("a single-image daemon cannot swap its image");
            }
            MountedImage image = open(path, bootstrap, config, prefetchFiles);
            register(image, () -> vfs.attach(name, image.fs()));
            close(old);
            LOG.info("remounted {} at {}", bootstrap, path);
            return image;
        });
    }

    /** Unmounts the image at {@code path} and closes its data side. */
    public void umount(String path) throws IOException {
        String name = subName(path);
        exclusively(path, () -> {
            MountedImage image;
            synchronized (registry) {
                image = mounts.remove(path);
                if (image == null) {
                    throw new IllegalStateException("nothing is mounted at " + path);
                }
                if (vfs != null) {
                    vfs.detach(name);
                }
            }
            // The next image mounted at the path comes with a configuration of its own.
            settings.clear(path);
            close(image);
            LOG.info("unmounted {} from {}", image.bootstrap(), path);
            return image;
        });
    }

    /** A mount, remount or unmount of one path. */
    @FunctionalInterface
    private interface PathOperation {
        MountedImage run() throws IOException;
    }

    /**
     * Runs {@code operation} while no other operation of {@link #exclusively} runs on
     * {@code path}, and drops the path's lock when no thread holds it or waits for it.
     */
    private MountedImage exclusively(String path, PathOperation operation) throws IOException {
        PathLock pathLock = pathLocks.compute(path, (key, held) -> {
            PathLock lock = held != null ? held : new PathLock();
            lock.users++;
            return lock;
        });
        pathLock.lock.lock();
        try {
            return operation.run();
        } finally {
            pathLock.lock.unlock();
            pathLocks.computeIfPresent(path, (key, held) -> --held.users == 0 ? null : held);
            // This waits outside the locks, because the kernel may hold an invalidation until a
            // worker is free.
            if (vfs != null) {
                vfs.awaitInvalidations(INVALIDATION_WAIT);
            }
        }
    }

    /**
     * Puts {@code image} into the Vfs with {@code attach} and into {@link #mounts}, so that
     * every image that {@link #mounts()} lists is served. When that fails, closes the image.
     */
    private void register(MountedImage image, Runnable attach) {
        try {
            synchronized (registry) {
                attach.run();
                mounts.put(image.mountpoint(), image);
            }
        } catch (RuntimeException e) {
            close(image);
            throw e;
        }
    }

    private String subName(String path) {
        if (vfs == null) {
            if (!path.equals("/")) {
                throw new IllegalArgumentException("a daemon started with a bootstrap serves"
                        + " one image at /, not at " + path + "; start it without --bootstrap"
                        + " to mount images below its root");
            }
            return "";
        }
        if (!path.startsWith("/") || path.length() < 2) {
            throw new IllegalArgumentException("mountpoint '" + path + "' must look like"
                    + " /NAME");
        }
        String name = path.substring(1);
        Vfs.checkName(name);
        return name;
    }

    private MountedImage open(String path, Path bootstrap, DaemonConfig config,
            List<String> prefetchFiles) throws IOException {
        long start = System.nanoTime();
        DecodedBootstrap decoded = decode(bootstrap);
        long decodedAt = System.nanoTime();
        RafsOptions rafs = config.rafs();
        FsMetrics metrics = new FsMetrics(path, rafs.iostatsFiles(), rafs.accessPattern(),
                rafs.latestReadFiles());
        ImageData data = dataFactory.open(config, decoded, settings.scope(path));
        try {
            long openedAt = System.nanoTime();
            RafsFileSystem fs = new RafsFileSystem(bootstrap.toString(), decoded, data,
                    config.rafs(), metrics);
            long indexedAt = System.nanoTime();
            // The JIT keeps the code it compiled for the later mounts of the process.
            if (!WARMED_UP.getAndSet(true)) {
                fs.warmUp(WARM_UP_REQUESTS);
            }
            LOG.debug("opened {}: decode {} ms, data {} ms, index {} ms, warm-up {} ms",
                    bootstrap, (decodedAt - start) / 1_000_000,
                    (openedAt - decodedAt) / 1_000_000, (indexedAt - openedAt) / 1_000_000,
                    (System.nanoTime() - indexedAt) / 1_000_000);
            if (config.prefetch()) {
                startPrefetch(bootstrap, decoded, data, prefetchFiles);
            }
            return new MountedImage(path, bootstrap, fs, data, metrics, config, prefetchFiles,
                    Instant.now());
        } catch (RuntimeException | Error e) {
            // The API server serves on after a large image exhausts the heap, so close it then too.
            closeData(bootstrap, data);
            throw e;
        }
    }

    /**
     * Decodes the bootstrap to mount.
     *
     * @throws IllegalArgumentException if the file is not a valid RAFS v6 bootstrap, which is
     *     an invalid argument of the mount rather than a failure of the daemon
     */
    private static DecodedBootstrap decode(Path bootstrap) throws IOException {
        try {
            return BootstrapReader.decode(bootstrap);
        } catch (RafsFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /**
     * Starts the prefetch of the requested files, or of the bootstrap's prefetch table when the
     * mount requested none, after which the data side fetches every chunk when
     * {@code prefetch_all} is set. A list that names the root, as a conversion without
     * prefetch patterns writes, does not tell which files a program needs first. Its fetch is
     * then a background fetch like that of every chunk, which waits for the reads.
     */
    private static void startPrefetch(Path bootstrap, DecodedBootstrap decoded, ImageData data,
            List<String> prefetchFiles) {
        List<Node> roots = prefetchRoots(decoded, prefetchFiles);
        boolean wholeTree = roots.stream().anyMatch(Node::isRoot);
        List<Chunk> chunks = chunksOf(roots);
        LOG.info("prefetching {} chunks of the listed files of {}{}", chunks.size(), bootstrap,
                wholeTree ? " (the whole tree, so after the program's reads)" : "");
        data.prefetch(chunks, wholeTree);
    }

    /**
     * Returns the nodes of {@code requestedFiles}, which replace the bootstrap's prefetch table
     * as upstream's nydusd does, or the table's nodes when no files are requested.
     */
    private static List<Node> prefetchRoots(DecodedBootstrap image, List<String> requestedFiles) {
        if (requestedFiles.isEmpty()) {
            return image.bootstrap().prefetch();
        }
        List<Node> roots = new ArrayList<>();
        for (String file : requestedFiles) {
            Node node = find(image.bootstrap().root(), file);
            if (node == null) {
                LOG.warn("prefetch file {} is not in the image, skipped", file);
            } else {
                roots.add(node);
            }
        }
        return roots;
    }

    /** Returns the chunks of the files at and below {@code roots}, in order, each once. */
    private static List<Chunk> chunksOf(List<Node> roots) {
        List<Chunk> chunks = new ArrayList<>();
        Set<Long> seen = new HashSet<>();
        for (Node node : roots) {
            collect(node, chunks, seen);
        }
        return chunks;
    }

    private static void collect(Node root, List<Chunk> chunks, Set<Long> seen) {
        addChunks(root, chunks, seen);
        for (Node node : root.descendants()) {
            addChunks(node, chunks, seen);
        }
    }

    private static void addChunks(Node node, List<Chunk> chunks, Set<Long> seen) {
        for (Chunk chunk : node.inode().chunks()) {
            if (seen.add(((long) chunk.blobIndex() << 32) | chunk.index())) {
                chunks.add(chunk);
            }
        }
    }

    /** Returns the node at absolute {@code path} inside the image, or null. */
    static Node find(Node root, String path) {
        Node node = root;
        for (String part : path.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            node = part.equals("..") ? node.parent() : node.child(
                    part.getBytes(StandardCharsets.UTF_8));
            if (node == null) {
                return null;
            }
        }
        return node;
    }

    /** Returns the images mounted now, by mountpoint. */
    public Map<String, MountedImage> mounts() {
        return Map.copyOf(mounts);
    }

    /** Returns the image at {@code id} (a mountpoint), or the only one when {@code id} is null. */
    public MountedImage image(String mountId) {
        if (mountId == null || mountId.isEmpty()) {
            if (mounts.size() == 1) {
                return mounts.values().iterator().next();
            }
            throw new IllegalArgumentException("the daemon serves " + mounts.size()
                    + " images; name one with ?id=MOUNTPOINT");
        }
        MountedImage image = mounts.get(mountId);
        if (image == null) {
            throw new IllegalArgumentException("no image is mounted at " + mountId);
        }
        return image;
    }

    /** Returns the daemon's description for {@code GET /api/v1/daemon}. */
    public Map<String, Object> info(String version) {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("id", id);
        info.put("version", Map.of("package_ver", version, "git_commit", "",
                "build_time", "", "profile", "release", "rustc", "java "
                        + Runtime.version()));
        info.put("supervisor", supervisor);
        info.put("state", state.name());
        info.put("mountpoint", mountpoint);
        Map<String, Object> backends = new LinkedHashMap<>();
        for (MountedImage image : mounts.values()) {
            backends.put(image.mountpoint(), describe(image));
        }
        info.put("backend_collection", backends);
        return info;
    }

    /**
     * Describes a mounted image with the fields of upstream's backend descriptor
     * ({@code backend_type}, {@code mountpoint}, {@code mounted_time}) and where its data comes
     * from. The time is ISO-8601 in UTC.
     */
    private static Map<String, Object> describe(MountedImage image) {
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("backend_type", "Rafs");
        entry.put("mountpoint", image.mountpoint());
        entry.put("mounted_time", image.mountedTime().toString());
        entry.put("bootstrap", image.bootstrap().toString());
        entry.put("backend", image.data().backend());
        return entry;
    }

    /** Asks the daemon to stop; {@link #awaitExit()} returns. */
    public void requestExit() {
        exit.countDown();
    }

    /**
     * Asks the daemon to stop and leave its FUSE mount to a successor, which takes over the
     * descriptor that a supervisor keeps.
     */
    public void requestExitForSuccessor() {
        exitForSuccessor = true;
        exit.countDown();
    }

    /** Returns whether the daemon stops for a successor, so its mount must stay. */
    public boolean exitsForSuccessor() {
        return exitForSuccessor;
    }

    public void awaitExit() throws InterruptedException {
        exit.await();
    }

    @Override
    public void close() {
        for (String path : List.copyOf(mounts.keySet())) {
            MountedImage image = mounts.remove(path);
            if (image != null) {
                close(image);
            }
        }
        state = State.STOPPED;
        exit.countDown();
    }

    private static void close(MountedImage image) {
        closeData(image.bootstrap(), image.data());
    }

    private static void closeData(Path bootstrap, ImageData data) {
        try {
            data.close();
        } catch (IOException e) {
            LOG.warn("closing the data of {} failed: {}", bootstrap, e.getMessage());
        }
    }

    /** The lock of one path, and the number of threads that hold it or wait for it. */
    private static final class PathLock {
        private final ReentrantLock lock = new ReentrantLock();
        /** Changed only in the compute calls of {@code pathLocks}, one at a time per key. */
        private int users;
    }
}
