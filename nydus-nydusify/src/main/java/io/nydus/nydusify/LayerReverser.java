package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.elapsedMillis;

import io.nydus.builder.Unpacker;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.List;
import java.util.Optional;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipParameters;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns one Nydus blob layer back into the gzipped tar layer it was built from. The blob is
 * pulled to a file, because chunks are read by offset. The bootstrap inlined in the blob
 * describes the layer's own tree, whiteouts and opaque markers included, and is written out
 * as a PAX tar with data from the blob, each chunk checked against its digest. The tar is
 * gzipped into a file as it is written, and the gzip header has neither a time nor a name, so
 * the same blob gives the same layer. Memory use grows with the layer's tree, not with its
 * data, because one chunk is read at a time.
 */
final class LayerReverser {
    private static final Logger LOG = LoggerFactory.getLogger(LayerReverser.class);

    private final ImageStore source;
    private final ImageStore target;
    private final Path dir;

    LayerReverser(ImageStore source, ImageStore target, Path dir) {
        this.source = source;
        this.target = target;
        this.dir = dir;
    }

    /** The written tar layer, not pushed yet. */
    private record TarLayer(Path file, Digest digest, long size, Digest diffId) {
    }

    /**
     * Converts and stores {@code blob}, a blob layer of the source.
     *
     * @param name names the layer in logs, such as "1/3 sha256:..."
     * @throws IOException naming the blob if it has no inlined bootstrap, uses chunks of other
     *     blobs, or a chunk fails its digest check
     */
    ReverseResult.Layer reverse(Descriptor blob, String name) throws IOException {
        long started = System.nanoTime();
        Path blobFile = dir.resolve(blob.digest().hex());
        Path bootstrap = dir.resolve(blob.digest().hex() + ".boot");
        try {
            pull(blob, blobFile);
            extractBootstrap(blob, blobFile, bootstrap);
            TarLayer layer = writeTar(blob, blobFile, bootstrap);
            Files.delete(blobFile);
            BlobPushResult push = target.pushBlob(layer.digest(), layer.size(),
                    BlobSource.of(layer.file()));
            Files.delete(layer.file());
            ReverseResult.Layer result = new ReverseResult.Layer(blob.digest(), blob.size(),
                    layer.digest(), layer.size(), layer.diffId(), push, elapsedMillis(started));
            LOG.info("layer {} ({} bytes) -> tar layer {} ({} bytes, {}) in {} ms", name,
                    blob.size(), layer.digest(), layer.size(),
                    ManifestConverter.describe(push), result.millis());
            return result;
        } finally {
            Files.deleteIfExists(blobFile);
            Files.deleteIfExists(bootstrap);
            Files.deleteIfExists(tarFile(blob));
        }
    }

    /** Pulls the blob to {@code file}. The stream checks its digest and size at the end. */
    private void pull(Descriptor blob, Path file) throws IOException {
        try (InputStream in = source.blob(blob.digest(), blob.size())) {
            Files.copy(in, file);
        }
    }

    /**
     * Writes the bootstrap inlined in the blob to {@code bootstrap} and checks that the
     * layer's file data lies in this blob alone.
     */
    private void extractBootstrap(Descriptor blob, Path blobFile, Path bootstrap)
            throws IOException {
        byte[] inlined = readInlinedBootstrap(blob, blobFile).orElseThrow(() -> new IOException(
                describe(blob) + " carries no bootstrap of its own (image.boot), so its layer"
                        + " tree is unknown and it cannot be converted to a tar layer"));
        Files.write(bootstrap, inlined);
        List<BlobInfo> blobs = readBlobTable(blob, bootstrap);
        if (blobs.size() > 1) {
            throw new IOException(describe(blob) + " uses chunks of " + blobs.size()
                    + " blobs, such as those of a chunk dictionary; only layers whose data"
                    + " lies in their own blob can be converted to a tar layer");
        }
    }

    private Optional<byte[]> readInlinedBootstrap(Descriptor blob, Path blobFile)
            throws IOException {
        try (BlobReader reader = BlobReader.open(blobFile, null)) {
            return reader.readBootstrap();
        } catch (IOException e) {
            throw new IOException(describe(blob) + " cannot be read: " + e.getMessage(), e);
        }
    }

    /** Returns the blob table of a layer's bootstrap. A RAFS v5 bootstrap fails here. */
    private List<BlobInfo> readBlobTable(Descriptor blob, Path bootstrap) throws IOException {
        try {
            return BootstrapReader.read(bootstrap).blobs();
        } catch (IOException e) {
            throw new IOException(describe(blob) + " has an unreadable bootstrap: "
                    + e.getMessage(), e);
        }
    }

    private TarLayer writeTar(Descriptor blob, Path blobFile, Path bootstrap)
            throws IOException {
        Path file = tarFile(blob);
        MessageDigest gzipHash = BootstrapLayer.sha256();
        MessageDigest tarHash = BootstrapLayer.sha256();
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20);
                DigestOutputStream gzipOut = new DigestOutputStream(out, gzipHash);
                GzipCompressorOutputStream gzip = new GzipCompressorOutputStream(gzipOut,
                        gzipParameters());
                DigestOutputStream tarOut = new DigestOutputStream(gzip, tarHash)) {
            Unpacker.writeTar(bootstrap, blobFile, tarOut);
        } catch (IOException e) {
            throw new IOException(describe(blob) + " cannot be converted to a tar layer: "
                    + e.getMessage(), e);
        }
        return new TarLayer(file, Digest.fromHash(gzipHash.digest()), Files.size(file),
                Digest.fromHash(tarHash.digest()));
    }

    private Path tarFile(Descriptor blob) {
        return dir.resolve(blob.digest().hex() + ".tar.gz");
    }

    private String describe(Descriptor blob) {
        return "Nydus blob layer " + blob.digest() + " of " + source.describe();
    }

    private static GzipParameters gzipParameters() {
        GzipParameters parameters = new GzipParameters();
        parameters.setModificationTime(0);
        parameters.setFileName(null);
        return parameters;
    }
}
