package io.nydus.snapshotter;

import io.nydus.posix.BytePath;
import io.nydus.posix.NoSuchEntryException;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The blob cache directory that nydusd fills ({@code <blob id>.blob.data}, its chunk map,
 * {@code .blob.meta} and the like). Which blobs are in use is decided by the snapshot store:
 * a blob stays while a committed data layer of any image refers to it.
 */
final class BlobCache {
    private static final Logger LOG = LoggerFactory.getLogger(BlobCache.class);
    private static final Pattern BLOB_ID = Pattern.compile("[0-9a-f]{64}");
    /** The unit of {@code st_blocks}. */
    private static final long BLOCK_BYTES = 512;

    private final Path directory;
    private final long maxBytes;

    /**
     * @param maxBytes the size above which {@link #collect} also evicts blobs that are
     *     referenced but not mounted; 0 for no limit
     */
    BlobCache(Path directory, long maxBytes) throws IOException {
        if (maxBytes < 0) {
            throw new IllegalArgumentException("cache size limit is negative: " + maxBytes);
        }
        this.directory = directory;
        this.maxBytes = maxBytes;
        Files.createDirectories(directory);
    }

    Path directory() {
        return directory;
    }

    static boolean isBlobId(String text) {
        return text != null && BLOB_ID.matcher(text).matches();
    }

    /**
     * Returns the disk space allocated to the cache files in bytes. A data file is sparse, so a
     * blob counts only the chunks that nydusd fetched, as {@code du} counts them.
     */
    long sizeBytes() throws IOException {
        long total = 0;
        for (BlobFiles blob : scan().values()) {
            total += blob.bytes;
        }
        return total;
    }

    /**
     * Returns the cache files of {@code blobId}, none if nydusd has cached nothing of it. Only
     * the entries whose names start with the id are stat'ed, because containerd's CRI plugin
     * requests the usage of snapshots periodically, for kubelet's image file system stats.
     */
    List<Path> files(String blobId) throws IOException {
        List<Path> result = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory,
                entry -> isFileOf(entry.getFileName().toString(), blobId))) {
            for (Path entry : entries) {
                result.add(entry);
            }
        }
        return result;
    }

    private static boolean isFileOf(String name, String blobId) {
        return name.equals(blobId) || name.startsWith(blobId + ".");
    }

    /** Deletes every cache file of {@code blobId}, and returns how many bytes that freed. */
    long release(String blobId) throws IOException {
        if (!isBlobId(blobId)) {
            throw new IllegalArgumentException("invalid blob id '" + blobId + "'");
        }
        BlobFiles files = scan().get(blobId);
        if (files == null) {
            return 0;
        }
        delete(blobId, files);
        return files.bytes;
    }

    /**
     * The blobs that snapshots refer to, and the blobs of mounted images.
     *
     * @param referenced blob ids that snapshots name
     * @param mounted blob ids that mounted images read
     */
    record Usage(Set<String> referenced, Set<String> mounted) {
        Usage {
            referenced = Set.copyOf(referenced);
            mounted = Set.copyOf(mounted);
        }
    }

    /**
     * Deletes the blobs that no snapshot refers to, then, while the cache is above its limit,
     * the least recently used blobs that no mounted image reads.
     *
     * @param usage read after the cache is scanned, so that a blob cached for a snapshot made
     *     during the scan is seen with its snapshot and kept
     * @return the bytes freed
     */
    long collect(Supplier<Usage> usage) throws IOException {
        Map<String, BlobFiles> blobs = scan();
        Usage current = usage.get();
        Set<String> referenced = current.referenced();
        Set<String> mounted = current.mounted();
        long freed = 0;
        long total = 0;
        for (Map.Entry<String, BlobFiles> entry : blobs.entrySet()) {
            total += entry.getValue().bytes;
            if (!referenced.contains(entry.getKey())) {
                delete(entry.getKey(), entry.getValue());
                freed += entry.getValue().bytes;
            }
        }
        long remaining = total - freed;
        if (maxBytes == 0 || remaining <= maxBytes) {
            return freed;
        }
        List<Map.Entry<String, BlobFiles>> candidates = new ArrayList<>(blobs.entrySet().stream()
                .filter(e -> referenced.contains(e.getKey()) && !mounted.contains(e.getKey()))
                .toList());
        candidates.sort(Comparator.comparingLong(e -> e.getValue().lastAccessMillis));
        for (Map.Entry<String, BlobFiles> entry : candidates) {
            if (remaining <= maxBytes) {
                break;
            }
            delete(entry.getKey(), entry.getValue());
            freed += entry.getValue().bytes;
            remaining -= entry.getValue().bytes;
        }
        if (remaining > maxBytes) {
            LOG.warn("blob cache {} holds {} bytes, above its limit of {}, but every remaining"
                    + " blob belongs to a mounted image", directory, remaining, maxBytes);
        }
        return freed;
    }

    private void delete(String blobId, BlobFiles files) throws IOException {
        for (Path file : files.paths) {
            Files.deleteIfExists(file);
        }
        LOG.info("freed blob {} from the cache ({} bytes)", blobId, files.bytes);
    }

    private Map<String, BlobFiles> scan() throws IOException {
        Map<String, BlobFiles> result = new HashMap<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                int dot = name.indexOf('.');
                String blobId = dot < 0 ? name : name.substring(0, dot);
                Stat stat;
                try {
                    stat = Posix.lstat(BytePath.of(entry));
                } catch (NoSuchEntryException e) {
                    // Released by another request between the listing and this lstat.
                    continue;
                }
                if (!isBlobId(blobId) || !stat.isRegularFile()) {
                    continue;
                }
                result.computeIfAbsent(blobId, id -> new BlobFiles()).add(entry, stat);
            }
        }
        return result;
    }

    /** The files of one blob, their size and the latest access among them. */
    private static final class BlobFiles {
        final List<Path> paths = new ArrayList<>();
        long bytes;
        long lastAccessMillis;

        void add(Path path, Stat stat) {
            paths.add(path);
            // The apparent size of a sparse data file is that of the whole blob, however few
            // of its chunks nydusd fetched, so the limit counts the allocated blocks.
            bytes += stat.blocks() * BLOCK_BYTES;
            lastAccessMillis = Math.max(lastAccessMillis, Math.max(
                    stat.atime().toInstant().toEpochMilli(),
                    stat.mtime().toInstant().toEpochMilli()));
        }
    }
}
