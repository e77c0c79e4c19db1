package io.nydus.nydusify;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.nydusify.SourceManifests.UnclosedStream;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The build cache of one conversion. It reads the cache image when the conversion starts,
 * finds records by the chain ID of a source layer, and collects the records of every layer
 * the conversion used. After the conversion it writes the cache image again: this run's
 * records first, in layer order, then the older ones up to the maximum, so that the least
 * recently used records drop out. A cache that cannot be read or written only costs speed,
 * so those failures are logged as warnings and the conversion goes on without the cache.
 * A manifest at the cache reference that is not a build cache image is never replaced: the
 * run then neither reads nor writes the cache. Only the conversion thread calls it.
 *
 * <p>NOTE: records do not name the build options, as upstream's do not. The caller checks a
 * record's bootstrap against the options that it shows: chunk size, compressor, digester,
 * uid/gid mode and dictionary blobs. Prefetch patterns cannot be checked that way, so a cache
 * filled with other patterns gives an image that differs from a conversion without it.
 */
final class BuildCache {
    private static final Logger LOG = LoggerFactory.getLogger(BuildCache.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final BuildCacheSpec spec;
    private final RegistryStore store;
    private final boolean docker;
    private final Map<Digest, CacheRecord> imported = new LinkedHashMap<>();
    private final Map<Digest, Use> used = new LinkedHashMap<>();
    /** Whether the cache reference is a manifest that this run must not replace. */
    private boolean foreign;

    /**
     * A record that this run used or made.
     *
     * @param bootstrapLayer the layer bootstrap tar to upload to the cache, or null for a
     *     record taken from the cache, whose layers it has already
     */
    private record Use(CacheRecord record, Path bootstrapLayer) {
    }

    private BuildCache(BuildCacheSpec spec, RegistryStore store, boolean docker) {
        this.spec = spec;
        this.store = store;
        this.docker = docker;
    }

    /**
     * Reads the cache image of {@code spec} through {@code client}. A missing or unreadable
     * cache image, or one of another version, gives an empty cache. A manifest that is not a
     * build cache image gives an empty cache that {@link #update} leaves unwritten.
     *
     * @param docker whether the cache image gets Docker schema 2 media types when written
     */
    static BuildCache open(BuildCacheSpec spec, RegistryClient client, boolean docker) {
        RegistryStore store = new RegistryStore(ImageLocation.registry(spec.reference()),
                client);
        BuildCache cache = new BuildCache(spec, store, docker);
        try {
            for (CacheRecord record : cache.readRecords()) {
                cache.imported.put(record.chainId(), record);
            }
        } catch (NotCacheImageException e) {
            cache.foreign = true;
            LOG.warn("{}; the build cache is neither read nor written in this run",
                    e.getMessage());
        } catch (IOException | IllegalArgumentException e) {
            if (e.getCause() instanceof RegistryNotFoundException) {
                // The first conversion with a cache tag finds no image there, and writes one.
                LOG.info("build cache {} does not exist yet, so every layer is built",
                        cache.reference());
            } else {
                LOG.warn("build cache {} is not used, so every layer is built: {}",
                        cache.reference(), e.getMessage());
            }
        }
        LOG.info("build cache {}: {} records", spec.reference(), cache.imported.size());
        return cache;
    }

    /** Returns the cache image reference. */
    String reference() {
        return spec.reference().toString();
    }

    /** Returns the record of a source layer, if the cache has one. */
    Optional<CacheRecord> find(Digest chainId) {
        return Optional.ofNullable(imported.get(chainId));
    }

    /**
     * Writes the layer bootstrap of {@code record} to {@code bootstrap} and returns the chunk
     * information of the record's blob, or empty if the cached layer carries none.
     *
     * @throws IOException if the cache image lacks the bootstrap layer or it is invalid
     */
    Optional<byte[]> fetchBootstrap(CacheRecord record, Path bootstrap) throws IOException {
        String name = "bootstrap layer " + record.bootstrapDigest() + " of build cache "
                + reference();
        BootstrapLayer.Read read;
        try (InputStream in = store.blob(record.bootstrapDigest(), record.bootstrapSize())) {
            try {
                read = BootstrapLayer.read(new UnclosedStream(in), bootstrap, name);
            } catch (IOException e) {
                throw BlobDecodeFailure.explain(in, e, name);
            }
            // Reading to the end checks the digest of the whole layer.
            in.transferTo(OutputStream.nullOutputStream());
        }
        return Optional.ofNullable(read.blobMetas().get(record.blobDigest()));
    }

    /**
     * Makes the blob of {@code record} available in {@code target}: found there, or mounted
     * or copied from the cache image.
     */
    BlobPushResult provideBlob(CacheRecord record, ImageStore target) throws IOException {
        if (target.hasBlob(record.blobDigest())) {
            return BlobPushResult.EXISTED;
        }
        return target.copyBlob(store, record.blobDigest(), record.blobSize());
    }

    /** Notes that a layer of this run was taken from {@code record}. */
    void reused(CacheRecord record) {
        used.putIfAbsent(record.chainId(), new Use(record, null));
    }

    /**
     * Notes a layer that this run built, whose layer bootstrap tar is {@code bootstrapLayer}
     * until the run ends.
     */
    void built(CacheRecord record, Path bootstrapLayer) {
        used.putIfAbsent(record.chainId(), new Use(record, bootstrapLayer));
    }

    /**
     * Writes the cache image with this run's records first. The cache image is read again
     * first, so that records that another conversion wrote meanwhile are kept. The new
     * records' blobs are mounted or copied from {@code target}. Nothing is written if the
     * reference is a manifest that is not a build cache image. A failure is logged, not
     * thrown, because the converted image is complete already.
     */
    void update(ImageStore target) {
        if (used.isEmpty() || foreign) {
            return;
        }
        try {
            List<CacheRecord> current = currentRecords();
            if (current == null) {
                return;
            }
            List<CacheRecord> records = merge(used.values().stream().map(Use::record).toList(),
                    current, spec.maxRecords());
            for (Use use : used.values()) {
                if (use.bootstrapLayer() != null && records.contains(use.record())) {
                    upload(use, target);
                }
            }
            BuildCacheManifest.Encoded image = BuildCacheManifest.encode(records,
                    spec.version(), docker);
            store.pushBlob(image.manifest().config().digest(), image.config().length,
                    BlobSource.of(image.config()));
            Digest digest = store.putImage(ManifestContent.of(image.manifest()));
            LOG.info("build cache {}: wrote {} records as {}", reference(), records.size(),
                    digest);
        } catch (IOException | RuntimeException e) {
            LOG.warn("build cache {}: update failed, the converted image is complete: {}",
                    reference(), e.getMessage() == null ? e.getClass().getSimpleName()
                            : e.getMessage());
        }
    }

    /**
     * Returns {@code recent} and then the records of {@code older} with other chain IDs, at
     * most {@code max} in all.
     */
    static List<CacheRecord> merge(List<CacheRecord> recent, List<CacheRecord> older,
            int max) {
        Map<Digest, CacheRecord> merged = new LinkedHashMap<>();
        for (CacheRecord record : recent) {
            merged.putIfAbsent(record.chainId(), record);
        }
        for (CacheRecord record : older) {
            merged.putIfAbsent(record.chainId(), record);
        }
        List<CacheRecord> records = new ArrayList<>(merged.values());
        return List.copyOf(records.subList(0, Math.min(max, records.size())));
    }

    private void upload(Use use, ImageStore target) throws IOException {
        CacheRecord record = use.record();
        store.pushBlob(record.bootstrapDigest(), record.bootstrapSize(),
                BlobSource.of(use.bootstrapLayer()));
        store.copyBlob(target, record.blobDigest(), record.blobSize());
    }

    /**
     * Returns the records that the cache image has now, none if it cannot be used, or null if
     * the reference is a manifest that must not be replaced.
     */
    private List<CacheRecord> currentRecords() {
        try {
            return readRecords();
        } catch (NotCacheImageException e) {
            LOG.warn("{}; the build cache is not written", e.getMessage());
            return null;
        } catch (IOException | IllegalArgumentException e) {
            LOG.info("build cache {}: writing a new cache image: {}", reference(),
                    e.getMessage());
            return List.of();
        }
    }

    private List<CacheRecord> readRecords() throws IOException {
        ManifestContent content = store.manifest();
        if (content.isIndex()) {
            throw new NotCacheImageException(reference(), "an index");
        }
        Manifest manifest;
        try {
            manifest = content.toManifest();
        } catch (IllegalArgumentException e) {
            throw new NotCacheImageException(reference(), "an invalid image manifest ("
                    + e.getMessage() + ")");
        }
        if (!manifest.annotations().containsKey(BuildCacheManifest.ANNOTATION_CACHE_VERSION)) {
            throw new NotCacheImageException(reference(), "an image manifest without the"
                    + " annotation " + BuildCacheManifest.ANNOTATION_CACHE_VERSION);
        }
        return BuildCacheManifest.decode(manifest, spec.version(), reference());
    }

    /**
     * Thrown when the cache reference is a manifest that is not a build cache image, such as
     * an ordinary image, which writing the cache image would replace.
     */
    private static final class NotCacheImageException extends IOException {
        NotCacheImageException(String reference, String found) {
            super("build cache " + reference + " is " + found + ", not a build cache image");
        }
    }

    /**
     * Returns the chain IDs of the layers of an image config.
     *
     * @throws IllegalArgumentException if {@code rootfs.diff_ids} is missing or lists a digest
     *     other than SHA-256
     */
    static List<Digest> chainIds(byte[] config) {
        return chainIds(diffIds(config));
    }

    /**
     * Returns the diff IDs of the layers of an image config, bottom layer first.
     *
     * @throws IllegalArgumentException if {@code rootfs.diff_ids} is missing or lists a digest
     *     other than SHA-256
     */
    static List<Digest> diffIds(byte[] config) {
        JsonNode ids;
        try {
            ids = MAPPER.readTree(config).path("rootfs").path("diff_ids");
        } catch (IOException e) {
            throw new IllegalArgumentException("the image config is not JSON", e);
        }
        if (!ids.isArray()) {
            throw new IllegalArgumentException("the image config has no rootfs.diff_ids");
        }
        List<Digest> diffIds = new ArrayList<>();
        ids.forEach(id -> diffIds.add(Digest.parse(id.asText())));
        return diffIds;
    }

    /**
     * Returns the chain IDs of layers with {@code diffIds}, bottom layer first: the first is
     * its diff ID, and each next one is the SHA-256 of the one below, a space and its own diff
     * ID, as the OCI image spec defines them.
     */
    static List<Digest> chainIds(List<Digest> diffIds) {
        List<Digest> chainIds = new ArrayList<>();
        for (Digest diffId : diffIds) {
            Digest chainId = chainIds.isEmpty() ? diffId : Digest.of((chainIds.getLast() + " "
                    + diffId).getBytes(StandardCharsets.US_ASCII));
            chainIds.add(chainId);
        }
        return chainIds;
    }
}
