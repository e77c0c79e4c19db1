package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.elapsedMillis;

import io.nydus.builder.BuildResult;
import io.nydus.builder.ExitCleanup;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.MergeResult;
import io.nydus.nydusify.SourceManifests.UnclosedStream;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryNotFoundException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Converts one image manifest: builds each layer into a data blob, merges the layer
 * bootstraps, and writes the bootstrap layer, the config and the Nydus manifest. Blobs go to
 * the target as they are built; the manifest is returned for the caller to store, so that the
 * tag moves only when every platform is done.
 */
final class ManifestConverter {
    private static final Logger LOG = LoggerFactory.getLogger(ManifestConverter.class);
    /** How long a failed conversion waits for the upload thread to stop. */
    private static final long STOP_TIMEOUT_SECONDS = 30;
    /**
     * The blob bytes that may wait for upload while the next layer builds. The small layers
     * that often follow a large one are then built while the large one uploads.
     */
    private static final long QUEUED_BLOB_BYTES = 256L << 20;

    private final ImageStore source;
    private final ImageStore target;
    private final ConvertOptions options;
    private final ChunkDict dict;
    private final BuildCache cache;
    private final ConvertProgress progress;
    private final List<EarlyUpload> earlyUploads = new ArrayList<>();
    /** The source layers built so far, over all platforms of this conversion. */
    private final Set<Digest> builtLayers = new HashSet<>();
    private Boolean sendWhileBuilding;
    private Set<String> dictBlobIds;

    /**
     * Creates a converter that builds against {@code dict} and takes layers from and records
     * them in {@code cache}; either may be null.
     */
    ManifestConverter(ImageStore source, ImageStore target, ConvertOptions options,
            ChunkDict dict, BuildCache cache, ConvertProgress progress) {
        this.source = source;
        this.target = target;
        this.options = options;
        this.dict = dict;
        this.cache = cache;
        this.progress = progress;
    }

    /** A converted manifest, stored in the target by neither tag nor digest yet. */
    record Converted(ManifestContent content, ManifestResult result) {
    }

    /**
     * Converts {@code manifest} ({@code sourceEntry} in the source), whose config has been
     * checked and read as {@code config}.
     *
     * @param label names the platform in progress events and logs, or is empty
     */
    Converted convert(Manifest manifest, Descriptor sourceEntry, PlatformSpec platform,
            byte[] config, String label, Path runDir) throws IOException {
        long started = System.nanoTime();
        Digest sourceDigest = sourceEntry.digest();
        if (options.referrer() && keepsDockerFormat(manifest)) {
            throw new IllegalArgumentException("--with-referrer needs an OCI manifest, and the"
                    + " Docker schema 2 manifest that --docker-v2-format keeps for "
                    + sourceDigest + " has no subject field; convert without"
                    + " --docker-v2-format");
        }
        ExecutorService uploads = Executors.newSingleThreadExecutor(
                Thread.ofPlatform().daemon().name("blob-upload").factory());
        try {
            return convert(manifest, sourceEntry, platform, config, label, runDir, uploads,
                    started);
        } finally {
            stop(uploads);
            stopEarlyUploads();
        }
    }

    /**
     * Converts as {@link #convert(Manifest, Descriptor, PlatformSpec, byte[], String, Path)}
     * does, uploading the layer blobs on {@code uploads}. The merge and the writing of the
     * bootstrap layer run while the last layer blobs are still being uploaded.
     */
    private Converted convert(Manifest manifest, Descriptor sourceEntry, PlatformSpec platform,
            byte[] config, String label, Path runDir, ExecutorService uploads, long started)
            throws IOException {
        Digest sourceDigest = sourceEntry.digest();
        List<Descriptor> sourceLayers = manifest.layers();
        List<Path> bootstraps = new ArrayList<>();
        for (int i = 0; i < sourceLayers.size(); i++) {
            bootstraps.add(runDir.resolve("layer-" + i + ".boot"));
        }
        Map<Digest, byte[]> blobMetas = new LinkedHashMap<>();
        List<Digest> chainIds = cacheKeys(config, sourceDigest);
        List<Digest> diffIds = expectedDiffIds(config, sourceDigest, sourceLayers.size());
        List<PendingLayer> pending = convertLayers(uploads, sourceLayers, chainIds, diffIds,
                label, bootstraps, blobMetas);
        List<Digest> blobDigests = pending.stream().map(PendingLayer::blobDigest).toList();
        Path merged = runDir.resolve("image.boot");
        List<String> layerNames = new ArrayList<>();
        for (int i = 0; i < sourceLayers.size(); i++) {
            layerNames.add(label + "layer " + (i + 1) + "/" + sourceLayers.size() + " "
                    + sourceLayers.get(i).digest() + " of " + source.describe());
        }
        ImageMerger merger = new ImageMerger().prefetch(options.prefetchList())
                .blobDigests(blobDigests.stream().map(Digest::hex).toList())
                .layerNames(layerNames);
        if (options.ociRef()) {
            merger.blobSizes(pending.stream().map(PendingLayer::blobSize).toList());
        }
        MergeResult merge = merger.merge(bootstraps, merged);
        // An OCI-ref image names its source layers as blobs, and takes no chunk dict.
        List<BlobResult> dictBlobs = options.ociRef() ? List.of()
                : storeDictBlobs(merge, blobDigests);
        for (BlobResult blob : dictBlobs) {
            dict.blobMeta(blob.digest()).ifPresent(meta -> blobMetas.putIfAbsent(blob.digest(),
                    meta));
        }
        BootstrapLayer.Written bootstrapLayer = BootstrapLayer.write(merged, blobMetas,
                runDir.resolve("bootstrap.tar.gz"));
        // The layer blobs are committed in layer order, then the bootstrap layer, the config
        // and the manifest go to the target, in the order of a convert without overlap.
        List<LayerResult> layers = new ArrayList<>();
        for (PendingLayer layer : pending) {
            layers.add(await(layer.result()));
        }
        BlobPushResult bootstrapPush = target.pushBlob(bootstrapLayer.digest(),
                bootstrapLayer.size(), BlobSource.of(bootstrapLayer.file()));
        LOG.info("{}bootstrap layer {} ({} bytes) {}", label, bootstrapLayer.digest(),
                bootstrapLayer.size(), describe(bootstrapPush));

        List<Digest> targetDiffIds = new ArrayList<>(blobDigests);
        dictBlobs.forEach(blob -> targetDiffIds.add(blob.digest()));
        targetDiffIds.add(bootstrapLayer.diffId());
        byte[] newConfig = ConfigRewriter.rewrite(config, manifest.config().digest().toString(),
                sourceLayers.size(), targetDiffIds);
        Digest configDigest = Digest.of(newConfig);
        BlobPushResult configPush = target.pushBlob(configDigest, newConfig.length,
                BlobSource.of(newConfig));

        Descriptor subject = options.referrer() ? Descriptor.of(sourceEntry.mediaType(),
                sourceDigest, sourceEntry.size()) : null;
        ManifestContent content = ManifestContent.of(targetManifest(manifest, subject,
                configDigest, newConfig.length, layers, dictBlobs, bootstrapLayer));
        ManifestResult result = new ManifestResult(platform, sourceDigest, content.digest(),
                content.size(), configDigest, configPush, layers, dictBlobs,
                bootstrapLayer.digest(), bootstrapLayer.size(), bootstrapLayer.diffId(),
                bootstrapPush, elapsedMillis(started));
        return new Converted(content, result);
    }

    /**
     * Returns the chain IDs of the source layers, which key the build cache, or null without
     * a cache or if the config lists unusable diff IDs.
     */
    private List<Digest> cacheKeys(byte[] config, Digest sourceDigest) {
        if (cache == null) {
            return null;
        }
        try {
            return BuildCache.chainIds(config);
        } catch (IllegalArgumentException e) {
            LOG.warn("build cache {} is not used for manifest {} of {}: {}", cache.reference(),
                    sourceDigest, source.describe(), e.getMessage());
            return null;
        }
    }

    /**
     * Returns the diff ID that the source config lists for each layer, which each build checks
     * against the uncompressed layer, or null if the config lists none or a different count.
     * Then the rewrite of the config fails the conversion after the builds, naming the count.
     */
    private List<Digest> expectedDiffIds(byte[] config, Digest sourceDigest, int layers) {
        try {
            List<Digest> diffIds = BuildCache.diffIds(config);
            return diffIds.size() == layers ? diffIds : null;
        } catch (IllegalArgumentException e) {
            LOG.warn("the layers of manifest {} of {} are not checked against their diff IDs:"
                    + " {}", sourceDigest, source.describe(), e.getMessage());
            return null;
        }
    }

    /**
     * Takes each layer from the build cache, or else builds it. Layers are built one after
     * another, and each blob is uploaded on a second thread while the next layers are pulled
     * and built. Into a target without images, a blob is sent while it is built
     * ({@link EarlyUpload}), and the second thread commits that upload, or pushes the blob
     * whole if it is small or its upload failed. Blob files wait for their upload while
     * together they take at most {@link #QUEUED_BLOB_BYTES}, or one blob file of any size,
     * besides the blob being built.
     * Builds run one at a time because the chunk workers of one build already use every core.
     * Results and blob metadata are taken in layer order. Returns once the last layer is
     * built, while its upload may still run.
     *
     * @param chainIds the chain ID of each layer, or null to leave the cache unused
     * @param diffIds the diff ID of each layer, or null to leave the layers unchecked
     */
    private List<PendingLayer> convertLayers(ExecutorService uploads,
            List<Descriptor> sourceLayers, List<Digest> chainIds, List<Digest> diffIds,
            String label, List<Path> bootstraps, Map<Digest, byte[]> blobMetas)
            throws IOException {
        List<PendingLayer> results = new ArrayList<>();
        Deque<QueuedUpload> queued = new ArrayDeque<>();
        for (int i = 0; i < sourceLayers.size(); i++) {
            Descriptor layer = sourceLayers.get(i);
            String name = label + (i + 1) + "/" + sourceLayers.size() + " " + layer.digest();
            Digest chainId = chainIds == null ? null : chainIds.get(i);
            LayerResult cached = takeFromCache(layer, name, chainId, bootstraps.get(i),
                    blobMetas);
            if (cached != null) {
                results.add(new PendingLayer(cached.blobDigest(), cached.blobSize(),
                        CompletableFuture.completedFuture(cached)));
                continue;
            }
            BuiltLayer built = buildLayer(layer, name, bootstraps.get(i),
                    diffIds == null ? null : diffIds.get(i));
            if (built.blobMeta() != null) {
                blobMetas.putIfAbsent(built.blobDigest(), built.blobMeta());
            }
            recordInCache(built, chainId, bootstraps.get(i));
            awaitQueued(queued, built.blobSize());
            Future<LayerResult> pushing = uploads.submit(() -> pushLayer(built));
            queued.add(new QueuedUpload(pushing, built.blobSize()));
            results.add(new PendingLayer(built.blobDigest(), built.blobSize(), pushing));
        }
        return results;
    }

    /** An upload that was submitted, with the size of the blob file it reads. */
    private record QueuedUpload(Future<LayerResult> result, long bytes) {
    }

    /**
     * Waits for the oldest uploads until the blob files still waiting, with one of
     * {@code nextBytes} added, take at most {@link #QUEUED_BLOB_BYTES}. A larger blob thus
     * waits alone, as each blob did before small ones could queue up behind a large one.
     */
    private static void awaitQueued(Deque<QueuedUpload> queued, long nextBytes)
            throws IOException {
        long bytes = nextBytes;
        for (QueuedUpload upload : queued) {
            bytes += upload.bytes();
        }
        while (!queued.isEmpty() && (bytes > QUEUED_BLOB_BYTES || queued.peekFirst().result()
                .isDone())) {
            QueuedUpload oldest = queued.removeFirst();
            await(oldest.result());
            bytes -= oldest.bytes();
        }
    }

    /** A layer whose blob is known and whose upload may still run. */
    private record PendingLayer(Digest blobDigest, long blobSize, Future<LayerResult> result) {
    }

    /**
     * Takes a layer from the build cache: its bootstrap from the cache image and its blob
     * from the target, or mounted or copied there from the cache image. Returns null if the
     * cache has no record of {@code chainId} or the record cannot be used, and then the
     * caller builds the layer.
     */
    private LayerResult takeFromCache(Descriptor layer, String name, Digest chainId,
            Path bootstrap, Map<Digest, byte[]> blobMetas) throws IOException {
        if (chainId == null) {
            return null;
        }
        CacheRecord record = cache.find(chainId).orElse(null);
        if (record == null) {
            return null;
        }
        long started = System.nanoTime();
        Optional<byte[]> blobMeta;
        BlobPushResult push;
        long reused;
        try {
            blobMeta = cache.fetchBootstrap(record, bootstrap);
            Bootstrap cached = BootstrapReader.read(bootstrap);
            reused = reusedChunks(cached, record.blobDigest());
            Optional<String> mismatch = CacheRecordCheck.mismatch(cached, record.blobDigest(),
                    options.buildOptions(), dictBlobIds());
            if (mismatch.isPresent()) {
                LOG.warn("layer {}: the record of build cache {} was built with other options,"
                        + " so the layer is built: its bootstrap {} has {}", name,
                        cache.reference(), record.bootstrapDigest(), mismatch.get());
                Files.deleteIfExists(bootstrap);
                return null;
            }
            checkBlobMeta(record, cached, blobMeta);
            push = cache.provideBlob(record, target);
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            LOG.warn("layer {}: the record of build cache {} cannot be used, so the layer is"
                    + " built: {}", name, cache.reference(), e.getMessage());
            Files.deleteIfExists(bootstrap);
            return null;
        }
        blobMeta.ifPresent(meta -> blobMetas.putIfAbsent(record.blobDigest(), meta));
        cache.reused(record);
        LayerResult result = new LayerResult(layer.digest(), layer.size(), record.blobDigest(),
                record.blobSize(), push, reused, elapsedMillis(started), true);
        LOG.info("layer {} from build cache {} -> blob {} ({} bytes, {}) in {} ms", name,
                cache.reference(), record.blobDigest(), record.blobSize(), describe(push),
                result.millis());
        progress.started(name, layer.size());
        progress.finished(name, result);
        return result;
    }

    /**
     * Returns how many chunks the build of a cached layer found instead of storing them: the
     * chunks its files use, hard links counted once, less those stored in its own blob.
     */
    static long reusedChunks(Bootstrap bootstrap, Digest blobDigest) {
        Set<Inode> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        long used = 0;
        Deque<Node> pending = new ArrayDeque<>(List.of(bootstrap.root()));
        while (!pending.isEmpty()) {
            Node node = pending.pop();
            if (seen.add(node.inode())) {
                used += node.inode().chunks().size();
            }
            pending.addAll(node.children());
        }
        long stored = bootstrap.blobs().stream()
                .filter(blob -> CacheRecordCheck.isOwnBlob(blob, blobDigest))
                .mapToLong(BlobInfo::chunkCount).sum();
        return Math.max(0, used - stored);
    }

    /**
     * Checks that a cached layer without chunk information for its blob has no chunks in
     * that blob. Otherwise the bootstrap layer would lack the blob's {@code .blob.meta}
     * file, and the image would differ from one converted without the cache.
     */
    private static void checkBlobMeta(CacheRecord record, Bootstrap bootstrap,
            Optional<byte[]> blobMeta) throws IOException {
        if (blobMeta.isPresent()) {
            return;
        }
        for (BlobInfo blob : bootstrap.blobs()) {
            if (CacheRecordCheck.isOwnBlob(blob, record.blobDigest()) && blob.chunkCount() > 0) {
                throw new IOException("bootstrap layer " + record.bootstrapDigest()
                        + " has no chunk information for blob " + record.blobDigest());
            }
        }
    }

    /** Returns the blob ids of the chunk dictionary, read once, or null without one. */
    private Set<String> dictBlobIds() throws IOException {
        if (dict == null) {
            return null;
        }
        if (dictBlobIds == null) {
            Set<String> ids = new HashSet<>();
            BootstrapReader.read(dict.bootstrap()).blobs().forEach(blob -> ids.add(
                    blob.blobId()));
            dictBlobIds = Set.copyOf(ids);
        }
        return dictBlobIds;
    }

    /** Notes a built layer for the build cache, with its bootstrap as a layer of its own. */
    private void recordInCache(BuiltLayer built, Digest chainId, Path bootstrap)
            throws IOException {
        if (chainId == null) {
            return;
        }
        Map<Digest, byte[]> blobMeta = built.blobMeta() == null ? Map.of()
                : Map.of(built.blobDigest(), built.blobMeta());
        BootstrapLayer.Written layer = BootstrapLayer.write(bootstrap, blobMeta,
                bootstrap.resolveSibling(bootstrap.getFileName() + ".tar.gz"));
        cache.built(new CacheRecord(chainId, layer.digest(), layer.size(), layer.diffId(),
                built.blobDigest(), built.blobSize()), layer.file());
    }

    private static LayerResult await(Future<LayerResult> push) throws IOException {
        try {
            return push.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while uploading a blob");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new IOException("blob upload failed: " + cause, cause);
        }
    }

    /**
     * Stops the upload thread, so that it no longer reads from the run directory when the
     * caller deletes it. A thread blocked in a network write may not notice the interrupt, so
     * the wait is bounded.
     */
    private static void stop(ExecutorService uploads) {
        if (ExitCleanup.isStopping()) {
            // An interrupted PATCH leaves its session at an offset that the shutdown hook
            // cannot name in its DELETE, so the upload in flight is left to finish.
            uploads.shutdown();
        } else {
            uploads.shutdownNow();
        }
        try {
            if (!uploads.awaitTermination(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                LOG.warn("blob upload still running {} s after the conversion stopped",
                        STOP_TIMEOUT_SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Cancels the uploads that were not committed, because the conversion failed, and waits
     * for their threads, so that none uses the target after the conversion returns.
     */
    private void stopEarlyUploads() {
        earlyUploads.forEach(EarlyUpload::abandon);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(STOP_TIMEOUT_SECONDS);
        try {
            for (EarlyUpload upload : earlyUploads) {
                if (!upload.awaitEnd(deadline)) {
                    LOG.warn("a blob upload to {} still runs {} s after the conversion"
                            + " stopped", target.describe(), STOP_TIMEOUT_SECONDS);
                    break;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        earlyUploads.clear();
    }

    /**
     * A built layer whose blob is not pushed yet, with the CI metadata of the blob if any, and
     * the upload that sent the blob while it was built, or null.
     */
    private record BuiltLayer(Descriptor layer, String name, long started, Path blobFile,
            Digest blobDigest, long blobSize, long chunksReused, byte[] blobMeta,
            EarlyUpload early, Path gzipLayer) {
    }

    /**
     * Returns whether blobs go to the target while they are built: only when the target has
     * no image yet. A blob that the target has already is found only after it was sent, and a
     * target with images often has the blobs of layers that did not change.
     */
    private boolean sendWhileBuilding() {
        if (sendWhileBuilding == null) {
            boolean empty;
            try {
                empty = target.hasNoImage();
            } catch (IOException e) {
                LOG.debug("cannot list the tags of {}, so blobs are sent after their build: {}",
                        target.describe(), e.getMessage());
                empty = false;
            }
            if (empty) {
                LOG.info("{} has no image yet, so layer blobs are sent while they are built",
                        target.describe());
            }
            sendWhileBuilding = empty;
        }
        return sendWhileBuilding;
    }

    private BuiltLayer buildLayer(Descriptor layer, String name, Path bootstrap, Digest diffId)
            throws IOException {
        long started = System.nanoTime();
        progress.started(name, layer.size());
        if (options.ociRef()) {
            return buildRefLayer(layer, name, bootstrap, started);
        }
        // Layers with equal content give equal blobs, so the file is named after the layer's
        // position and not after the blob digest.
        Path blobFile = bootstrap.resolveSibling(bootstrap.getFileName() + ".blob");
        String sourceName = "layer " + layer.digest() + " of " + source.describe();
        BuildResult built;
        ImageBuilder builder = new ImageBuilder(options.buildOptions())
                .prefetch(options.prefetchList()).digestBlobFile();
        if (dict != null) {
            builder.chunkDict(dict.bootstrap());
        }
        if (diffId != null) {
            builder.expectDiffId(diffId.hex());
        }
        // A layer built before in this conversion gives the same blob, which the upload thread
        // stores before it pushes this one, so its HEAD request finds the blob.
        boolean repeated = !builtLayers.add(layer.digest());
        EarlyUpload early = null;
        if (!repeated && sendWhileBuilding()) {
            early = new EarlyUpload(target, name, bytes -> progress.pushed(name, bytes));
            earlyUploads.add(early);
            builder.observeBlob(early);
        }
        try (InputStream in = new CountingStream(openLayer(layer, sourceName),
                bytes -> progress.pulled(name, bytes))) {
            built = builder.buildTar(new UnclosedStream(in), sourceName, bootstrap,
                    ImageBuilder.BlobTarget.toFile(blobFile));
            // Reading to the end checks the layer's digest and size. The tar reader reads its
            // input to the end today, but a layer must not be pushed unverified if it stops.
            in.transferTo(OutputStream.nullOutputStream());
        } catch (IOException | RuntimeException | Error e) {
            if (early != null) {
                early.abandon();
            }
            throw e;
        }
        if (early != null) {
            early.complete();
        }
        if (built.blobFile() == null) {
            throw new IOException(sourceName + ": the build wrote no blob");
        }
        Digest blobDigest = new Digest(built.blobFileSha256());
        long blobSize = Files.size(blobFile);
        progress.built(name, blobSize);
        byte[] blobMeta = BootstrapLayer.blobMeta(blobFile).orElse(null);
        return new BuiltLayer(layer, name, started, blobFile, blobDigest, blobSize,
                built.chunksReused(), blobMeta, early, null);
    }

    /**
     * Builds an OCI-ref layer. The gzip layer is downloaded whole, because the ZRAN build
     * reads it twice, and it stays the data blob as it is. The blob to push is its ref blob.
     */
    private BuiltLayer buildRefLayer(Descriptor layer, String name, Path bootstrap,
            long started) throws IOException {
        Path gzipLayer = bootstrap.resolveSibling(bootstrap.getFileName() + ".layer");
        Path blobFile = bootstrap.resolveSibling(bootstrap.getFileName() + ".blob");
        String sourceName = "layer " + layer.digest() + " of " + source.describe();
        GzipLayers.requireGzipType(layer, sourceName);
        // Reading the stream to its end checks the layer's digest and size.
        try (InputStream in = new CountingStream(openLayer(layer, sourceName),
                bytes -> progress.pulled(name, bytes))) {
            Files.copy(in, gzipLayer, StandardCopyOption.REPLACE_EXISTING);
        }
        GzipLayers.requireGzipContent(gzipLayer, layer, sourceName);
        BuildResult built;
        try {
            built = new ImageBuilder(options.buildOptions()).prefetch(options.prefetchList())
                    .buildTargzRef(gzipLayer, bootstrap, ImageBuilder.BlobTarget.toFile(
                            blobFile));
        } catch (IOException e) {
            throw new IOException(sourceName + " (" + layer.mediaType() + "): "
                    + e.getMessage(), e);
        }
        Digest blobDigest = new Digest(built.blobFileSha256());
        long blobSize = Files.size(blobFile);
        progress.built(name, blobSize);
        byte[] blobMeta = BootstrapLayer.blobMeta(blobFile).orElse(null);
        return new BuiltLayer(layer, name, started, blobFile, blobDigest, blobSize, 0,
                blobMeta, null, gzipLayer);
    }

    /**
     * Opens a source layer. A non-distributable layer, such as a Windows base layer, may be
     * missing from the registry because its descriptor names the URLs that serve it, so the
     * error names them.
     */
    private InputStream openLayer(Descriptor layer, String sourceName) throws IOException {
        try {
            return source.blob(layer.digest(), layer.size());
        } catch (RegistryNotFoundException e) {
            if (layer.urls().isEmpty()) {
                throw e;
            }
            // TODO: the layer is not fetched from its URLs, as containerd's fetcher does.
            throw new IOException(sourceName + " is a non-distributable layer ("
                    + layer.mediaType() + ") that the registry does not store; its data is at "
                    + String.join(", ", layer.urls()) + ", and nydusify reads layers from the"
                    + " source registry only", e);
        }
    }

    private LayerResult pushLayer(BuiltLayer built) throws IOException {
        String name = built.name();
        if (built.gzipLayer() != null) {
            // The image's chunks stay in the source layer, which must be in the target's
            // repository, where nydusd fetches it by the blob id.
            Descriptor source = built.layer();
            BlobPushResult layerPush = target.pushBlob(source.digest(), source.size(),
                    BlobSource.of(built.gzipLayer()));
            Files.delete(built.gzipLayer());
            LOG.info("layer {}: gzip layer {} {}", name, source.digest(), describe(layerPush));
        }
        BlobSource counted = () -> new CountingStream(Files.newInputStream(built.blobFile()),
                bytes -> progress.pushed(name, bytes));
        BlobPushResult push = built.early() == null
                ? target.pushBlob(built.blobDigest(), built.blobSize(), counted)
                : built.early().finish(built.blobDigest(), built.blobSize(), counted);
        // The bootstrap layer needs only the blob's CI, so the blob file can go.
        Files.delete(built.blobFile());
        Descriptor layer = built.layer();
        LayerResult result = new LayerResult(layer.digest(), layer.size(), built.blobDigest(),
                built.blobSize(), push, built.chunksReused(), elapsedMillis(built.started()),
                false);
        LOG.info("layer {} ({} bytes) -> blob {} ({} bytes, {}, {} chunks reused) in {} ms",
                name, layer.size(), built.blobDigest(), built.blobSize(), describe(push),
                built.chunksReused(), result.millis());
        progress.finished(name, result);
        return result;
    }

    /**
     * Stores the chunk dictionary's blobs that the merged image uses in the target, in the
     * order of the merged blob table. They are the blobs that no layer of this image built.
     * NOTE: with a bootstrap file as dictionary, the bootstrap layer gets no
     * {@code .blob.meta} file for them, so a reader takes their chunk information from the
     * blobs themselves.
     */
    private List<BlobResult> storeDictBlobs(MergeResult merge, List<Digest> layerBlobs)
            throws IOException {
        Set<String> built = new HashSet<>();
        layerBlobs.forEach(blob -> built.add(blob.hex()));
        List<BlobResult> blobs = new ArrayList<>();
        for (BlobInfo blob : merge.bootstrap().blobs()) {
            if (built.contains(blob.blobId())) {
                continue;
            }
            if (dict == null) {
                throw new IOException("merged bootstrap lists blob " + blob.blobId()
                        + ", which no layer of " + source.describe() + " built");
            }
            BlobResult stored = dict.store(target, new Digest(blob.blobId()));
            LOG.info("chunk dict blob {} ({} bytes) {}", stored.digest(), stored.size(),
                    describe(stored.push()));
            blobs.add(stored);
        }
        return blobs;
    }

    private boolean keepsDockerFormat(Manifest source) {
        return options.dockerV2Format() && MediaTypes.DOCKER_MANIFEST.equals(source.mediaType());
    }

    /** Returns the Nydus manifest, which names {@code subject} unless it is null. */
    private Manifest targetManifest(Manifest source, Descriptor subject, Digest configDigest,
            long configSize, List<LayerResult> layers, List<BlobResult> dictBlobs,
            BootstrapLayer.Written bootstrap) {
        // The output is an OCI image unless a Docker source keeps its format on request,
        // because tools such as skopeo reject Nydus layer types inside a Docker schema 2
        // manifest. A Docker config has the same JSON as an OCI config.
        boolean docker = keepsDockerFormat(source);
        String configType = options.mergePlatform() ? MediaTypes.NYDUS_CONFIG
                : docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG;
        Descriptor config = Descriptor.of(configType, configDigest, configSize)
                .withAnnotations(source.config().annotations());
        List<Descriptor> descriptors = new ArrayList<>();
        for (LayerResult layer : layers) {
            Descriptor blob = blobDescriptor(layer.blobDigest(), layer.blobSize());
            if (options.ociRef()) {
                blob = blob.withAnnotations(Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB, "true",
                        MediaTypes.ANNOTATION_NYDUS_REF, layer.sourceDigest().toString()));
            }
            descriptors.add(blob);
        }
        for (BlobResult blob : dictBlobs) {
            descriptors.add(blobDescriptor(blob.digest(), blob.size()));
        }
        Map<String, String> bootstrapAnnotations = new LinkedHashMap<>();
        bootstrapAnnotations.put(MediaTypes.ANNOTATION_NYDUS_BOOTSTRAP, "true");
        bootstrapAnnotations.put(MediaTypes.ANNOTATION_NYDUS_FS_VERSION, "6");
        String bootstrapType = docker ? MediaTypes.DOCKER_LAYER_GZIP : MediaTypes.OCI_LAYER_GZIP;
        descriptors.add(Descriptor.of(bootstrapType, bootstrap.digest(), bootstrap.size())
                .withAnnotations(bootstrapAnnotations));
        String manifestType = docker ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST;
        return new Manifest(2, manifestType, null, config, descriptors, subject,
                source.annotations(), Map.of());
    }

    private static Descriptor blobDescriptor(Digest digest, long size) {
        return Descriptor.of(MediaTypes.NYDUS_BLOB, digest, size)
                .withAnnotations(Map.of(MediaTypes.ANNOTATION_NYDUS_BLOB, "true"));
    }

    static String describe(BlobPushResult push) {
        return switch (push) {
            case UPLOADED -> "uploaded";
            case EXISTED -> "already in target";
            case MOUNTED -> "mounted";
        };
    }

    /** A stream that reports the bytes read so far after each read. */
    static final class CountingStream extends FilterInputStream {
        private final LongConsumer report;
        private long count;

        CountingStream(InputStream in, LongConsumer report) {
            super(in);
            this.report = report;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                count(1);
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = in.read(buffer, offset, length);
            if (n > 0) {
                count(n);
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long skipped = in.skip(n);
            count(skipped);
            return skipped;
        }

        private void count(long n) {
            count += n;
            report.accept(count);
        }
    }
}
