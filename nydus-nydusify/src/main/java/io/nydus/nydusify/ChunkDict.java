package io.nydus.nydusify;

import io.nydus.nydusify.SourceManifests.UnclosedStream;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.RegistryClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * A loaded chunk dictionary: the bootstrap file the layer builds look chunks up in, and where
 * its blobs come from when the new image uses them. The blobs of an image dictionary are
 * mounted or copied into the target; those of a bootstrap file must be in the target already.
 */
final class ChunkDict implements AutoCloseable {
    /** The largest bootstrap or blob.meta file accepted from a dictionary image. */
    private static final long MAX_BOOTSTRAP_BYTES = 1L << 30;

    private final ChunkDictSpec spec;
    private final Path bootstrap;
    private final ImageStore store;
    private final Map<Digest, Long> blobSizes;
    private final Map<Digest, byte[]> blobMetas;

    private ChunkDict(ChunkDictSpec spec, Path bootstrap, ImageStore store,
            Map<Digest, Long> blobSizes, Map<Digest, byte[]> blobMetas) {
        this.spec = spec;
        this.bootstrap = bootstrap;
        this.store = store;
        this.blobSizes = blobSizes;
        this.blobMetas = blobMetas;
    }

    /**
     * Loads the dictionary of {@code spec}. The bootstrap of an image is written into
     * {@code runDir}.
     *
     * @param client the client for a dictionary image in a registry
     * @param platform the platform taken from a dictionary index
     * @throws IOException if the image is not a Nydus image or its bootstrap cannot be read
     */
    static ChunkDict load(ChunkDictSpec spec, RegistryClient client, PlatformSpec platform,
            Path runDir) throws IOException {
        if (spec.bootstrap() != null) {
            if (!Files.isRegularFile(spec.bootstrap())) {
                throw new IOException("chunk dict " + spec + ": bootstrap file "
                        + spec.bootstrap() + " not found");
            }
            return new ChunkDict(spec, spec.bootstrap(), null, Map.of(), Map.of());
        }
        ImageStore store = ImageStores.openSource(spec.image(), client, runDir);
        try {
            Manifest manifest = nydusManifest(spec, store, platform);
            Map<Digest, Long> sizes = new HashMap<>();
            for (Descriptor layer : manifest.layers()) {
                sizes.put(layer.digest(), layer.size());
            }
            Path file = runDir.resolve("chunk-dict.boot");
            Map<Digest, byte[]> metas = new HashMap<>();
            extractBootstrap(spec, store, manifest.layers().getLast(), file, metas);
            return new ChunkDict(spec, file, store, sizes, metas);
        } catch (IOException | RuntimeException e) {
            store.close();
            throw e;
        }
    }

    private static Manifest nydusManifest(ChunkDictSpec spec, ImageStore store,
            PlatformSpec platform) throws IOException {
        ManifestContent content = store.manifest();
        if (content.isIndex()) {
            ImageIndex index = SourceManifests.parseIndex(content, spec.toString());
            Descriptor chosen = null;
            for (Descriptor entry : index.manifests()) {
                if (platform.matches(entry.platform()) && (chosen == null
                        || entry.isNydusManifest())) {
                    chosen = entry;
                }
            }
            if (chosen == null) {
                throw new IOException("chunk dict " + spec + " is an index without a manifest"
                        + " for platform " + platform);
            }
            content = store.manifest(chosen.digest(), "chunk dict manifest " + chosen.digest());
        }
        Manifest manifest = SourceManifests.parseManifest(content, spec.toString());
        if (!manifest.isNydus()) {
            throw new IOException("chunk dict " + spec + " is not a Nydus image: its last"
                    + " layer is not a Nydus bootstrap layer");
        }
        return manifest;
    }

    /**
     * Writes {@code image/image.boot} (or the legacy {@code image.boot}) of the layer to
     * {@code file}, and puts the layer's {@code image/<blob digest hex>.blob.meta} files into
     * {@code metas}, so that the new bootstrap layer can carry them for the blobs it uses.
     */
    private static void extractBootstrap(ChunkDictSpec spec, ImageStore store,
            Descriptor layer, Path file, Map<Digest, byte[]> metas) throws IOException {
        boolean found;
        try (InputStream blob = store.blob(layer.digest(), layer.size())) {
            try {
                found = readBootstrapLayer(spec, blob, file, metas);
            } catch (IOException e) {
                throw BlobDecodeFailure.explain(blob, e, "chunk dict " + spec
                        + ": bootstrap layer " + layer.digest());
            }
        }
        if (!found) {
            throw new IOException("chunk dict " + spec + ": bootstrap layer " + layer.digest()
                    + " has no " + BootstrapLayer.BOOTSTRAP_ENTRY);
        }
    }

    /**
     * Reads the gzipped tar of a dictionary's bootstrap layer to its end, so that the blob's
     * digest is checked, and returns whether it has the bootstrap.
     */
    private static boolean readBootstrapLayer(ChunkDictSpec spec, InputStream blob, Path file,
            Map<Digest, byte[]> metas) throws IOException {
        boolean found = false;
        try (TarArchiveInputStream tar = new TarArchiveInputStream(
                new GZIPInputStream(new UnclosedStream(blob)))) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                String name = entry.getName().startsWith("./") ? entry.getName().substring(2)
                        : entry.getName();
                if (!entry.isFile()) {
                    continue;
                }
                if (entry.getSize() > MAX_BOOTSTRAP_BYTES) {
                    throw new IOException("chunk dict " + spec + ": " + name + " of "
                            + entry.getSize() + " bytes is larger than " + MAX_BOOTSTRAP_BYTES);
                }
                if (!found && (name.equals(BootstrapLayer.BOOTSTRAP_ENTRY)
                        || name.equals("image.boot"))) {
                    Files.copy(tar, file);
                    found = true;
                } else {
                    Optional<Digest> metaBlob = BootstrapLayer.blobMetaDigest(name);
                    if (metaBlob.isPresent()) {
                        metas.put(metaBlob.get(), tar.readAllBytes());
                    }
                }
            }
        }
        blob.transferTo(OutputStream.nullOutputStream());
        return found;
    }

    /**
     * Returns the {@code .blob.meta} file of a dictionary blob as the dictionary image's
     * bootstrap layer carries it, or empty for a bootstrap file dictionary.
     */
    Optional<byte[]> blobMeta(Digest digest) {
        return Optional.ofNullable(blobMetas.get(digest));
    }

    /** Returns the dictionary bootstrap for the layer builds. */
    Path bootstrap() {
        return bootstrap;
    }

    /**
     * Makes the dictionary blob {@code digest} available in {@code target}: mounted or copied
     * from the dictionary image, or found there already for a bootstrap file.
     *
     * @throws IOException if the blob is not in the dictionary image, or a bootstrap file's
     *     blob is missing from the target
     */
    BlobResult store(ImageStore target, Digest digest) throws IOException {
        if (store == null) {
            OptionalLong size = target.blobSize(digest);
            if (size.isEmpty()) {
                throw new IOException("chunk dict " + spec + ": blob " + digest + ", which the"
                        + " new image uses, is not in " + target.describe() + "; push it there"
                        + " or name the dictionary as bootstrap:registry:REF");
            }
            return new BlobResult(digest, size.getAsLong(), BlobPushResult.EXISTED);
        }
        Long size = blobSizes.get(digest);
        if (size == null) {
            throw new IOException("chunk dict " + spec + ": its bootstrap uses blob " + digest
                    + ", which its manifest does not list");
        }
        return new BlobResult(digest, size, target.copyBlob(store, digest, size));
    }

    @Override
    public void close() throws IOException {
        if (store != null) {
            store.close();
        }
    }
}
