package io.nydus.builder;

import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.BootstrapWriter;
import io.nydus.rafs.v6.RafsFlags;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Merges the bootstraps of an image's layers, each built on its own with
 * {@link WhiteoutSpec#NONE}, into the bootstrap of the whole image, as an OCI unpack of the
 * layers would lay the files out. Whiteouts and opaque markers of every layer take effect, the
 * bottom layer's included, so no {@code .wh.} name is left. Hard links that a layer build could
 * not resolve ({@link HardlinkMarker}) are joined to their targets in the layers below. Blobs
 * are never read or changed: the merged blob table lists the layer blobs that the result still
 * uses, in the order a breadth-first walk of the tree first meets them.
 */
public final class ImageMerger {
    private static final Logger LOG = LoggerFactory.getLogger(ImageMerger.class);
    /** The blob id a per-layer bootstrap records while the layer digest is not yet known. */
    static final String UNKNOWN_BLOB_ID = "x".repeat(64);
    private static final Pattern LAYER_DIGEST = Pattern.compile("[0-9a-f]{64}");

    private PrefetchList prefetch = PrefetchList.none();
    private List<String> blobDigests = List.of();
    private List<String> originalBlobIds = List.of();
    private List<Long> blobSizes = List.of();
    private List<String> tocDigests = List.of();
    private List<Long> tocSizes = List.of();
    private List<String> layerNames = List.of();
    private Path blobDir;
    private Path parentBootstrap;
    private Path chunkDict;
    /** The blob ids of the chunk dictionary, empty without one. */
    private Set<String> dictBlobIds = Set.of();

    /** Sets the paths whose data is fetched first, resolved in the merged tree. */
    public ImageMerger prefetch(PrefetchList list) {
        this.prefetch = list;
        return this;
    }

    /**
     * Sets how errors name each layer, one name per layer bootstrap in the same order, in
     * place of the bootstrap's path.
     */
    public ImageMerger layerNames(List<String> names) {
        this.layerNames = List.copyOf(names);
        return this;
    }

    /**
     * Sets the layer digests, one per layer bootstrap in the same order, as 64 lowercase hex
     * digits or {@code sha256:} and those digits. An empty string keeps the digest that the
     * bootstrap's file name gives, if any.
     */
    public ImageMerger blobDigests(List<String> digests) {
        this.blobDigests = List.copyOf(digests);
        return this;
    }

    /**
     * Sets each layer's blob id for when no blob digest is given, one per layer bootstrap in
     * the same order: upstream's original blob ids, usually the layer digest. An empty string
     * keeps the id from the file name.
     */
    public ImageMerger originalBlobIds(List<String> ids) {
        this.originalBlobIds = List.copyOf(ids);
        return this;
    }

    /**
     * Sets the stored (compressed) size of each layer's own blob, one per layer bootstrap, for
     * a blob that was stored again after its layer was built.
     */
    public ImageMerger blobSizes(List<Long> sizes) {
        for (long size : sizes) {
            if (size < 0) {
                throw new IllegalArgumentException("blob size " + size + " is negative");
            }
        }
        this.blobSizes = List.copyOf(sizes);
        return this;
    }

    /**
     * Sets the digest (64 hex digits, {@code sha256:} allowed) and the size of each layer's own
     * blob's table of contents, one pair per layer bootstrap.
     */
    public ImageMerger blobTocs(List<String> digests, List<Long> sizes) {
        this.tocDigests = List.copyOf(digests);
        this.tocSizes = List.copyOf(sizes);
        return this;
    }

    /**
     * Sets the bootstrap of an image (merged already) that the layers go on top of: its tree
     * is the bottom, and its blobs keep their ids and come first in the blob table.
     */
    public ImageMerger parentBootstrap(Path bootstrap) {
        this.parentBootstrap = bootstrap;
        return this;
    }

    /**
     * Sets the chunk dictionary that the layers were built with. Its blobs keep their ids, and
     * a layer may have at most one blob besides them, which takes the layer digest.
     */
    public ImageMerger chunkDict(Path bootstrap) {
        this.chunkDict = bootstrap;
        return this;
    }

    /** Sets a directory where every blob of the result must be present, named by its id. */
    public ImageMerger blobDirectory(Path dir) {
        this.blobDir = dir;
        return this;
    }

    /**
     * One layer bootstrap as read, with the digest that names its own blob, or null, and its
     * position among the layer bootstraps given (-1 for a parent bootstrap).
     */
    /** One layer's bootstrap; {@code name} is how messages name the layer. */
    private record Layer(Path file, String name, Bootstrap bootstrap, String digest,
            int position) {
    }

    /**
     * Merges {@code layerBootstraps}, bottom layer first, into {@code output}, which is written
     * under a temporary name and renamed into place.
     *
     * @throws IOException if a bootstrap cannot be read, the layers differ in chunk size, uid/gid
     *     mode or tarfs mode, a blob id is unknown, or a hard link has no target below it
     */
    public MergeResult merge(List<Path> layerBootstraps, Path output) throws IOException {
        List<Layer> layers = readLayers(layerBootstraps);
        if (parentBootstrap != null) {
            // A parent names no layer digest, so every blob of it keeps its id.
            layers.addFirst(new Layer(parentBootstrap, parentBootstrap.toString(),
                    BootstrapReader.read(parentBootstrap), null, -1));
        }
        checkCompatible(layers);
        readChunkDict(layers);
        MergedBlobs blobs = new MergedBlobs();
        LayerApplier applier = new LayerApplier(WhiteoutSpec.OCI);
        Node root = null;
        for (Layer layer : layers) {
            blobs.addLayer(layer.file(), fixBlobIds(layer), layer.bootstrap().root());
            resolveHardlinks(layer, root);
            if (root == null) {
                root = layer.bootstrap().root();
                applier.strip(root);
            } else {
                applier.apply(root, layer.bootstrap().root());
            }
        }
        InodeLimits.checkTreeDepth(root, output.toString());
        List<BlobInfo> used = blobs.compact(root);
        checkBlobsPresent(used);
        Bootstrap merged = new Bootstrap(root, used, layers.getFirst().bootstrap().chunkSize(),
                flags(layers), prefetch.resolve(root));
        AtomicFiles.write(output, BootstrapWriter.write(merged));
        List<String> dropped = blobs.droppedIds(used);
        if (dropped.isEmpty()) {
            LOG.info("merged {} layers into {} with {} blobs", layers.size(), output,
                    used.size());
        } else {
            LOG.info("merged {} layers into {} with {} blobs; dropped unused blobs {}",
                    layers.size(), output, used.size(), dropped);
        }
        return new MergeResult(merged, output, dropped);
    }

    private List<Layer> readLayers(List<Path> files) throws IOException {
        if (files.isEmpty()) {
            throw new IllegalArgumentException("no layer bootstraps to merge");
        }
        checkCount(blobDigests, "blob digests", files.size());
        checkCount(originalBlobIds, "original blob ids", files.size());
        checkCount(blobSizes, "blob sizes", files.size());
        checkCount(tocDigests, "blob ToC digests", files.size());
        checkCount(tocSizes, "blob ToC sizes", files.size());
        checkCount(layerNames, "layer names", files.size());
        List<Layer> layers = new ArrayList<>(files.size());
        for (int i = 0; i < files.size(); i++) {
            Path file = files.get(i);
            String option = blobDigests.isEmpty() ? "" : blobDigests.get(i);
            if (option.isEmpty() && !originalBlobIds.isEmpty()) {
                option = originalBlobIds.get(i);
            }
            String name = layerNames.isEmpty() ? file.toString() : layerNames.get(i);
            layers.add(new Layer(file, name, BootstrapReader.read(file),
                    layerDigest(file, option), i));
        }
        return layers;
    }

    private static void checkCount(List<?> values, String option, int layers) {
        if (!values.isEmpty() && values.size() != layers) {
            throw new IllegalArgumentException(values.size() + " " + option + " given for "
                    + layers + " layer bootstraps; give one per layer, in layer order");
        }
    }

    /** Returns the layer digest from {@code option}, else from the file name, else null. */
    private static String layerDigest(Path file, String option) {
        String digest = option.startsWith("sha256:") ? option.substring(7) : option;
        if (!digest.isEmpty()) {
            if (!LAYER_DIGEST.matcher(digest).matches()) {
                throw new IllegalArgumentException("blob digest '" + option + "' for " + file
                        + " is not 64 lowercase hex digits");
            }
            return digest;
        }
        String name = file.getFileName().toString();
        int dot = name.indexOf('.');
        String stem = dot < 0 ? name : name.substring(0, dot);
        return LAYER_DIGEST.matcher(stem).matches() ? stem : null;
    }

    private static void checkCompatible(List<Layer> layers) throws IOException {
        Layer first = layers.getFirst();
        for (Layer layer : layers.subList(1, layers.size())) {
            Bootstrap a = first.bootstrap();
            Bootstrap b = layer.bootstrap();
            if (a.chunkSize() != b.chunkSize()) {
                throw mismatch(first, layer, "chunk size",
                        "0x" + Integer.toHexString(a.chunkSize()),
                        "0x" + Integer.toHexString(b.chunkSize()));
            }
            if (a.explicitUidGid() != b.explicitUidGid()) {
                throw mismatch(first, layer, "explicit uid/gid mode", onOff(a.explicitUidGid()),
                        onOff(b.explicitUidGid()));
            }
            if (isTarfs(a) != isTarfs(b)) {
                throw mismatch(first, layer, "tarfs mode", onOff(isTarfs(a)), onOff(isTarfs(b)));
            }
        }
    }

    /** Reads the chunk dictionary's blob ids, checking it against the layers' settings. */
    private void readChunkDict(List<Layer> layers) throws IOException {
        if (chunkDict == null) {
            return;
        }
        Layer dict = new Layer(chunkDict, "chunk dict " + chunkDict,
                BootstrapReader.read(chunkDict), null, -1);
        if (isTarfs(layers.getFirst().bootstrap())) {
            throw new IOException("chunk dict " + chunkDict + " cannot be used with tarfs layers"
                    + " such as " + layers.getFirst().name() + "; merge them without it");
        }
        List<Layer> all = new ArrayList<>(layers);
        all.addFirst(dict);
        checkCompatible(all);
        Set<String> ids = new HashSet<>();
        dict.bootstrap().blobs().forEach(blob -> ids.add(blob.blobId()));
        dictBlobIds = ids;
    }

    private static IOException mismatch(Layer a, Layer b, String what, String valueA,
            String valueB) {
        return new IOException("layer bootstraps differ in " + what + ": " + valueA + " in "
                + a.file() + ", " + valueB + " in " + b.file() + "; build every layer with the"
                + " same settings");
    }

    private static String onOff(boolean value) {
        return value ? "on" : "off";
    }

    private static boolean isTarfs(Bootstrap bootstrap) {
        return (bootstrap.flags() & RafsFlags.TARFS_MODE) != 0;
    }

    /**
     * Returns the layer's blob table with final ids. The layer's own blob takes the layer
     * digest, because that is the name it is pulled by: the blob whose id is not known yet
     * (64 'x'), or else the only blob whose bootstrap was inlined into it. Blobs of a parent or
     * a chunk dictionary keep their ids. Merged blobs no longer carry a bootstrap as their meta.
     */
    private List<BlobInfo> fixBlobIds(Layer layer) throws IOException {
        List<BlobInfo> blobs = layer.bootstrap().blobs();
        int own = chunkDict != null && layer.position() >= 0 ? ownBlobBesideDict(layer)
                : ownBlob(layer);
        // A layer without file data (only directories, links or whiteouts) has no blobs, and
        // then the given digest names an empty blob, which is nothing to warn about.
        if (own < 0 && !blobs.isEmpty() && givenDigest(layer)) {
            LOG.warn("{}: none of its {} blobs is the layer's own, so the blob digest {} given"
                    + " for it is not used; if the layer was built with a chunk dict, give it"
                    + " with --chunk-dict", layer.name(), layer.bootstrap().blobs().size(),
                    layer.digest());
        }
        List<BlobInfo> fixed = new ArrayList<>(blobs.size());
        for (int i = 0; i < blobs.size(); i++) {
            BlobInfo blob = blobs.get(i);
            if (i == own && blob.has(BlobFeatures.SEPARATE)) {
                blob = withRefBlob(blob, layer);
            } else if (i == own) {
                blob = withOverrides(blob.withBlobId(layer.digest()), layer);
            }
            fixed.add(blob.withFeatures(blob.features() & ~BlobFeatures.INLINED_FS_META));
        }
        return fixed;
    }

    /** Returns whether the options, not the file name, give the layer's blob digest. */
    private boolean givenDigest(Layer layer) {
        int i = layer.position();
        if (i < 0 || layer.digest() == null) {
            return false;
        }
        return !blobDigests.isEmpty() && !blobDigests.get(i).isEmpty()
                || !originalBlobIds.isEmpty() && !originalBlobIds.get(i).isEmpty();
    }

    /**
     * Returns a ZRAN blob whose metadata is in a separate ref blob, as upstream's merge does:
     * the blob keeps its id, the gzip layer's digest, while the layer digest and size name the
     * ref blob that the layer pushed. An original blob id, when given, replaces the blob id.
     */
    private BlobInfo withRefBlob(BlobInfo blob, Layer layer) {
        int i = layer.position();
        if (i < 0) {
            return blob;
        }
        long metaSize = blobSizes.isEmpty() ? blob.metaSize() : blobSizes.get(i);
        String metaDigest = blobDigests.isEmpty() || blobDigests.get(i).isEmpty()
                ? blob.metaDigest() : layer.digest();
        if (!originalBlobIds.isEmpty() && !originalBlobIds.get(i).isEmpty()) {
            blob = blob.withBlobId(hex(originalBlobIds.get(i), "original blob id",
                    layer.name()));
        }
        BlobInfo withMeta = new BlobInfo(blob.blobId(), blob.chunkSize(), blob.chunkCount(),
                blob.compressor(), blob.digester(), blob.features(), blob.compressedSize(),
                blob.uncompressedSize(), blob.tocSize(), blob.ciCompressor(), blob.ciOffset(),
                blob.ciCompressedSize(), blob.ciUncompressedSize(), blob.tocDigest(),
                metaDigest, metaSize, blob.mappedBlockAddress());
        return withToc(withMeta, layer);
    }

    /** Applies the sizes and ToC given for {@code layer}'s own blob. */
    private BlobInfo withOverrides(BlobInfo blob, Layer layer) {
        int i = layer.position();
        if (i < 0) {
            return blob;
        }
        if (!blobSizes.isEmpty()) {
            blob = blob.withCompressedSize(blobSizes.get(i));
        }
        return withToc(blob, layer);
    }

    private BlobInfo withToc(BlobInfo blob, Layer layer) {
        int i = layer.position();
        if (!tocDigests.isEmpty() || !tocSizes.isEmpty()) {
            String digest = tocDigests.isEmpty() ? blob.tocDigest() : hex(tocDigests.get(i),
                    "blob ToC digest", layer.name());
            long size = tocSizes.isEmpty() ? blob.tocSize() : tocSizes.get(i);
            if (size < 0 || size > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("blob ToC size " + size + " for "
                        + layer.name() + " is outside 0 to " + Integer.MAX_VALUE);
            }
            blob = blob.withToc(digest, (int) size);
        }
        return blob;
    }

    private static String hex(String option, String field, String layer) {
        String digest = option.startsWith("sha256:") ? option.substring(7) : option;
        if (!LAYER_DIGEST.matcher(digest).matches()) {
            throw new IllegalArgumentException(field + " '" + option + "' for " + layer
                    + " is not 64 lowercase hex digits");
        }
        return digest;
    }

    /**
     * Returns the index of the layer's only blob that is not in the chunk dictionary, or -1 if
     * every blob is in it.
     */
    private int ownBlobBesideDict(Layer layer) throws IOException {
        List<Integer> own = indexes(layer, blob -> !dictBlobIds.contains(blob.blobId()));
        if (own.size() > 1) {
            throw new IOException(layer.name() + ": blobs " + own + " are not in chunk dict "
                    + chunkDict + ", expected at most one blob of the layer's own");
        }
        if (own.isEmpty()) {
            return -1;
        }
        if (layer.digest() == null) {
            // Without a layer digest the blob keeps its id, unless it has none yet.
            return ownBlob(layer);
        }
        return own.getFirst();
    }

    /** Returns the index of the blob that takes the layer digest, or -1 for none. */
    private static int ownBlob(Layer layer) throws IOException {
        List<Integer> unknown = indexes(layer, blob -> blob.blobId().equals(UNKNOWN_BLOB_ID));
        if (unknown.size() > 1) {
            throw new IOException(layer.name() + ": blobs " + unknown + " all have the"
                    + " placeholder id (64 'x'), expected at most one");
        }
        if (unknown.size() == 1 && layer.digest() == null) {
            throw new IOException(layer.name() + ": blob " + unknown.getFirst() + " has no id"
                    + " yet (64 'x'); name the file <layer digest hex>.boot or pass"
                    + " --blob-digests");
        }
        if (layer.digest() == null) {
            return -1;
        }
        if (unknown.size() == 1) {
            return unknown.getFirst();
        }
        List<Integer> inlined = indexes(layer, blob -> blob.has(BlobFeatures.INLINED_FS_META));
        if (inlined.size() > 1) {
            LOG.warn("{}: blobs {} all carry an inlined bootstrap, so none takes the layer"
                    + " digest {}", layer.name(), inlined, layer.digest());
        }
        return inlined.size() == 1 ? inlined.getFirst() : -1;
    }

    private static List<Integer> indexes(Layer layer,
            java.util.function.Predicate<BlobInfo> test) {
        List<Integer> found = new ArrayList<>();
        List<BlobInfo> blobs = layer.bootstrap().blobs();
        for (int i = 0; i < blobs.size(); i++) {
            if (test.test(blobs.get(i))) {
                found.add(i);
            }
        }
        return found;
    }

    /**
     * Replaces each hard link stand-in of {@code layer} by the inode its target has in the
     * merged tree below ({@code lowerRoot}, null for the bottom layer), so that both names are
     * one inode, as in an unpacked OCI image.
     */
    private static void resolveHardlinks(Layer layer, Node lowerRoot) throws IOException {
        Map<Inode, Inode> resolved = new IdentityHashMap<>();
        ArrayDeque<Node> pending = new ArrayDeque<>();
        pending.add(layer.bootstrap().root());
        while (!pending.isEmpty()) {
            Node node = pending.poll();
            node.children().forEach(pending::add);
            byte[] target = HardlinkMarker.target(node.inode());
            if (target == null) {
                continue;
            }
            Inode inode = resolved.get(node.inode());
            if (inode == null) {
                inode = linkTarget(layer, node, target, lowerRoot);
                resolved.put(node.inode(), inode);
            }
            node.inode(inode);
        }
    }

    // NOTE: targets are looked up in the lower layers only. A link whose path passes through a
    // lower symlink to a file that the same layer wrote under its real path (`b/d`, linked as
    // `lnk/d` with `lnk -> b`) fails here, though umoci's unpack links it.
    private static Inode linkTarget(Layer layer, Node link, byte[] path, Node lowerRoot)
            throws IOException {
        Node target = lowerRoot == null ? null : ScopedSymlinks.find(lowerRoot, path);
        String linkText = layer.name() + ": hard link " + link.path() + " points to "
                + Node.display(path);
        if (target == null) {
            throw new IOException(linkText + ", which neither a lower layer nor this layer"
                    + " before the link has");
        }
        if (target.isDirectory()) {
            throw new IOException(linkText + ", which is a directory in the lower layers");
        }
        return target.inode();
    }

    private void checkBlobsPresent(List<BlobInfo> blobs) throws IOException {
        if (blobDir == null) {
            return;
        }
        for (BlobInfo blob : blobs) {
            Path file = blobDir.resolve(blob.blobId());
            if (!Files.isRegularFile(file)) {
                throw new IOException("blob " + blob.blobId() + " of the merged image is"
                        + " missing from " + blobDir);
            }
        }
    }

    /**
     * Returns the merged superblock flags: the top layer's compressor and digester, the shared
     * uid/gid and tarfs modes, and HAS_XATTR always, as upstream's merge sets it. The writer
     * adds INLINED_CHUNK_DIGEST when every blob has inlined chunk digests.
     */
    private static long flags(List<Layer> layers) {
        Bootstrap top = layers.getLast().bootstrap();
        long flags = RafsFlags.of(top.compressor()) | RafsFlags.of(top.digester())
                | RafsFlags.HAS_XATTR;
        long shared = top.flags() & (RafsFlags.EXPLICIT_UID_GID | RafsFlags.TARFS_MODE);
        return flags | shared;
    }
}
