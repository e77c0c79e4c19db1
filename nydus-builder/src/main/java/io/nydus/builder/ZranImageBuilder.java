package io.nydus.builder;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.blob.RefBlobWriter;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapWriter;
import io.nydus.rafs.v6.RafsFlags;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds a ZRAN (targz-ref) image from a gzip tarball: the tarball itself is the data blob, so
 * the build writes only the bootstrap and a small ref blob with the chunks' places in the gzip
 * stream. Chunks are named by SHA-256 and the blob's compressor is gzip, as upstream forces.
 */
final class ZranImageBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(ZranImageBuilder.class);
    private static final int BUFFER = 1 << 20;

    private final BuildOptions options;
    private final PrefetchList prefetch;

    ZranImageBuilder(BuildOptions options, PrefetchList prefetch) {
        this.options = options;
        this.prefetch = prefetch;
    }

    BuildResult build(Path tarGz, Path bootstrapFile, ImageBuilder.BlobTarget target)
            throws IOException {
        requireGzip(tarGz);
        ZranChunker chunker = new ZranChunker(options.chunkSize(), 0);
        String name = tarGz.toString();
        MessageDigest firstPass = DigestAlgorithm.newSha256();
        LayerTree layer;
        try (InputStream in = new DigestInputStream(new BufferedInputStream(
                Files.newInputStream(tarGz), BUFFER), firstPass)) {
            // The tar reader closes its input at the end, but the rest of the file after the
            // end-of-archive blocks must still be hashed.
            InputStream shielded = new FilterInputStream(in) {
                @Override
                public void close() {
                }
            };
            layer = new TarSource(null, null, name, options.whiteoutSpec() == WhiteoutSpec.NONE,
                    options.whiteoutSpec(), null).zran(chunker).read(shielded);
            in.transferTo(OutputStream.nullOutputStream());
        }
        ZranChunker.Located located;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(tarGz), BUFFER)) {
            located = chunker.locate(in, name);
        }
        String sha256 = HexFormat.of().formatHex(firstPass.digest());
        if (!sha256.equals(located.source().sha256())) {
            throw new IOException(name + ": the tarball changed during the build (sha256 "
                    + sha256 + ", then " + located.source().sha256() + ")");
        }
        layer.attachChunks();
        Node root = layer.root();
        new LayerApplier(options.whiteoutSpec()).strip(root);
        InodeLimits.checkTreeDepth(root, bootstrapFile.toString());
        return write(root, located, bootstrapFile, target, chunker.bytesRead());
    }

    private static void requireGzip(Path tarGz) throws IOException {
        byte[] magic = new byte[2];
        try (InputStream in = Files.newInputStream(tarGz)) {
            if (in.readNBytes(magic, 0, 2) < 2 || magic[0] != (byte) 0x1f
                    || magic[1] != (byte) 0x8b) {
                throw new IOException(tarGz + " is not a gzip file; --type targz-ref needs a"
                        + " gzip tarball, such as an OCI layer of media type tar+gzip");
            }
        }
    }

    private BuildResult write(Node root, ZranChunker.Located located, Path bootstrapFile,
            ImageBuilder.BlobTarget target, long bytesRead) throws IOException {
        boolean hasChunks = !located.table().entries().isEmpty();
        if (!hasChunks && !options.inlineBootstrap()) {
            Bootstrap bootstrap = bootstrap(root, List.of());
            AtomicFiles.write(bootstrapFile, BootstrapWriter.write(bootstrap));
            return new BuildResult(bootstrap, bootstrapFile, null, null, null, bytesRead, 0);
        }
        Path dir = target.tempDirectory();
        Files.createDirectories(dir);
        Path temp = ExitCleanup.deleteAtExit(Files.createTempFile(dir, ".nydus-blob-", ".tmp"));
        try {
            return writeRefBlob(root, located, bootstrapFile, target, temp, bytesRead);
        } finally {
            ExitCleanup.delete(temp);
        }
    }

    private BuildResult writeRefBlob(Node root, ZranChunker.Located located, Path bootstrapFile,
            ImageBuilder.BlobTarget target, Path temp, long bytesRead) throws IOException {
        boolean hasChunks = !located.table().entries().isEmpty();
        MessageDigest fileHash = DigestAlgorithm.newSha256();
        RefBlobWriter.Result result;
        try (OutputStream out = new BufferedOutputStream(new DigestOutputStream(
                Files.newOutputStream(temp), fileHash), BUFFER)) {
            RefBlobWriter writer = new RefBlobWriter(out);
            BlobInfo meta = writer.writeMeta(located.table(), located.digests(),
                    located.source().sha256(), located.source().size(),
                    located.uncompressedSize(), options.chunkSize());
            byte[] inlined = null;
            if (options.inlineBootstrap()) {
                // The inlined copy marks its blob as the one that carries it, as upstream's
                // does, so that a merge of bootstraps taken from ref blobs finds each layer's
                // own blob.
                BlobInfo own = meta.withFeatures(meta.features() | BlobFeatures.INLINED_FS_META);
                inlined = BootstrapWriter.write(bootstrap(root, hasChunks ? List.of(own)
                        : List.of()));
            }
            result = writer.finish(inlined);
        }
        List<BlobInfo> blobs = hasChunks ? List.of(result.info()) : List.of();
        Bootstrap bootstrap = bootstrap(root, blobs);
        byte[] bootstrapBytes = BootstrapWriter.write(bootstrap);
        Path blobFile = target.file() != null ? target.file()
                : target.directory().resolve(result.refBlobId());
        AtomicFiles.moveIntoPlace(temp, blobFile);
        AtomicFiles.write(bootstrapFile, bootstrapBytes);
        LOG.info("built ZRAN bootstrap {} ({} chunks in {} contexts of gzip blob {}) and ref"
                + " blob {} ({} bytes)", bootstrapFile, located.table().entries().size(),
                located.table().contexts().size(), result.info().blobId(), blobFile,
                result.refBlobSize());
        return new BuildResult(bootstrap, bootstrapFile, result.info(), blobFile,
                HexFormat.of().formatHex(fileHash.digest()), bytesRead, 0);
    }

    private Bootstrap bootstrap(Node root, List<BlobInfo> blobs) {
        long flags = RafsFlags.of(Compressor.GZIP) | RafsFlags.of(DigestAlgorithm.SHA256);
        if (options.explicitUidGid()) {
            flags |= RafsFlags.EXPLICIT_UID_GID;
        }
        return new Bootstrap(root, blobs, options.chunkSize(), flags, prefetch.resolve(root));
    }
}
