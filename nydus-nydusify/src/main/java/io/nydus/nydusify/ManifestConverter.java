package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.elapsedMillis;

import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.MergeResult;
import io.nydus.nydusify.SourceManifests.UnclosedStream;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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

    private final ImageStore source;
    private final ImageStore target;
    private final ConvertOptions options;
    private final ChunkDict dict;
    private final ConvertProgress progress;

    ManifestConverter(ImageStore source, ImageStore target, ConvertOptions options,
            ChunkDict dict, ConvertProgress progress) {
        this.source = source;
        this.target = target;
        this.options = options;
        this.dict = dict;
        this.progress = progress;
    }

    /** A converted manifest, stored in the target by neither tag nor digest yet. */
    record Converted(ManifestContent content, ManifestResult result) {
    }

    /**
     * Converts {@code manifest} ({@code sourceDigest} in the source), whose config has been
     * checked and read as {@code config}.
     *
     * @param label names the platform in progress events and logs, or is empty
     */
    Converted convert(Manifest manifest, Digest sourceDigest, PlatformSpec platform,
            byte[] config, String label, Path runDir) throws IOException {
        long started = System.nanoTime();
        List<Descriptor> sourceLayers = manifest.layers();
        List<LayerResult> layers = new ArrayList<>();
        List<Path> bootstraps = new ArrayList<>();
        Map<Digest, byte[]> blobMetas = new LinkedHashMap<>();
        for (int i = 0; i < sourceLayers.size(); i++) {
            Path bootstrap = runDir.resolve("layer-" + i + ".boot");
            String name = label + (i + 1) + "/" + sourceLayers.size() + " "
                    + sourceLayers.get(i).digest();
            layers.add(convertLayer(sourceLayers.get(i), name, runDir, bootstrap, blobMetas));
            bootstraps.add(bootstrap);
        }
        Path merged = runDir.resolve("image.boot");
        MergeResult merge = new ImageMerger().prefetch(options.prefetchList())
                .blobDigests(layers.stream().map(layer -> layer.blobDigest().hex()).toList())
                .merge(bootstraps, merged);
        List<BlobResult> dictBlobs = storeDictBlobs(merge, layers);
        for (BlobResult blob : dictBlobs) {
            dict.blobMeta(blob.digest()).ifPresent(meta -> blobMetas.putIfAbsent(blob.digest(),
                    meta));
        }
        BootstrapLayer.Written bootstrapLayer = BootstrapLayer.write(merged, blobMetas,
                runDir.resolve("bootstrap.tar.gz"));
        BlobPushResult bootstrapPush = target.pushBlob(bootstrapLayer.digest(),
                bootstrapLayer.size(), BlobSource.of(bootstrapLayer.file()));
        LOG.info("{}bootstrap layer {} ({} bytes) {}", label, bootstrapLayer.digest(),
                bootstrapLayer.size(), describe(bootstrapPush));

        List<Digest> diffIds = new ArrayList<>();
        layers.forEach(layer -> diffIds.add(layer.blobDigest()));
        dictBlobs.forEach(blob -> diffIds.add(blob.digest()));
        diffIds.add(bootstrapLayer.diffId());
        byte[] newConfig = ConfigRewriter.rewrite(config, manifest.config().digest().toString(),
                sourceLayers.size(), diffIds);
        Digest configDigest = Digest.of(newConfig);
        BlobPushResult configPush = target.pushBlob(configDigest, newConfig.length,
                BlobSource.of(newConfig));

        ManifestContent content = ManifestContent.of(targetManifest(manifest, configDigest,
                newConfig.length, layers, dictBlobs, bootstrapLayer));
        ManifestResult result = new ManifestResult(platform, sourceDigest, content.digest(),
                content.size(), configDigest, configPush, layers, dictBlobs,
                bootstrapLayer.digest(), bootstrapLayer.size(), bootstrapLayer.diffId(),
                bootstrapPush, elapsedMillis(started));
        return new Converted(content, result);
    }

    private LayerResult convertLayer(Descriptor layer, String name, Path runDir, Path bootstrap,
            Map<Digest, byte[]> blobMetas) throws IOException {
        long started = System.nanoTime();
        progress.started(name, layer.size());
        Path blobTemp = runDir.resolve(bootstrap.getFileName() + ".blob");
        String sourceName = "layer " + layer.digest() + " of " + source.describe();
        BuildResult built;
        ImageBuilder builder = new ImageBuilder(options.buildOptions())
                .prefetch(options.prefetchList()).digestBlobFile();
        if (dict != null) {
            builder.chunkDict(dict.bootstrap());
        }
        try (InputStream in = new CountingStream(source.blob(layer.digest(), layer.size()),
                bytes -> progress.pulled(name, bytes))) {
            built = builder.buildTar(new UnclosedStream(in), sourceName, bootstrap,
                    ImageBuilder.BlobTarget.toFile(blobTemp));
            // Reading to the end checks the layer's digest and size. The tar reader reads its
            // input to the end today, but a layer must not be pushed unverified if it stops.
            in.transferTo(OutputStream.nullOutputStream());
        }
        if (built.blobFile() == null) {
            throw new IOException(sourceName + ": the build wrote no blob");
        }
        Digest blobDigest = new Digest(built.blobFileSha256());
        Path blobFile = runDir.resolve(blobDigest.hex());
        Files.move(blobTemp, blobFile, StandardCopyOption.REPLACE_EXISTING);
        long blobSize = Files.size(blobFile);
        progress.built(name, blobSize);
        if (!blobMetas.containsKey(blobDigest)) {
            BootstrapLayer.blobMeta(blobFile).ifPresent(meta -> blobMetas.put(blobDigest, meta));
        }
        BlobSource counted = () -> new CountingStream(Files.newInputStream(blobFile),
                bytes -> progress.pushed(name, bytes));
        BlobPushResult push = target.pushBlob(blobDigest, blobSize, counted);
        // The bootstrap layer needs only the blob's CI, so one blob at a time takes disk space.
        Files.delete(blobFile);
        LayerResult result = new LayerResult(layer.digest(), layer.size(), blobDigest, blobSize,
                push, built.chunksReused(), elapsedMillis(started));
        LOG.info("layer {} ({} bytes) -> blob {} ({} bytes, {}, {} chunks reused) in {} ms",
                name, layer.size(), blobDigest, blobSize, describe(push), built.chunksReused(),
                result.millis());
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
    private List<BlobResult> storeDictBlobs(MergeResult merge, List<LayerResult> layers)
            throws IOException {
        Set<String> built = new HashSet<>();
        layers.forEach(layer -> built.add(layer.blobDigest().hex()));
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

    private Manifest targetManifest(Manifest source, Digest configDigest, long configSize,
            List<LayerResult> layers, List<BlobResult> dictBlobs,
            BootstrapLayer.Written bootstrap) {
        // The output is an OCI image unless a Docker source keeps its format on request,
        // because tools such as skopeo reject Nydus layer types inside a Docker schema 2
        // manifest. A Docker config has the same JSON as an OCI config.
        boolean docker = options.dockerV2Format()
                && MediaTypes.DOCKER_MANIFEST.equals(source.mediaType());
        String configType = options.mergePlatform() ? MediaTypes.NYDUS_CONFIG
                : docker ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG;
        Descriptor config = Descriptor.of(configType, configDigest, configSize)
                .withAnnotations(source.config().annotations());
        List<Descriptor> descriptors = new ArrayList<>();
        for (LayerResult layer : layers) {
            descriptors.add(blobDescriptor(layer.blobDigest(), layer.blobSize()));
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
        return new Manifest(2, manifestType, null, config, descriptors, null,
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
