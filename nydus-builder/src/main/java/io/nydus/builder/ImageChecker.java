package io.nydus.builder;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks an image for consistency. Reading the bootstrap validates its on-disk structures. The
 * checker then checks the tree against itself and the blob table: chunk counts and sizes, blob
 * and chunk indexes, offsets and link counts. Given the blob directory, it also opens every
 * blob, which checks its ToC, CI table and digest array, and verifies every chunk.
 */
public final class ImageChecker {
    private static final Logger LOG = LoggerFactory.getLogger(ImageChecker.class);

    /**
     * The extent of a finished check.
     *
     * @param entries tree entries (names), the root included
     * @param regularFiles regular file names, hardlinks included
     * @param dataBytes file data bytes, each hardlinked file counted once
     * @param chunks chunk references of all files, each hardlinked file counted once
     * @param uniqueChunks distinct chunks, by blob and CI index
     * @param blobs blobs in the blob table
     * @param chunksVerified chunks read, decompressed and digest-checked, 0 without blobs
     * @param bytesVerified uncompressed bytes of the verified chunks
     */
    public record Summary(long entries, long regularFiles, long dataBytes, long chunks,
            long uniqueChunks, int blobs, long chunksVerified, long bytesVerified) {
    }

    private final Path bootstrapFile;
    private final DecodedBootstrap decoded;
    private final Bootstrap image;
    /** Each distinct chunk with the first file that uses it, by blob index and CI index. */
    private final Map<Long, ChunkUse> uses = new LinkedHashMap<>();
    private final Map<Inode, Integer> names = new IdentityHashMap<>();
    private long entries;
    private long regularFiles;
    private long dataBytes;
    private long chunkReferences;

    private record ChunkUse(Chunk chunk, Node file) {
    }

    private ImageChecker(Path bootstrapFile, DecodedBootstrap decoded) {
        this.bootstrapFile = bootstrapFile;
        this.decoded = decoded;
        this.image = decoded.bootstrap();
    }

    /**
     * Checks the image.
     *
     * @param blobDir the directory holding the blobs, named by blob id, or null to check the
     *     bootstrap alone
     * @throws RafsFormatException naming the file, blob, chunk and field of the first problem
     */
    public static Summary check(Path bootstrap, Path blobDir) throws IOException {
        ImageChecker checker = new ImageChecker(bootstrap, BootstrapReader.decode(bootstrap));
        checker.checkTree();
        long[] verified = blobDir == null ? new long[2] : checker.checkBlobs(blobDir);
        Summary summary = new Summary(checker.entries, checker.regularFiles, checker.dataBytes,
                checker.chunkReferences, checker.uses.size(), checker.image.blobs().size(),
                verified[0], verified[1]);
        LOG.info("checked {}: {} entries, {} chunks of {} blobs, {} chunks verified", bootstrap,
                summary.entries(), summary.chunks(), summary.blobs(), summary.chunksVerified());
        return summary;
    }

    /**
     * Returns the files that checking {@code bootstrap} reads: the bootstrap and the blobs in
     * {@code blobDir} that its blob table names, so that a command can keep its outputs off
     * them. When the bootstrap cannot be decoded, the list contains it alone, and {@link #check}
     * reports why.
     *
     * @param blobDir the blob directory, or null
     */
    public static List<Path> inputFiles(Path bootstrap, Path blobDir) {
        try {
            List<BlobInfo> blobs = BootstrapReader.decode(bootstrap).bootstrap().blobs();
            return BlobSet.inputFiles(bootstrap, blobDir, null, blobs);
        } catch (IOException e) {
            return List.of(bootstrap);
        }
    }

    private void checkTree() throws RafsFormatException {
        Deque<Node> pending = new ArrayDeque<>();
        pending.add(image.root());
        while (!pending.isEmpty()) {
            Node node = pending.poll();
            entries++;
            checkNode(node);
            pending.addAll(node.children());
        }
        checkLinkCounts(image.root());
        checkInodeCount();
    }

    /** Checks that the superblock counts every entry of the tree, as the builder counts. */
    private void checkInodeCount() throws RafsFormatException {
        long recorded = decoded.superBlock().inodeCount();
        if (recorded != entries) {
            throw new RafsFormatException(bootstrapFile + ": superblock field s_inos at offset"
                    + " 0x410 is " + recorded + ", but the tree has " + entries + " entries");
        }
    }

    private void checkNode(Node node) throws RafsFormatException {
        Inode inode = node.inode();
        boolean first = names.merge(inode, 1, Integer::sum) == 1;
        if (inode.type() != FileType.REGULAR) {
            if (!inode.chunks().isEmpty()) {
                throw problem(node, "a " + inode.type() + " has " + inode.chunks().size()
                        + " chunks, expected none");
            }
            return;
        }
        regularFiles++;
        if (!first) {
            return;
        }
        dataBytes += inode.size();
        try {
            FileData.checkLayout(node, image.chunkSize(), inode.size(), inode.chunks());
        } catch (RafsFormatException e) {
            throw new RafsFormatException(bootstrapFile + ": " + e.getMessage(), e);
        }
        List<Chunk> chunks = inode.chunks();
        for (int i = 0; i < chunks.size(); i++) {
            checkChunk(node, i, chunks.get(i));
            chunkReferences++;
        }
    }

    private void checkChunk(Node node, int position, Chunk chunk) throws RafsFormatException {
        String where = "chunk " + position + " (blob " + chunk.blobIndex() + " CI index "
                + chunk.index() + ")";
        if (chunk.blobIndex() >= image.blobs().size()) {
            throw problem(node, where + ": blob index " + chunk.blobIndex() + " is outside the"
                    + " blob table of " + image.blobs().size() + " blobs");
        }
        BlobInfo blob = image.blobs().get(chunk.blobIndex());
        if (chunk.index() >= blob.chunkCount()) {
            throw problem(node, where + ": CI index " + chunk.index() + " is not below blob "
                    + blob.blobId() + "'s chunk count " + blob.chunkCount());
        }
        long end = chunk.uncompressedOffset() + chunk.uncompressedSize();
        if (end > blob.uncompressedSize()) {
            throw problem(node, where + ": uncompressed offset " + chunk.uncompressedOffset()
                    + " + size " + chunk.uncompressedSize() + " ends past blob "
                    + blob.blobId() + "'s uncompressed size " + blob.uncompressedSize());
        }
        if (chunk.compressed() && blob.compressor() == Compressor.NONE) {
            throw problem(node, where + ": the chunk is marked compressed, but blob "
                    + blob.blobId() + " has compressor none");
        }
        long key = key(chunk);
        ChunkUse seen = uses.putIfAbsent(key, new ChunkUse(chunk, node));
        if (seen != null && !seen.chunk().equals(chunk)) {
            throw problem(node, where + ": differs from the same chunk in "
                    + seen.file().path() + " (" + seen.chunk() + " and " + chunk + ")");
        }
    }

    /**
     * Checks each inode's stored link count: a directory's is 2 plus its subdirectories, and
     * a file's is at least the number of names that share its inode. A larger count is
     * accepted, because images merged from layers keep the source's count when a hardlink
     * peer lives in another layer or was removed by a whiteout.
     */
    private void checkLinkCounts(Node dir) throws RafsFormatException {
        Deque<Node> pending = new ArrayDeque<>();
        pending.add(dir);
        while (!pending.isEmpty()) {
            Node node = pending.poll();
            long stored = decoded.inode(node).nlink();
            if (node.isDirectory()) {
                long expected = 2 + node.children().stream().filter(Node::isDirectory).count();
                if (stored != expected) {
                    throw problem(node, "nlink is " + stored + ", expected " + expected
                            + " (2 + subdirectories)");
                }
            } else if (stored < names.get(node.inode())) {
                throw problem(node, "nlink is " + stored + ", but " + names.get(node.inode())
                        + " names in the tree share the inode");
            }
            pending.addAll(node.children());
        }
    }

    /** Opens and verifies each blob and every chunk in it; returns chunks and bytes read. */
    private long[] checkBlobs(Path blobDir) throws IOException {
        long[] verified = new long[2];
        try (BlobSet blobs = new BlobSet(blobDir, image.blobs())) {
            for (int i = 0; i < image.blobs().size(); i++) {
                checkBlob(blobs, i, verified);
            }
        }
        return verified;
    }

    private void checkBlob(BlobSet blobs, int blobIndex, long[] verified) throws IOException {
        BlobInfo info = image.blobs().get(blobIndex);
        BlobReader reader = blobs.reader(blobIndex);
        int ciEntries = reader.meta().ciEntries().size();
        if (ciEntries != info.chunkCount()) {
            throw new RafsFormatException("blob " + info.blobId() + ": CI table has "
                    + ciEntries + " entries, the blob table of " + bootstrapFile + " says "
                    + info.chunkCount());
        }
        Map<Integer, Chunk> known = knownChunks(blobIndex);
        for (int index = 0; index < ciEntries; index++) {
            Chunk chunk = known.get(index);
            byte[] data;
            try {
                data = chunk != null ? reader.readChunk(chunk) : reader.readChunk(index);
            } catch (RafsFormatException e) {
                ChunkUse use = uses.get(key(blobIndex, index));
                String user = use == null ? "" : " (used by " + use.file().path() + ")";
                throw new RafsFormatException(e.getMessage() + user, e);
            }
            verified[0]++;
            verified[1] += data.length;
        }
        reader.verifySections();
    }

    /** Returns the bootstrap's chunks of blob {@code blobIndex}, with their digests. */
    private Map<Integer, Chunk> knownChunks(int blobIndex) {
        Map<Integer, Chunk> known = new LinkedHashMap<>();
        for (Chunk c : decoded.chunkTable()) {
            if (c.blobIndex() == blobIndex) {
                known.putIfAbsent(c.index(), c);
            }
        }
        for (ChunkUse use : uses.values()) {
            if (use.chunk().blobIndex() == blobIndex) {
                known.putIfAbsent(use.chunk().index(), use.chunk());
            }
        }
        return known;
    }

    private static long key(Chunk chunk) {
        return key(chunk.blobIndex(), chunk.index());
    }

    private static long key(int blobIndex, int index) {
        return (long) blobIndex << 24 | index;
    }

    private RafsFormatException problem(Node node, String message) {
        return new RafsFormatException(bootstrapFile + ": " + node.path() + ": " + message);
    }
}
