package io.nydus.builder;

import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.blob.BlobWriter;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.BootstrapWriter;
import io.nydus.rafs.v6.RafsFlags;
import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds one RAFS v6 image (a bootstrap and at most one new blob) from a directory or a layer
 * tarball, optionally on top of a parent image and reusing chunks of a chunk dictionary.
 * Output files are written under temporary names and renamed at the end, so a failed build
 * leaves neither a partial bootstrap nor a partial blob.
 */
public final class ImageBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(ImageBuilder.class);

    private final BuildOptions options;
    private Path parentBootstrap;
    private Path chunkDict;
    private PrefetchList prefetch = PrefetchList.none();
    private boolean digestBlobFile;
    private BlobObserver blobObserver;
    private String diffId;

    public ImageBuilder(BuildOptions options) {
        this.options = options;
    }

    public ImageBuilder parentBootstrap(Path path) {
        this.parentBootstrap = path;
        return this;
    }

    public ImageBuilder chunkDict(Path path) {
        this.chunkDict = path;
        return this;
    }

    public ImageBuilder prefetch(PrefetchList list) {
        this.prefetch = list;
        return this;
    }

    /**
     * Makes the build also compute the SHA-256 of the whole blob file, which a registry needs
     * as the blob's digest, while it writes the file ({@link BuildResult#blobFileSha256}).
     */
    public ImageBuilder digestBlobFile() {
        this.digestBlobFile = true;
        return this;
    }

    /**
     * Makes a tar build fail, before it writes anything, unless the SHA-256 of the
     * uncompressed tar stream is {@code sha256Hex}: the diff ID that an image config lists for
     * the layer, which keys the build cache and which containerd checks when it unpacks.
     */
    public ImageBuilder expectDiffId(String sha256Hex) {
        this.diffId = sha256Hex;
        return this;
    }

    /** Reports the blob file and its length to {@code observer} while the build writes it. */
    public ImageBuilder observeBlob(BlobObserver observer) {
        this.blobObserver = observer;
        return this;
    }

    /** The destination of the new blob: a directory (named by blob id) or a fixed file. */
    public record BlobTarget(Path directory, Path file) {
        public BlobTarget {
            if ((directory == null) == (file == null)) {
                throw new IllegalArgumentException("give exactly one of a blob directory and a"
                        + " blob file");
            }
        }

        public static BlobTarget inDirectory(Path dir) {
            return new BlobTarget(dir, null);
        }

        public static BlobTarget toFile(Path file) {
            return new BlobTarget(null, file);
        }

        Path tempDirectory() {
            Path dir = directory != null ? directory : file.toAbsolutePath().getParent();
            return dir;
        }
    }

    /** Builds from a directory. */
    public BuildResult buildDirectory(Path source, Path bootstrapFile, BlobTarget blobTarget)
            throws IOException {
        return build(bootstrapFile, blobTarget, (pipeline, lower, outputs) ->
                new DirectorySource(pipeline, prefetch, outputs).read(source));
    }

    /** Builds from a tar stream (plain, gzip or zstd, detected from its first bytes). */
    public BuildResult buildTar(InputStream tar, String sourceName, Path bootstrapFile,
            BlobTarget blobTarget) throws IOException {
        return build(bootstrapFile, blobTarget, (pipeline, lower, outputs) ->
                new TarSource(pipeline, lower, sourceName, perLayer(),
                        options.whiteoutSpec(), diffId).read(tar));
    }

    /**
     * Builds a ZRAN (targz-ref) image whose data blob is the gzip tarball itself: only the
     * bootstrap and a ref blob with the chunks' places in the gzip stream are written.
     * Parent bootstraps and chunk dictionaries are not supported for it.
     */
    public BuildResult buildTargzRef(Path tarGz, Path bootstrapFile, BlobTarget blobTarget)
            throws IOException {
        if (parentBootstrap != null || chunkDict != null || diffId != null) {
            throw new IllegalArgumentException("--type targz-ref takes no parent bootstrap,"
                    + " chunk dict or expected diff ID");
        }
        return new ZranImageBuilder(options, prefetch).build(tarGz, bootstrapFile, blobTarget);
    }

    /**
     * Returns whether this builds one layer of an image that is merged later: whiteouts stay
     * ordinary files, and hard links into lower layers become {@link HardlinkMarker}s.
     */
    private boolean perLayer() {
        return options.whiteoutSpec() == WhiteoutSpec.NONE;
    }

    /**
     * Reads the source into a layer. {@code outputs} are the files the build writes, which a
     * directory source leaves out when they lie inside it.
     */
    @FunctionalInterface
    private interface SourceReader {
        LayerTree read(ChunkPipeline pipeline, Node lowerRoot, List<Path> outputs)
                throws IOException;
    }

    private BuildResult build(Path bootstrapFile, BlobTarget target, SourceReader source)
            throws IOException {
        BlobTable table = new BlobTable();
        ChunkIndex index = new ChunkIndex(table);
        Bootstrap parent = loadParent(table, index);
        int newBlob = table.add(placeholder());
        loadDictionary(index);
        // Both outputs get their temporary files first, so that an output that cannot be
        // written fails the build before it reads and compresses the source.
        Path bootstrapTemp = AtomicFiles.createTempBeside(bootstrapFile);
        Path blobTemp = null;
        try {
            blobTemp = createBlobTemp(target);
            return buildInto(blobTemp, bootstrapTemp, bootstrapFile, target, table, index,
                    parent, newBlob, source);
        } finally {
            ExitCleanup.delete(bootstrapTemp);
            if (blobTemp != null) {
                ExitCleanup.delete(blobTemp);
            }
        }
    }

    private static List<Path> outputs(Path blobTemp, Path bootstrapTemp, Path bootstrapFile,
            BlobTarget target) {
        List<Path> outputs = new ArrayList<>(List.of(blobTemp, bootstrapTemp, bootstrapFile));
        if (target.file() != null) {
            outputs.add(target.file());
        }
        return outputs;
    }

    private static Path createBlobTemp(BlobTarget target) throws IOException {
        Path dir = target.tempDirectory();
        ExitCleanup.requireRunning("the blob in " + dir);
        try {
            Files.createDirectories(dir);
            return ExitCleanup.deleteAtExit(Files.createTempFile(dir, ".nydus-blob-", ".tmp"));
        } catch (IOException e) {
            throw new IOException("cannot write the blob in " + dir + ": "
                    + AtomicFiles.reason(e), e);
        }
    }

    private BuildResult buildInto(Path blobTemp, Path bootstrapTemp, Path bootstrapFile,
            BlobTarget target, BlobTable table, ChunkIndex index, Bootstrap parent, int newBlob,
            SourceReader source) throws IOException {
        long bytesRead;
        BlobInfo blob;
        Bootstrap bootstrap;
        byte[] bootstrapBytes;
        // The blob writer's own thread writes the file, so the file digest is computed there.
        MessageDigest fileHash = digestBlobFile ? DigestAlgorithm.newSha256() : null;
        if (blobObserver != null) {
            blobObserver.opened(blobTemp);
        }
        OutputStream fileOut = new NamingOutputStream(Files.newOutputStream(blobTemp),
                "the blob in " + blobTemp.getParent());
        if (blobObserver != null) {
            fileOut = new ObservedOutputStream(fileOut, blobObserver);
        }
        if (fileHash != null) {
            fileOut = new DigestOutputStream(fileOut, fileHash);
        }
        try (OutputStream file = new BufferedOutputStream(fileOut, 1 << 20);
                BlobWriter writer = new BlobWriter(file, options.chunkSize(),
                        options.compressor(), options.digester(), newBlob)) {
            LayerTree layer;
            try (ChunkPipeline pipeline = new ChunkPipeline(options, writer, index)) {
                layer = source.read(pipeline, parent == null ? null : parent.root(),
                        outputs(blobTemp, bootstrapTemp, bootstrapFile, target));
                pipeline.finish();
                bytesRead = pipeline.bytesRead();
            }
            layer.attachChunks();
            Node root = combine(parent, layer.root());
            InodeLimits.checkTreeDepth(root, bootstrapFile.toString());
            boolean hasChunks = writer.chunkCount() > 0;
            if (!hasChunks) {
                // A blob without chunks has no blocks, and a device table slot of 0 blocks is
                // invalid, so only the blob file itself is kept when it carries the bootstrap.
                dropBlob(table, newBlob, root);
            }
            if (!hasChunks && !options.inlineBootstrap()) {
                blob = null;
            } else {
                BlobInfo meta = writer.writeMeta();
                byte[] inlined = null;
                if (options.inlineBootstrap()) {
                    if (hasChunks) {
                        table.set(newBlob, meta);
                    }
                    inlined = encode(bootstrap(root, table), bootstrapFile);
                }
                blob = writer.finish(inlined);
                if (hasChunks) {
                    table.set(newBlob, blob);
                }
            }
            bootstrap = bootstrap(root, table);
            bootstrapBytes = encode(bootstrap, bootstrapFile);
        }
        Path blobFile = null;
        String blobFileSha256 = null;
        if (blob != null) {
            blobFileSha256 = fileHash == null ? null : HexFormat.of().formatHex(fileHash.digest());
            blobFile = target.file() != null ? target.file()
                    : target.directory().resolve(blob.blobId());
        }
        AtomicFiles.writeAll(bootstrapTemp, bootstrapBytes, bootstrapFile);
        Path blobOutput = blobFile;
        ExitCleanup.commit(() -> moveIntoPlace(blobTemp, blobOutput, bootstrapTemp,
                bootstrapFile));
        LOG.info("built bootstrap {} ({} bytes) and blob {} ({} chunks reused, {} bytes read)",
                bootstrapFile, bootstrapBytes.length, blob == null ? "none" : blob.blobId(),
                index.reusedCount(), bytesRead);
        return new BuildResult(bootstrap, bootstrapFile, blob, blobFile, blobFileSha256,
                bytesRead, index.reusedCount());
    }

    /** Renames the blob, if any, and then the bootstrap into place. */
    private static void moveIntoPlace(Path blobTemp, Path blobFile, Path bootstrapTemp,
            Path bootstrapFile) throws IOException {
        boolean newBlobFile = blobFile != null && !Files.exists(blobFile);
        if (blobFile != null) {
            AtomicFiles.moveIntoPlace(blobTemp, blobFile);
        }
        try {
            AtomicFiles.moveIntoPlace(bootstrapTemp, bootstrapFile);
        } catch (IOException e) {
            // A blob that no bootstrap names is of no use; one that was there before stays.
            if (newBlobFile) {
                Files.deleteIfExists(blobFile);
            }
            throw e;
        }
    }

    /**
     * Encodes the bootstrap. The sources reject what RAFS v6 cannot store as they read it;
     * this turns anything that still slips through, such as a parent's tree, into an
     * {@link IOException} like every other build failure.
     */
    private static byte[] encode(Bootstrap bootstrap, Path bootstrapFile) throws IOException {
        try {
            return BootstrapWriter.write(bootstrap);
        } catch (IllegalArgumentException e) {
            throw new IOException("cannot write bootstrap " + bootstrapFile + ": "
                    + e.getMessage(), e);
        }
    }

    private Bootstrap loadParent(BlobTable table, ChunkIndex index) throws IOException {
        if (parentBootstrap == null) {
            return null;
        }
        Bootstrap parent = BootstrapReader.read(parentBootstrap);
        checkCompatible(parent, parentBootstrap, "parent bootstrap");
        parent.blobs().forEach(table::add);
        index.addParent(parent);
        return parent;
    }

    private void loadDictionary(ChunkIndex index) throws IOException {
        if (chunkDict == null) {
            return;
        }
        Bootstrap dict = BootstrapReader.read(chunkDict);
        checkCompatible(dict, chunkDict, "chunk dict");
        index.addDictionary(dict);
    }

    private void checkCompatible(Bootstrap other, Path path, String what) throws IOException {
        if (other.chunkSize() != options.chunkSize()) {
            throw new IOException(what + " " + path + " has chunk size 0x"
                    + Integer.toHexString(other.chunkSize()) + ", this build uses 0x"
                    + Integer.toHexString(options.chunkSize()));
        }
        // Chunks are matched by digest, so another digester would never match, and one image
        // names a single digester in its superblock.
        if (other.digester() != options.digester()) {
            throw new IOException(what + " " + path + " uses the " + other.digester().label()
                    + " digester, this build uses " + options.digester().label()
                    + "; build with --digester " + other.digester().label());
        }
        if (other.explicitUidGid() != options.explicitUidGid()) {
            throw new IOException(what + " " + path + " differs in explicit uid/gid mode");
        }
    }

    private BlobInfo placeholder() {
        return new BlobInfo("x".repeat(64), options.chunkSize(), 0, options.compressor(),
                options.digester(), 0, 0, 0, 0, options.compressor(), 0, 0, 0,
                BlobInfo.ZERO_DIGEST, BlobInfo.ZERO_DIGEST, 0, 0);
    }

    private Node combine(Bootstrap parent, Node layerRoot) {
        LayerApplier applier = new LayerApplier(options.whiteoutSpec());
        if (parent == null) {
            applier.strip(layerRoot);
            return layerRoot;
        }
        Node root = parent.root();
        applier.apply(root, layerRoot);
        return root;
    }

    private Bootstrap bootstrap(Node root, BlobTable table) {
        long flags = RafsFlags.of(options.compressor()) | RafsFlags.of(options.digester());
        if (options.explicitUidGid()) {
            flags |= RafsFlags.EXPLICIT_UID_GID;
        }
        List<Node> prefetchNodes = prefetch.resolve(root);
        return new Bootstrap(root, table.list(), options.chunkSize(), flags, prefetchNodes);
    }

    /** Removes the unused new blob from the table and renumbers the blobs after it. */
    private static void dropBlob(BlobTable table, int newBlob, Node root) {
        table.remove(newBlob);
        renumber(root, newBlob);
    }

    private static void renumber(Node root, int removed) {
        for (Node node : root.descendants()) {
            Inode inode = node.inode();
            if (inode.type() == FileType.REGULAR && needsRenumber(inode, removed)) {
                List<Chunk> moved = new ArrayList<>(inode.chunks().size());
                for (Chunk c : inode.chunks()) {
                    moved.add(c.blobIndex() > removed ? c.withBlobIndex(c.blobIndex() - 1) : c);
                }
                inode.chunks(moved);
            }
        }
    }

    private static boolean needsRenumber(Inode inode, int removed) {
        for (Chunk c : inode.chunks()) {
            if (c.blobIndex() > removed) {
                return true;
            }
        }
        return false;
    }

    /** Reports the bytes that reached the file after each write. */
    private static final class ObservedOutputStream extends FilterOutputStream {
        private final BlobObserver observer;
        private long length;

        ObservedOutputStream(OutputStream out, BlobObserver observer) {
            super(out);
            this.observer = observer;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            observer.written(++length);
        }

        @Override
        public void write(byte[] buffer, int offset, int count) throws IOException {
            out.write(buffer, offset, count);
            length += count;
            observer.written(length);
        }
    }
}
