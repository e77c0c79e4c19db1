package io.nydus.snapshotter;

import io.nydus.posix.BytePath;
import io.nydus.posix.Errno;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.Stat;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Repository;
import io.nydus.snapshotter.SnapshotException.Reason;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshotter's decisions, independent of gRPC. Plain layers live in
 * {@code <root>/snapshots/<id>/fs} and are mounted as containerd's overlay snapshotter mounts
 * them. Data layers of a Nydus image are committed empty, so containerd downloads nothing for
 * them. containerd unpacks the bootstrap layer as usual. A container on a Nydus image gets an
 * overlay whose lower directory is the image mounted by nydusd.
 */
public final class Snapshotter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Snapshotter.class);

    private final Path root;
    private final RootLock rootLock;
    private final MetadataStore store;
    private final ImageMounter mounter;
    private final BlobCache cache;
    private final Metrics metrics;
    private final Clock clock;
    /** Whether every container's overlay gets {@code volatile}, not only labelled ones. */
    private final boolean volatileOverlays;
    private final Object lock = new Object();

    /**
     * Opens the snapshotter state under {@code root}, creating the directories it needs.
     *
     * @param volatileOverlays whether the overlay of every active snapshot is mounted with
     *     {@code volatile}, which skips syncing its upper directory, as the label
     *     {@code containerd.io/snapshot/overlay.volatile} requests it for one snapshot
     *
     * @throws IOException naming the file if the stored metadata cannot be read, or the root
     *     if another snapshotter serves it
     */
    public Snapshotter(Path root, ImageMounter mounter, BlobCache cache, Metrics metrics,
            Clock clock, boolean volatileOverlays) throws IOException {
        this.root = root;
        this.volatileOverlays = volatileOverlays;
        Files.createDirectories(root.resolve("snapshots"));
        this.rootLock = RootLock.acquire(root);
        try {
            this.store = MetadataStore.open(root.resolve("metadata.json"));
        } catch (IOException | RuntimeException e) {
            rootLock.close();
            throw e;
        }
        this.mounter = mounter;
        this.cache = cache;
        this.metrics = metrics;
        this.clock = clock;
        metrics.measureCacheWith(cache::sizeBytes);
    }

    Path snapshotDir(long id) {
        return root.resolve("snapshots").resolve(Long.toString(id));
    }

    /** Creates an active snapshot on {@code parent} and returns its mounts. */
    public List<MountSpec> prepare(String key, String parent, Map<String, String> labels)
            throws SnapshotException {
        checkLabels(labels);
        String target = labels.get(SnapshotLabels.TARGET_REF);
        if (target != null && SnapshotLabels.isTrue(labels, SnapshotLabels.NYDUS_BLOB)) {
            skipDataLayer(key, parent, target, labels);
        }
        checkNotOnDataLayer(key, parent, labels);
        SnapshotRecord record = create(key, parent, labels, SnapshotKind.ACTIVE);
        if (target == null) {
            return mountsOrRollBack(record);
        }
        return overlayMounts(record);
    }

    /**
     * Returns the mounts of a new snapshot, or removes the snapshot again if the image below
     * it cannot be mounted, so that a failed Prepare or View leaves nothing behind.
     */
    private List<MountSpec> mountsOrRollBack(SnapshotRecord record) throws SnapshotException {
        try {
            Optional<NydusImage> image = nydusImageBelow(record);
            if (image.isPresent()) {
                return nydusMounts(record, image.get());
            }
            return overlayMounts(record);
        } catch (SnapshotException | RuntimeException e) {
            synchronized (lock) {
                // While the image was mounted, the key may have been removed and prepared
                // again, and that newer snapshot is not this one to roll back.
                boolean unchanged = store.get(record.key())
                        .map(current -> current.id() == record.id()).orElse(false);
                if (unchanged) {
                    save(() -> store.remove(record.key()), "roll back " + record.key());
                }
            }
            deleteDirectory(snapshotDir(record.id()));
            throw e;
        }
    }

    /** Creates a read-only view of {@code parent} and returns its mounts. */
    public List<MountSpec> view(String key, String parent, Map<String, String> labels)
            throws SnapshotException {
        checkLabels(labels);
        SnapshotRecord record = create(key, parent, labels, SnapshotKind.VIEW);
        return mountsOrRollBack(record);
    }

    /** Returns the mounts of an active or view snapshot. */
    public List<MountSpec> mounts(String key) throws SnapshotException {
        SnapshotRecord record = require(key);
        if (record.kind() == SnapshotKind.COMMITTED) {
            throw new SnapshotException(Reason.FAILED_PRECONDITION,
                    "snapshot '" + key + "' is committed and has no mounts");
        }
        Optional<NydusImage> image = nydusImageBelow(record);
        if (image.isPresent()) {
            return nydusMounts(record, image.get());
        }
        return overlayMounts(record);
    }

    /** Commits active snapshot {@code key} as {@code name}, adding {@code labels}. */
    public void commit(String name, String key, Map<String, String> labels)
            throws SnapshotException {
        checkLabels(labels);
        requireKey(name, "commit name");
        synchronized (lock) {
            SnapshotRecord active = require(key);
            if (active.kind() != SnapshotKind.ACTIVE) {
                throw new SnapshotException(Reason.FAILED_PRECONDITION, "snapshot '" + key
                        + "' is " + active.kind().name().toLowerCase(Locale.ROOT) + ", not active");
            }
            if (store.get(name).isPresent()) {
                throw new SnapshotException(Reason.ALREADY_EXISTS,
                        "snapshot '" + name + "' already exists");
            }
            Map<String, String> merged = new LinkedHashMap<>(active.labels());
            merged.putAll(labels);
            checkLabels(merged);
            if (SnapshotLabels.isTrue(merged, SnapshotLabels.NYDUS_BOOTSTRAP)) {
                checkBootstrapLayer(active, merged);
            }
            Instant now = clock.instant();
            SnapshotRecord committed = new SnapshotRecord(name, active.id(),
                    SnapshotKind.COMMITTED, active.parent(), active.created(), now, merged);
            save(() -> store.replace(key, committed), "commit " + key);
        }
    }

    /** Removes snapshot {@code key}, its directory, its mount and blobs no one else uses. */
    public void remove(String key) throws SnapshotException {
        SnapshotRecord record;
        synchronized (lock) {
            record = require(key);
            List<SnapshotRecord> children = store.children(key);
            if (!children.isEmpty()) {
                throw new SnapshotException(Reason.FAILED_PRECONDITION, "snapshot '" + key
                        + "' has " + children.size() + " child snapshot(s), such as '"
                        + children.getFirst().key() + "'");
            }
            save(() -> store.remove(key), "remove " + key);
        }
        // Outside the lock, because the unmount waits while nydusd starts for another image,
        // which takes up to the mount timeout. No snapshot can stack on the image meanwhile,
        // as its record is gone.
        if (record.labelIsTrue(SnapshotLabels.NYDUS_BOOTSTRAP)) {
            mounter.unmount(record.id());
        }
        deleteDirectory(snapshotDir(record.id()));
        for (String blobId : cachedBlobs(record)) {
            releaseUnusedBlob(blobId);
        }
    }

    /**
     * Returns the ids of the blobs that nydusd caches for a skipped data layer, none for other
     * snapshots. That is the layer's blob, and for a layer of an OCI-ref image also the gzip
     * layer that the label {@link SnapshotLabels#NYDUS_REF} names. The layer's blob is then a
     * ZRAN ref blob, and the data comes from the gzip layer.
     */
    private static List<String> cachedBlobs(SnapshotRecord record) {
        String blobId = record.label(SnapshotLabels.SKIPPED_BLOB);
        if (blobId == null) {
            return List.of();
        }
        String ref = record.label(SnapshotLabels.NYDUS_REF);
        String refHex = ref != null && ref.startsWith("sha256:")
                ? ref.substring("sha256:".length()) : null;
        return BlobCache.isBlobId(refHex) && !refHex.equals(blobId)
                ? List.of(blobId, refHex) : List.of(blobId);
    }

    public SnapshotRecord stat(String key) throws SnapshotException {
        return require(key);
    }

    /**
     * Replaces the labels of {@code key}: all of them if {@code fields} is empty, else those
     * named {@code labels.NAME} (a field {@code labels} means all labels).
     */
    public SnapshotRecord update(String key, Map<String, String> labels, List<String> fields)
            throws SnapshotException {
        checkLabels(labels);
        synchronized (lock) {
            SnapshotRecord record = require(key);
            Map<String, String> updated = new LinkedHashMap<>(record.labels());
            if (fields.isEmpty() || fields.contains("labels")) {
                updated = new LinkedHashMap<>(labels);
            } else {
                for (String field : fields) {
                    if (!field.startsWith("labels.")) {
                        throw new SnapshotException(Reason.INVALID_ARGUMENT, "cannot update"
                                + " field '" + field + "' of snapshot '" + key
                                + "': only labels are mutable");
                    }
                    String name = field.substring("labels.".length());
                    String value = labels.get(name);
                    if (value == null) {
                        updated.remove(name);
                    } else {
                        updated.put(name, value);
                    }
                }
            }
            checkLabels(updated);
            SnapshotRecord result = record.withLabels(updated, clock.instant());
            save(() -> store.put(result), "update " + key);
            return result;
        }
    }

    /** Returns the snapshots that match at least one of {@code filters} (all if none). */
    public List<SnapshotRecord> walk(List<String> filters) throws SnapshotException {
        Predicate<SnapshotRecord> match = SnapshotFilter.anyOf(filters);
        synchronized (lock) {
            return store.all().stream().filter(match).toList();
        }
    }

    /**
     * Returns the bytes allocated in the snapshot's own directory and its inodes, counting
     * each inode once, as {@code du} and containerd's overlayfs snapshotter (through
     * continuity's {@code fs.DiskUsage}) count them. A sparse file counts only its allocated
     * blocks, and hard links count once. A committed Nydus data layer also counts the cache
     * files of its blob, as upstream's snapshotter does, because its directory stays empty
     * while nydusd caches the blob.
     */
    public long[] usage(String key) throws SnapshotException {
        SnapshotRecord record = require(key);
        DiskUsage usage = new DiskUsage();
        try {
            usage.add(BytePath.of(snapshotDir(record.id()).resolve("fs")));
            for (String blobId : cachedBlobs(record)) {
                if (record.kind() == SnapshotKind.COMMITTED && BlobCache.isBlobId(blobId)) {
                    for (Path file : cache.files(blobId)) {
                        usage.addIfPresent(BytePath.of(file));
                    }
                }
            }
        } catch (IOException e) {
            throw new SnapshotException(Reason.INTERNAL,
                    "failed to measure snapshot '" + key + "': " + e.getMessage(), e);
        }
        return new long[] {usage.bytes, usage.inodes.size()};
    }

    /** The allocated bytes and distinct inodes of a tree, walked by byte names. */
    private static final class DiskUsage {
        private static final long BLOCK_BYTES = 512;

        private record Inode(long device, long number) {
        }

        final Set<Inode> inodes = new HashSet<>();
        long bytes;

        void add(BytePath path) throws IOException {
            Stat stat = Posix.lstat(path);
            if (inodes.add(new Inode(stat.dev(), stat.ino()))) {
                bytes += stat.blocks() * BLOCK_BYTES;
            }
            if (stat.isDirectory()) {
                for (byte[] name : Posix.readdir(path)) {
                    add(path.resolve(name));
                }
            }
        }

        /** Adds {@code path} unless it is gone, as a cache file freed meanwhile is. */
        void addIfPresent(BytePath path) throws IOException {
            try {
                add(path);
            } catch (PosixException e) {
                if (e.errno() != Errno.ENOENT) {
                    throw e;
                }
            }
        }
    }

    /** Deletes snapshot directories that no snapshot owns, and unreferenced cached blobs. */
    public void cleanup() throws SnapshotException {
        try {
            // The directories are listed before the owners are read. create() makes a directory
            // and its record under the lock, so every listed directory of a new snapshot has
            // its record by then. In the other order, a directory made in between looked
            // orphaned and was deleted under a starting container.
            List<Path> dirs;
            try (var entries = Files.list(root.resolve("snapshots"))) {
                dirs = entries.toList();
            }
            Set<String> owned = new HashSet<>();
            synchronized (lock) {
                store.all().forEach(r -> owned.add(Long.toString(r.id())));
            }
            for (Path dir : dirs) {
                if (!owned.contains(dir.getFileName().toString())) {
                    LOG.info("deleting orphaned snapshot directory {}", dir);
                    deleteDirectory(dir);
                }
            }
            collectGarbage();
        } catch (IOException e) {
            throw new SnapshotException(Reason.INTERNAL,
                    "failed to clean up " + root + ": " + e.getMessage(), e);
        }
    }

    /** Frees cached blobs no snapshot uses, then evicts unmounted ones above the size limit. */
    public long collectGarbage() throws IOException {
        return cache.collect(this::blobUsage);
    }

    /**
     * Returns the blobs that snapshots refer to, and as mounted those of images in use and of
     * images that nydusd serves without a container, because nydusd keeps their cache files
     * open. Deleting those would free no space until the image is unmounted.
     */
    private BlobCache.Usage blobUsage() {
        Set<Long> daemonImages = Set.copyOf(mounter.mountedImages());
        Set<String> referenced = new HashSet<>();
        Set<String> mounted = new HashSet<>();
        synchronized (lock) {
            for (SnapshotRecord record : store.all()) {
                referenced.addAll(cachedBlobs(record));
                // Images in use are those below active and view snapshots.
                if (daemonImages.contains(record.id())
                        || record.kind() != SnapshotKind.COMMITTED) {
                    mounted.addAll(skippedBlobsBelow(record));
                }
            }
        }
        return new BlobCache.Usage(referenced, mounted);
    }

    /** Returns the blobs of the Nydus data layers below {@code record}. Caller holds the lock. */
    private List<String> skippedBlobsBelow(SnapshotRecord record) {
        List<String> blobIds = new ArrayList<>();
        for (SnapshotRecord ancestor : store.ancestors(record)) {
            blobIds.addAll(cachedBlobs(ancestor));
        }
        return blobIds;
    }

    /** Mounts again, or attaches to, the images that active containers use. */
    public void recover() {
        List<NydusImage> images;
        synchronized (lock) {
            images = nydusImagesInUse();
        }
        LOG.info("recovering {} Nydus image mount(s)", images.size());
        mounter.recover(images);
    }

    @Override
    public void close() {
        mounter.close();
        try {
            rootLock.close();
        } catch (IOException e) {
            LOG.warn("failed to release the lock of snapshotter root {}: {}", root,
                    e.toString());
        }
    }

    private void skipDataLayer(String key, String parent, String target,
            Map<String, String> labels) throws SnapshotException {
        String digest = SnapshotLabels.layerDigest(labels).orElseThrow(() ->
                new SnapshotException(Reason.INVALID_ARGUMENT, "Nydus data layer '" + target
                        + "' has no layer digest label (" + SnapshotLabels.CRI_LAYER_DIGEST
                        + " or " + SnapshotLabels.STARGZ_LAYER_DIGEST + "): pull Nydus images"
                        + " through containerd's CRI plugin with disable_snapshot_annotations"
                        + " = false, or with ctr-remote images rpull"));
        String blobId = blobIdOf(digest, target);
        String imageRef = imageReferenceOf(labels, target).toString();
        // The target label stays: after ALREADY_EXISTS, containerd looks the layer up by
        // listing committed snapshots whose target label and parent match its request.
        Map<String, String> committedLabels = new LinkedHashMap<>(labels);
        committedLabels.put(SnapshotLabels.SKIPPED_BLOB, blobId);
        committedLabels.put(SnapshotLabels.IMAGE_REF, imageRef);
        synchronized (lock) {
            if (store.get(target).isPresent()) {
                throw new SnapshotException(Reason.ALREADY_EXISTS,
                        "target snapshot '" + target + "' already exists");
            }
            create(target, parent, committedLabels, SnapshotKind.COMMITTED);
        }
        metrics.lazyLayer();
        LOG.info("skipped the download of Nydus data layer {} of image {}: it is read lazily",
                digest, imageRef);
        throw new SnapshotException(Reason.ALREADY_EXISTS, "target snapshot '" + target
                + "' exists: Nydus data layer " + digest + " is read lazily (request key '"
                + key + "')");
    }

    /**
     * Rejects an active snapshot directly on a Nydus data layer unless it is a bootstrap layer.
     * A data layer is committed empty, so only a bootstrap layer, which nydusd mounts, can
     * stack on it. containerd 1.6's {@code ctr images pull} passes no layer labels, and where
     * the data layers exist from a lazy pull it unpacks the bootstrap layer as a plain layer.
     * Once committed, that layer would give every later pull of the image a root file system
     * that contains only the bootstrap file.
     */
    private void checkNotOnDataLayer(String key, String parent, Map<String, String> labels)
            throws SnapshotException {
        if (parent == null || parent.isEmpty()
                || SnapshotLabels.isTrue(labels, SnapshotLabels.NYDUS_BOOTSTRAP)) {
            return;
        }
        Optional<SnapshotRecord> parentRecord;
        synchronized (lock) {
            parentRecord = store.get(parent);
        }
        if (parentRecord.isEmpty() || parentRecord.get().label(SnapshotLabels.SKIPPED_BLOB)
                == null) {
            return;
        }
        throw new SnapshotException(Reason.FAILED_PRECONDITION, "snapshot '" + key
                + "' cannot be prepared on Nydus data layer '" + parent + "' of image "
                + parentRecord.get().label(SnapshotLabels.IMAGE_REF) + " without the label "
                + SnapshotLabels.NYDUS_BOOTSTRAP + "=true, because the image is unpacked"
                + " without its layer annotations (as plain ctr images pull does). Pull Nydus"
                + " images with ctr-remote images rpull or through containerd's CRI plugin");
    }

    private static String blobIdOf(String digest, String target) throws SnapshotException {
        String hex = digest.startsWith("sha256:") ? digest.substring("sha256:".length()) : "";
        if (!BlobCache.isBlobId(hex)) {
            throw new SnapshotException(Reason.INVALID_ARGUMENT, "Nydus data layer '" + target
                    + "' has an invalid layer digest '" + abbreviate(digest)
                    + "': expected sha256: and 64 lower-case hex digits");
        }
        return hex;
    }

    private static ImageReference imageReferenceOf(Map<String, String> labels, String target)
            throws SnapshotException {
        String text = SnapshotLabels.imageRef(labels).orElseThrow(() ->
                new SnapshotException(Reason.INVALID_ARGUMENT, "Nydus layer '" + target
                        + "' has no image reference label (" + SnapshotLabels.CRI_IMAGE_REF
                        + " or " + SnapshotLabels.STARGZ_IMAGE_REF + "): pull Nydus images"
                        + " through containerd's CRI plugin or with ctr-remote images rpull"));
        try {
            return ImageReference.parse(text);
        } catch (IllegalArgumentException e) {
            throw new SnapshotException(Reason.INVALID_ARGUMENT, "Nydus layer '" + target
                    + "' has an invalid image reference: " + e.getMessage(), e);
        }
    }

    private void checkBootstrapLayer(SnapshotRecord active, Map<String, String> labels)
            throws SnapshotException {
        String name = labels.getOrDefault(SnapshotLabels.TARGET_REF, active.key());
        ImageReference reference = imageReferenceOf(labels, name);
        labels.put(SnapshotLabels.IMAGE_REF, reference.toString());
        if (bootstrapFile(active.id()).isEmpty()) {
            throw new SnapshotException(Reason.FAILED_PRECONDITION, "Nydus bootstrap layer '"
                    + name + "' of image " + reference + " contains no image/image.boot");
        }
    }

    private Optional<Path> bootstrapFile(long id) {
        Path fs = snapshotDir(id).resolve("fs");
        for (Path candidate : List.of(fs.resolve("image/image.boot"), fs.resolve("image.boot"))) {
            if (Files.isRegularFile(candidate, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    private SnapshotRecord create(String key, String parent, Map<String, String> labels,
            SnapshotKind kind) throws SnapshotException {
        requireKey(key, "snapshot key");
        synchronized (lock) {
            if (store.get(key).isPresent()) {
                throw new SnapshotException(Reason.ALREADY_EXISTS,
                        "snapshot '" + key + "' already exists");
            }
            if (parent != null && !parent.isEmpty()) {
                SnapshotRecord parentRecord = require(parent);
                if (parentRecord.kind() != SnapshotKind.COMMITTED) {
                    throw new SnapshotException(Reason.FAILED_PRECONDITION, "parent '" + parent
                            + "' of snapshot '" + key + "' is not committed");
                }
            }
            Instant now = clock.instant();
            SnapshotRecord record = new SnapshotRecord(key, store.nextId(), kind, parent, now,
                    now, labels);
            Path dir = snapshotDir(record.id());
            try {
                Files.createDirectories(dir.resolve("fs"));
                if (kind == SnapshotKind.ACTIVE) {
                    Files.createDirectories(dir.resolve("work"));
                }
            } catch (IOException e) {
                deleteDirectory(dir);
                throw new SnapshotException(Reason.INTERNAL, "failed to create directory "
                        + dir + " for snapshot '" + key + "': " + e.getMessage(), e);
            }
            try {
                save(() -> store.put(record), "create " + key);
            } catch (SnapshotException e) {
                deleteDirectory(dir);
                throw e;
            }
            return record;
        }
    }

    private List<MountSpec> overlayMounts(SnapshotRecord record) {
        List<String> lowers = new ArrayList<>();
        synchronized (lock) {
            for (SnapshotRecord ancestor : store.ancestors(record)) {
                lowers.add(snapshotDir(ancestor.id()).resolve("fs").toString());
            }
        }
        Path dir = snapshotDir(record.id());
        if (record.kind() == SnapshotKind.ACTIVE && lowers.isEmpty()) {
            return List.of(new MountSpec("bind", dir.resolve("fs").toString(),
                    List.of("rw", "rbind")));
        }
        if (record.kind() == SnapshotKind.VIEW && lowers.size() <= 1) {
            String source = lowers.isEmpty() ? dir.resolve("fs").toString() : lowers.getFirst();
            return List.of(new MountSpec("bind", source, List.of("ro", "rbind")));
        }
        return List.of(overlay(record, String.join(":", lowers)));
    }

    private MountSpec overlay(SnapshotRecord record, String lowerdir) {
        Path dir = snapshotDir(record.id());
        List<String> options = new ArrayList<>();
        options.add("index=off");
        if (record.kind() == SnapshotKind.ACTIVE) {
            if (volatileOverlays || record.labelIsTrue(SnapshotLabels.OVERLAY_VOLATILE)) {
                options.add("volatile");
            }
            options.add("workdir=" + dir.resolve("work"));
            options.add("upperdir=" + dir.resolve("fs"));
        }
        options.add("lowerdir=" + lowerdir);
        return new MountSpec("overlay", "overlay", options);
    }

    /**
     * Returns an overlay on the mounted image, below the directories of any layers committed
     * on top of the bootstrap layer (such as a committed container).
     */
    private List<MountSpec> nydusMounts(SnapshotRecord record, NydusImage image)
            throws SnapshotException {
        Path mountpoint = mounter.mount(image);
        List<String> lowers = new ArrayList<>();
        synchronized (lock) {
            for (SnapshotRecord ancestor : store.ancestors(record)) {
                if (ancestor.id() == image.snapshotId()) {
                    break;
                }
                lowers.add(snapshotDir(ancestor.id()).resolve("fs").toString());
            }
        }
        lowers.add(mountpoint.toString());
        if (record.kind() == SnapshotKind.VIEW && lowers.size() == 1) {
            return List.of(new MountSpec("bind", mountpoint.toString(), List.of("ro", "rbind")));
        }
        return List.of(overlay(record, String.join(":", lowers)));
    }

    /** Finds the Nydus image of the nearest committed bootstrap layer below {@code record}. */
    private Optional<NydusImage> nydusImageBelow(SnapshotRecord record) throws SnapshotException {
        List<SnapshotRecord> ancestors;
        synchronized (lock) {
            ancestors = store.ancestors(record);
        }
        for (int i = 0; i < ancestors.size(); i++) {
            SnapshotRecord ancestor = ancestors.get(i);
            if (ancestor.labelIsTrue(SnapshotLabels.NYDUS_BOOTSTRAP)) {
                return Optional.of(nydusImage(ancestor, ancestors.subList(i + 1,
                        ancestors.size())));
            }
        }
        return Optional.empty();
    }

    private NydusImage nydusImage(SnapshotRecord bootstrapLayer, List<SnapshotRecord> below)
            throws SnapshotException {
        ImageReference reference = imageReferenceOf(bootstrapLayer.labels(),
                bootstrapLayer.key());
        Path bootstrap = bootstrapFile(bootstrapLayer.id()).orElseThrow(() ->
                new SnapshotException(Reason.FAILED_PRECONDITION, "Nydus bootstrap layer '"
                        + bootstrapLayer.key() + "' of image " + reference
                        + " contains no image/image.boot"));
        List<String> blobIds = new ArrayList<>();
        for (SnapshotRecord layer : below.reversed()) {
            String blobId = layer.label(SnapshotLabels.SKIPPED_BLOB);
            if (blobId != null) {
                blobIds.add(blobId);
            }
        }
        return new NydusImage(bootstrapLayer.id(), bootstrap, reference, blobIds,
                bootstrapLayer.labels());
    }

    /** Returns the images below active or view snapshots, once each. Caller holds the lock. */
    private List<NydusImage> nydusImagesInUse() {
        Map<Long, NydusImage> images = new HashMap<>();
        for (SnapshotRecord record : store.all()) {
            if (record.kind() == SnapshotKind.COMMITTED) {
                continue;
            }
            try {
                nydusImageBelow(record).ifPresent(image ->
                        images.putIfAbsent(image.snapshotId(), image));
            } catch (SnapshotException e) {
                LOG.warn("snapshot '{}' cannot be recovered: {}", record.key(), e.getMessage());
            }
        }
        return List.copyOf(images.values());
    }

    private void releaseUnusedBlob(String blobId) {
        try {
            // The blob is freed under the lock, so that a layer of another image that shares
            // it cannot be prepared between the check and the deletion.
            synchronized (lock) {
                for (SnapshotRecord record : store.all()) {
                    if (cachedBlobs(record).contains(blobId)) {
                        return;
                    }
                }
                cache.release(blobId);
            }
        } catch (IOException e) {
            LOG.warn("failed to free blob {} from the cache: {}", blobId, e.toString());
        }
    }

    private SnapshotRecord require(String key) throws SnapshotException {
        synchronized (lock) {
            return store.get(key).orElseThrow(() -> SnapshotException.notFound(key));
        }
    }

    private static void requireKey(String key, String what) throws SnapshotException {
        if (key == null || key.isEmpty()) {
            throw new SnapshotException(Reason.INVALID_ARGUMENT, what + " is empty");
        }
        if (key.length() > SnapshotLabels.MAX_VALUE_LENGTH) {
            throw new SnapshotException(Reason.INVALID_ARGUMENT, what + " '" + abbreviate(key)
                    + "' is longer than " + SnapshotLabels.MAX_VALUE_LENGTH + " characters");
        }
    }

    private static void checkLabels(Map<String, String> labels) throws SnapshotException {
        for (Map.Entry<String, String> label : labels.entrySet()) {
            if (label.getKey().length() + label.getValue().length()
                    > SnapshotLabels.MAX_VALUE_LENGTH) {
                throw new SnapshotException(Reason.INVALID_ARGUMENT, "label '"
                        + abbreviate(label.getKey()) + "' is longer than "
                        + SnapshotLabels.MAX_VALUE_LENGTH + " characters with its value");
            }
        }
        if (SnapshotLabels.isTrue(labels, SnapshotLabels.NYDUS_BLOB)
                || SnapshotLabels.isTrue(labels, SnapshotLabels.NYDUS_BOOTSTRAP)) {
            checkImageReferencesAgree(labels);
        }
    }

    /**
     * Rejects a Nydus layer whose two image reference labels name different repositories.
     * containerd's CRI plugin sets the CRI label and ctr-remote the stargz one on every layer,
     * overwriting a layer annotation of the same name (containerd's
     * {@code AppendInfoHandlerWrapper} and stargz-snapshotter's
     * {@code AppendDefaultLabelsHandlerWrapper}). So when the two disagree, one of them came
     * from the image's own annotations, and it would send nydusd to a registry of the image's
     * choosing.
     *
     * <p>NOTE: a plain {@code ctr images pull} sets neither label, so there an image whose
     * layer annotations carry a reference label still chooses where nydusd reads its blobs.
     */
    private static void checkImageReferencesAgree(Map<String, String> labels)
            throws SnapshotException {
        String cri = labels.get(SnapshotLabels.CRI_IMAGE_REF);
        String stargz = labels.get(SnapshotLabels.STARGZ_IMAGE_REF);
        if (cri == null || cri.isEmpty() || stargz == null || stargz.isEmpty()) {
            return;
        }
        Repository fromCri = referenceLabel(SnapshotLabels.CRI_IMAGE_REF, cri).toRepository();
        Repository fromStargz = referenceLabel(SnapshotLabels.STARGZ_IMAGE_REF, stargz)
                .toRepository();
        if (!fromCri.equals(fromStargz)) {
            throw new SnapshotException(Reason.INVALID_ARGUMENT, "label "
                    + SnapshotLabels.STARGZ_IMAGE_REF + "='" + abbreviate(stargz)
                    + "' names repository " + fromStargz + ", but label "
                    + SnapshotLabels.CRI_IMAGE_REF + "='" + abbreviate(cri) + "' names "
                    + fromCri + ": the image reference labels of a Nydus layer must name the"
                    + " same registry and repository");
        }
    }

    private static ImageReference referenceLabel(String name, String value)
            throws SnapshotException {
        try {
            return ImageReference.parse(value);
        } catch (IllegalArgumentException e) {
            throw new SnapshotException(Reason.INVALID_ARGUMENT, "label " + name
                    + " is invalid: " + e.getMessage(), e);
        }
    }

    static String abbreviate(String text) {
        return text.length() <= 100 ? text : text.substring(0, 100) + "...";
    }

    private interface StoreChange {
        void run() throws IOException;
    }

    private static void save(StoreChange change, String operation) throws SnapshotException {
        try {
            change.run();
        } catch (IOException e) {
            throw new SnapshotException(Reason.INTERNAL, "failed to save snapshot metadata"
                    + " for " + operation + ": " + e.getMessage(), e);
        }
    }

    private static void deleteDirectory(Path dir) {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try {
            // A mount left below the directory (say, of a daemon that died) is detached first,
            // so that the deletion never reaches into a mounted file system.
            for (Path mountpoint : MountTable.mountsBelow(dir)) {
                LOG.warn("detaching {} before deleting {}", mountpoint, dir);
                MountTable.detach(mountpoint);
            }
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attributes)
                        throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path directory, IOException e)
                        throws IOException {
                    if (e != null) {
                        throw e;
                    }
                    Files.delete(directory);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            LOG.warn("failed to delete snapshot directory {}: {}", dir, e.toString());
        }
    }
}
