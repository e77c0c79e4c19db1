package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.elapsedMillis;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.ImageChecker;
import io.nydus.builder.ImageMerger;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.nydusify.SourceManifests.UnclosedStream;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.Manifest;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.RegistryClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks a Nydus image in a registry against the OCI image it was converted from, or on its
 * own when no source is given: then the last step is left out.
 *
 * <p>The check has three steps. The target manifest and config must have the layout a
 * conversion gives. The bootstrap must pass {@link ImageChecker} with every blob downloaded,
 * which decompresses and digest-checks every chunk. Last, the target's file tree must equal
 * the source layers applied in order with OCI whiteouts.
 *
 * <p>As root, on a kernel with overlayfs, the reference for that last step is the source's
 * layers unpacked each into its own directory and mounted as one overlayfs
 * ({@link OverlayReference}). The kernel merges the layers, so a fault in the conversion's
 * handling of whiteouts, opaque directories, hard links into lower layers or type changes
 * shows as a difference. Hard link groups are not compared there.
 * The mounted tree is compared with the target's bootstrap, and file content with the target's
 * blobs, by {@link MountedTreeDiff}.
 *
 * <p>Otherwise the reference is a bootstrap built from the source layer tarballs by the
 * builder and merger of the conversion, with the target's chunk size and digest algorithm, and
 * compared by {@link TreeDiff}, file content by chunk digest. A fault that the conversion and
 * this reference share goes unseen then. The check logs which reference it used and why.
 */
public final class ImageCheck {
    private static final Logger LOG = LoggerFactory.getLogger(ImageCheck.class);

    private final RegistryClient sourceClient;
    private final RegistryClient targetClient;
    private final boolean overlayAllowed;

    /**
     * Creates a check that reads the source through {@code sourceClient} and the target
     * through {@code targetClient}, which may be the same client.
     */
    public ImageCheck(RegistryClient sourceClient, RegistryClient targetClient) {
        this(sourceClient, targetClient, true);
    }

    private ImageCheck(RegistryClient sourceClient, RegistryClient targetClient,
            boolean overlayAllowed) {
        this.sourceClient = sourceClient;
        this.targetClient = targetClient;
        this.overlayAllowed = overlayAllowed;
    }

    /** Returns a check that always compares with the builder's reference bootstrap. */
    ImageCheck withBuilderReference() {
        return new ImageCheck(sourceClient, targetClient, false);
    }

    /**
     * Checks {@code options.target()} against {@code options.source()}.
     *
     * @return the differences found, empty when the target matches
     * @throws IOException if an image cannot be read, such as a missing manifest or blob, or
     *     a source that the builder rejects
     */
    public CheckResult check(CheckOptions options) throws IOException {
        long started = System.nanoTime();
        try (SourceManifests.RunDirectory runDir = SourceManifests.RunDirectory.create(
                options.workDir(), "check-");
                ImageStore sourceStore = options.source() == null ? null
                        : ImageStores.openSource(options.source(), sourceClient, runDir.path());
                ImageStore targetStore = ImageStores.openSource(options.target(), targetClient,
                        runDir.path())) {
            return check(runDir.path(), options, sourceStore, targetStore, started);
        }
    }

    /** Checks the target, and against the source unless {@code sourceStore} is null. */
    private CheckResult check(Path runDir, CheckOptions options, ImageStore sourceStore,
            ImageStore targetStore, long started) throws IOException {
        Manifest source = sourceStore == null ? null
                : resolve(sourceStore, options.platform(), "source");
        Manifest target = resolve(targetStore, options.platform(), "target");
        List<String> differences = new ArrayList<>();
        if (options.multiPlatform()) {
            differences.addAll(checkMergedIndex(targetStore, sourceStore, options.platform()));
        }
        differences.addAll(ManifestCheck.checkManifest(target));
        byte[] targetConfig = fetchConfig(targetStore, target);
        if (source == null) {
            differences.addAll(ManifestCheck.checkTargetConfig(targetConfig, target));
        } else {
            differences.addAll(ManifestCheck.checkConfig(fetchConfig(sourceStore, source),
                    targetConfig, target));
        }
        if (!ManifestCheck.hasBootstrap(target)) {
            return new CheckResult(differences, 0, 0, 0, elapsedMillis(started),
                    CheckResult.Reference.NONE);
        }
        Path bootstrapFile = runDir.resolve("image.boot");
        Digest diffId = fetchBootstrap(targetStore, target, bootstrapFile);
        ManifestCheck.checkBootstrapDiffId(targetConfig, target, diffId)
                .ifPresent(differences::add);
        Path blobDir = Files.createDirectories(runDir.resolve("blobs"));
        List<Descriptor> blobs = target.layers().subList(0, target.layers().size() - 1);
        for (int i = 0; i < blobs.size(); i++) {
            Descriptor blob = blobs.get(i);
            Path file = blobDir.resolve(blob.digest().hex());
            // Layers that repeat one source layer share one blob.
            if (!Files.exists(file)) {
                long start = System.nanoTime();
                download(targetStore, blob, file, blobName(blob, i, blobs.size()));
                // A large blob can take minutes over a slow link, so each download is logged.
                LOG.info("downloaded blob {}/{} {} ({} bytes) of {} in {} ms", i + 1,
                        blobs.size(), blob.digest(), blob.size(), targetStore.describe(),
                        (System.nanoTime() - start) / 1_000_000);
            }
        }
        downloadGzipLayers(targetStore, bootstrapFile, blobDir);
        ImageChecker.Summary summary = null;
        try {
            summary = ImageChecker.check(bootstrapFile, blobDir);
        } catch (IOException e) {
            differences.add("bootstrap: " + e.getMessage());
        }
        if (source == null) {
            long millis = elapsedMillis(started);
            long entries = summary == null ? 0 : summary.entries();
            LOG.info("checked {} on its own: {} entries, {} differences in {} ms",
                    targetStore.describe(), entries, differences.size(), millis);
            return new CheckResult(differences, entries,
                    summary == null ? 0 : summary.chunksVerified(),
                    summary == null ? 0 : summary.bytesVerified(), millis,
                    CheckResult.Reference.NONE);
        }
        Bootstrap actual = BootstrapReader.read(bootstrapFile);
        if (source.layers().isEmpty()) {
            throw new IOException("source image " + sourceStore.describe() + " has no layers,"
                    + " so there is no tree to compare with");
        }
        Optional<String> overlayUnavailable = overlayAllowed
                ? OverlayReference.unavailableReason(runDir, source.layers().size())
                : Optional.of("the caller requested the builder's reference");
        TreeDiff.Result tree = null;
        if (overlayUnavailable.isEmpty()) {
            try {
                tree = compareWithOverlay(runDir, options.workDir(), sourceStore, source,
                        actual, blobDir);
            } catch (UnpackFailure e) {
                LOG.warn("cannot unpack the source layers for an overlayfs mount: {}",
                        e.getMessage());
                overlayUnavailable = Optional.of("the overlayfs reference failed ("
                        + e.getMessage() + ")");
            }
        }
        if (tree == null) {
            tree = compareWithBuilder(runDir, sourceStore, source, actual,
                    overlayUnavailable.get());
        }
        differences.addAll(tree.differences());
        long millis = elapsedMillis(started);
        LOG.info("checked {} against {}: {} entries, {} differences in {} ms",
                targetStore.describe(), sourceStore.describe(), tree.entries(),
                differences.size(), millis);
        return new CheckResult(differences, tree.entries(),
                summary == null ? 0 : summary.chunksVerified(),
                summary == null ? 0 : summary.bytesVerified(), millis,
                overlayUnavailable.isEmpty() ? CheckResult.Reference.OVERLAY
                        : CheckResult.Reference.BUILDER);
    }

    /**
     * Returns the differences of the target from an index that lists, for {@code platform},
     * the source's OCI manifest and a Nydus manifest, as {@code convert --merge-platform}
     * writes it. The OCI entry must be the source's manifest when a source is given.
     */
    private static List<String> checkMergedIndex(ImageStore targetStore, ImageStore sourceStore,
            PlatformSpec platform) throws IOException {
        ManifestContent content = targetStore.manifest();
        if (!content.isIndex()) {
            return List.of("target: is a single manifest, expected an index of OCI and Nydus"
                    + " manifests (--multi-platform)");
        }
        List<Descriptor> entries = content.toIndex().manifests().stream()
                .filter(entry -> platform.matches(entry.platform())).toList();
        Descriptor oci = entries.stream().filter(entry -> !entry.isNydusManifest())
                .findFirst().orElse(null);
        List<String> differences = new ArrayList<>();
        if (oci == null) {
            differences.add("target index: no OCI manifest for platform " + platform
                    + " (--multi-platform)");
        }
        if (entries.stream().noneMatch(Descriptor::isNydusManifest)) {
            differences.add("target index: no Nydus manifest for platform " + platform
                    + " (--multi-platform)");
        }
        if (oci != null && sourceStore != null) {
            Digest expected = sourceManifestDigest(sourceStore, platform);
            if (!oci.digest().equals(expected)) {
                differences.add("target index: OCI manifest for platform " + platform + " is "
                        + oci.digest() + ", expected the source's " + expected);
            }
        }
        return differences;
    }

    /** Returns the digest of the source's manifest for {@code platform}. */
    private static Digest sourceManifestDigest(ImageStore store, PlatformSpec platform)
            throws IOException {
        ManifestContent content = store.manifest();
        if (!content.isIndex()) {
            return content.digest();
        }
        return content.toIndex().manifests().stream()
                .filter(entry -> platform.matches(entry.platform()) && !entry.isNydusManifest())
                .map(Descriptor::digest).findFirst()
                .orElseThrow(() -> new IOException("source image " + store.describe()
                        + " is an index without a manifest for platform " + platform));
    }

    /**
     * Returns the manifest, taking the platform's entry from an index: for the source one
     * that is not marked as Nydus, for the target a Nydus-marked one if the index has one,
     * else the first for the platform, as in an index of Nydus manifests only.
     */
    static Manifest resolve(ImageStore store, PlatformSpec platform, String role)
            throws IOException {
        String name = store.describe();
        ManifestContent content = store.manifest();
        try {
            if (!content.isIndex()) {
                return content.toManifest();
            }
            Descriptor chosen = null;
            for (Descriptor entry : content.toIndex().manifests()) {
                boolean nydus = entry.isNydusManifest();
                if (!platform.matches(entry.platform()) || (role.equals("source") && nydus)) {
                    continue;
                }
                if (chosen == null || (nydus && !chosen.isNydusManifest())) {
                    chosen = entry;
                }
            }
            if (chosen != null) {
                return store.manifest(chosen.digest(), role + " manifest " + chosen.digest()
                        + " of " + name).toManifest();
            }
        } catch (IllegalArgumentException e) {
            throw new IOException(role + " image " + name + ": " + e.getMessage(), e);
        }
        throw new IOException(role + " image " + name + " is an index without a "
                + role + " manifest for platform " + platform + "; choose one with --platform");
    }

    private static byte[] fetchConfig(ImageStore store, Manifest manifest) throws IOException {
        Descriptor config = manifest.config();
        if (config.size() > Converter.MAX_CONFIG_BYTES) {
            throw new IOException("image " + store.describe() + ": config " + config.digest()
                    + " has " + config.size() + " bytes, more than the "
                    + Converter.MAX_CONFIG_BYTES + " accepted");
        }
        try (InputStream in = store.blob(config.digest(), config.size())) {
            return in.readAllBytes();
        }
    }

    /**
     * Extracts {@code image/image.boot} from the bootstrap layer into {@code output}.
     *
     * @return the digest of the layer's uncompressed tar, its diff id
     */
    static Digest fetchBootstrap(ImageStore store, Manifest target, Path output)
            throws IOException {
        return fetchBootstrap(store, target, output, null);
    }

    /**
     * Extracts {@code image/image.boot} from the bootstrap layer into {@code output} and,
     * when {@code metaDir} is not null, the layer's {@code image/<blob>.blob.meta} files into
     * {@code metaDir}.
     *
     * @return the digest of the layer's uncompressed tar, its diff id
     */
    static Digest fetchBootstrap(ImageStore store, Manifest target, Path output, Path metaDir)
            throws IOException {
        Descriptor layer = target.layers().getLast();
        MessageDigest tarHash = BootstrapLayer.sha256();
        boolean found;
        try (InputStream blob = store.blob(layer.digest(), layer.size())) {
            try {
                found = extractBootstrap(blob, tarHash, layer, output, metaDir);
            } catch (IOException e) {
                throw BlobDecodeFailure.explain(blob, e, "target image " + store.describe()
                        + ": bootstrap layer " + layer.digest());
            }
        }
        if (!found) {
            throw new IOException("target image " + store.describe() + ": bootstrap layer "
                    + layer.digest() + " has no file " + BootstrapLayer.BOOTSTRAP_ENTRY);
        }
        return Digest.fromHash(tarHash.digest());
    }

    /** Reads the gzipped tar of the bootstrap layer and returns whether it has the bootstrap. */
    private static boolean extractBootstrap(InputStream blob, MessageDigest tarHash,
            Descriptor layer, Path output, Path metaDir) throws IOException {
        boolean found = false;
        try (DigestInputStream tar = new DigestInputStream(
                        new GZIPInputStream(new UnclosedStream(blob)), tarHash);
                TarArchiveInputStream entries = new TarArchiveInputStream(
                        new UnclosedStream(tar))) {
            TarArchiveEntry entry;
            while ((entry = entries.getNextEntry()) != null) {
                String name = stripDotSlash(entry.getName());
                if (!entry.isFile()) {
                    continue;
                }
                if (name.equals(BootstrapLayer.BOOTSTRAP_ENTRY)) {
                    checkBootstrapSize(layer, entry.getSize(), name);
                    Files.copy(entries, output);
                    found = true;
                } else if (metaDir != null) {
                    Optional<Digest> metaBlob = BootstrapLayer.blobMetaDigest(name);
                    if (metaBlob.isPresent()) {
                        checkBootstrapSize(layer, entry.getSize(), name);
                        Files.copy(entries, metaDir.resolve(metaBlob.get().hex()
                                + BootstrapLayer.BLOB_META_SUFFIX),
                                StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
            tar.transferTo(OutputStream.nullOutputStream());
        }
        // The gzip stream may end before the blob does, so the rest is read for the digest.
        blob.transferTo(OutputStream.nullOutputStream());
        return found;
    }

    private static void checkBootstrapSize(Descriptor layer, long size, String name)
            throws IOException {
        if (size > BootstrapReader.MAX_SIZE) {
            throw new IOException("bootstrap layer " + layer.digest() + ": " + name + " has "
                    + size + " bytes, more than the " + BootstrapReader.MAX_SIZE
                    + " a bootstrap layer file may have");
        }
    }

    private static String stripDotSlash(String name) {
        return name.startsWith("./") ? name.substring(2) : name;
    }

    /**
     * Downloads the gzip layers that the ZRAN blobs of an OCI-ref image read their chunks
     * from. The manifest lists only their ref blobs, so the layers are named by the blob table.
     */
    private static void downloadGzipLayers(ImageStore store, Path bootstrapFile, Path blobDir)
            throws IOException {
        for (BlobInfo blob : BootstrapReader.read(bootstrapFile).blobs()) {
            Path file = blobDir.resolve(blob.blobId());
            if (blob.has(BlobFeatures.ZRAN) && !Files.exists(file)) {
                download(store, Descriptor.of(MediaTypes.OCI_LAYER_GZIP,
                        new Digest(blob.blobId()), blob.compressedSize()), file,
                        "gzip layer sha256:" + blob.blobId() + ", which contains the chunks of"
                        + " the OCI-ref image (convert the image again to push it to "
                        + store.describe() + ")");
                LOG.info("downloaded gzip layer {} ({} bytes) of {}", blob.blobId(),
                        blob.compressedSize(), store.describe());
            }
        }
    }

    /** Names a data layer of the target manifest, and the source layer of a ref blob. */
    private static String blobName(Descriptor blob, int index, int count) {
        String name = "blob layer " + (index + 1) + "/" + count;
        String gzipLayer = blob.annotations().get(MediaTypes.ANNOTATION_NYDUS_REF);
        return gzipLayer == null ? name
                : name + ", the ref blob of gzip layer " + gzipLayer;
    }

    /** Downloads one blob. A failure names the blob by its {@code description}. */
    private static void download(ImageStore store, Descriptor blob, Path file,
            String description) throws IOException {
        try (InputStream in = store.blob(blob.digest(), blob.size())) {
            Files.copy(in, file);
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            throw new IOException(description + ": " + e.getMessage(), e);
        }
    }

    /** Compares the target's tree with the source layers mounted as one overlayfs. */
    private static TreeDiff.Result compareWithOverlay(Path runDir, Path workDir,
            ImageStore sourceStore, Manifest source, Bootstrap actual, Path blobDir)
            throws IOException {
        LOG.info("comparing with the source layers unpacked and mounted as overlayfs, because"
                + " nydusify runs as root and the kernel has overlayfs");
        OverlayReference created;
        try {
            created = OverlayReference.create(runDir, workDir, sourceStore, source);
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            throw new UnpackFailure(e);
        }
        try (OverlayReference reference = created) {
            return MountedTreeDiff.compare(reference.root(), actual, blobDir);
        }
    }

    /**
     * A source that the overlayfs reference cannot be made of, as when a layer sets an xattr
     * that this host refuses. The builder's reference then serves, and it fails in turn if
     * the layer itself is broken.
     */
    private static final class UnpackFailure extends IOException {
        UnpackFailure(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }

    /**
     * Compares the target's tree with a bootstrap built from the source layers, which cannot
     * show a fault that the conversion and this reference share.
     */
    private static TreeDiff.Result compareWithBuilder(Path runDir, ImageStore sourceStore,
            Manifest source, Bootstrap actual, String overlayUnavailable) throws IOException {
        LOG.info("comparing with a reference bootstrap built from the source layers by the"
                + " converter's builder, because {}", overlayUnavailable);
        Bootstrap expected = buildReference(runDir, sourceStore, source, actual);
        return TreeDiff.compare(expected.root(), actual.root());
    }

    /**
     * Builds the source layers, each on its own, and merges them into a reference bootstrap
     * chunked like {@code target}. The chunk data is stored uncompressed and deleted once the
     * layer is built, because only the chunk digests are compared.
     */
    private static Bootstrap buildReference(Path runDir, ImageStore store, Manifest source,
            Bootstrap target) throws IOException {
        BuildOptions options = new BuildOptions(Compressor.NONE, target.digester(),
                target.chunkSize(), WhiteoutSpec.NONE, 4, false, true);
        List<Path> bootstraps = new ArrayList<>();
        for (int i = 0; i < source.layers().size(); i++) {
            Descriptor layer = source.layers().get(i);
            Path bootstrap = runDir.resolve("source-" + i + ".boot");
            Path blob = runDir.resolve("source-" + i + ".blob");
            String name = "layer " + layer.digest() + " of " + store.describe();
            try (InputStream in = store.blob(layer.digest(), layer.size())) {
                new ImageBuilder(options).buildTar(new UnclosedStream(in), name, bootstrap,
                        ImageBuilder.BlobTarget.toFile(blob));
                // Reading to the end checks the layer's digest and size.
                in.transferTo(OutputStream.nullOutputStream());
            }
            Files.deleteIfExists(blob);
            bootstraps.add(bootstrap);
        }
        Path merged = runDir.resolve("source.boot");
        new ImageMerger().merge(bootstraps, merged);
        // Read back like the target, so hard links share an inode object in both trees.
        return BootstrapReader.read(merged);
    }

}
