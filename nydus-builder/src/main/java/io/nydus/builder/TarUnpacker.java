package io.nydus.builder;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes an image's tree as a PAX tar archive, in tree order with each directory before its
 * entries. Paths start with "./" as in {@code tar -C DIR .}, and the first entry, "./", carries
 * the root directory's metadata. The second and later names of a file become hardlink entries.
 * Files with all-zero chunks become GNU sparse 1.0 entries, which GNU tar extracts with holes.
 * The stand-in that a per-layer build writes for a hard link into a lower layer
 * ({@link HardlinkMarker}) becomes that hard link again.
 */
final class TarUnpacker {
    private static final Logger LOG = LoggerFactory.getLogger(TarUnpacker.class);

    private final Bootstrap image;
    private final BlobSet blobs;
    private final Map<Inode, byte[]> firstNames = new IdentityHashMap<>();
    /** The digest of an all-zero chunk, by chunk size. */
    private final Map<Integer, ChunkDigest> zeroDigests = new HashMap<>();
    private long entries;
    private long regularFiles;
    private long dataBytes;
    private long skipped;

    TarUnpacker(Bootstrap image, BlobSet blobs) {
        this.image = image;
        this.blobs = blobs;
    }

    Unpacker.Result unpack(Path output) throws IOException {
        Path temp = AtomicFiles.createTempBeside(output);
        try {
            OutputStream named = new NamingOutputStream(Files.newOutputStream(temp),
                    output.toString());
            try (OutputStream file = new BufferedOutputStream(named, 1 << 20)) {
                write(file);
            }
            AtomicFiles.moveIntoPlace(temp, output);
        } finally {
            ExitCleanup.delete(temp);
        }
        LOG.info("wrote {} entries ({} regular files, {} data bytes) to tar archive {}",
                entries, regularFiles, dataBytes, output);
        return result();
    }

    /**
     * Writes the archive into the FIFO, character device or open file {@code output} in
     * place, truncating a regular file. Opening a FIFO waits until a reader opens it.
     */
    Unpacker.Result stream(Path output) throws IOException {
        OutputStream named = new NamingOutputStream(
                Files.newOutputStream(output, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING), output.toString());
        try (OutputStream stream = new BufferedOutputStream(named, 1 << 20)) {
            write(stream);
        }
        LOG.info("wrote {} entries ({} regular files, {} data bytes) as a tar stream to {}",
                entries, regularFiles, dataBytes, output);
        return result();
    }

    /** Writes the archive to {@code output}, which is flushed but left open. */
    Unpacker.Result write(OutputStream output) throws IOException {
        try (PaxTarWriter tar = new PaxTarWriter(output)) {
            writeTree(image.root(), tar);
        }
        return result();
    }

    private Unpacker.Result result() {
        return new Unpacker.Result(entries, regularFiles, dataBytes, skipped);
    }

    private void writeTree(Node root, PaxTarWriter tar) throws IOException {
        writeEntry(root, tar);
        for (Node node : root.descendants()) {
            writeEntry(node, tar);
        }
    }

    private void writeEntry(Node node, PaxTarWriter tar) throws IOException {
        Inode inode = node.inode();
        if (inode.type() == FileType.SOCKET) {
            LOG.warn("{}: skipped socket, because tar archives cannot hold sockets",
                    node.path());
            skipped++;
            return;
        }
        if (ImplicitDirectory.isMarked(inode)) {
            // The layer's tar had no entry for it, so the entries below make it on unpack.
            return;
        }
        byte[] path = tarPath(node);
        byte[] first = firstNames.get(inode);
        if (inode.type() == FileType.REGULAR) {
            regularFiles++;
        }
        entries++;
        if (first != null) {
            tar.putEntry(header(inode, path, PaxTarWriter.Type.HARDLINK, first, 0));
            return;
        }
        byte[] lowerTarget = HardlinkMarker.target(inode);
        if (lowerTarget != null) {
            writeLowerLink(inode, path, lowerTarget, tar);
            return;
        }
        if (inode.type() != FileType.DIRECTORY) {
            firstNames.put(inode, path);
        }
        switch (inode.type()) {
            case DIRECTORY -> tar.putEntry(header(inode, path, PaxTarWriter.Type.DIRECTORY,
                    null, 0));
            case SYMLINK -> tar.putEntry(header(inode, path, PaxTarWriter.Type.SYMLINK,
                    inode.symlinkTarget(), 0));
            case CHAR_DEVICE -> tar.putEntry(header(inode, path,
                    PaxTarWriter.Type.CHAR_DEVICE, null, 0));
            case BLOCK_DEVICE -> tar.putEntry(header(inode, path,
                    PaxTarWriter.Type.BLOCK_DEVICE, null, 0));
            case FIFO -> tar.putEntry(header(inode, path, PaxTarWriter.Type.FIFO, null, 0));
            case REGULAR -> writeFile(node, path, tar);
            case SOCKET -> throw new IllegalStateException("sockets are skipped above");
        }
    }

    /**
     * Writes the stand-in of a per-layer bootstrap for a hard link into a lower layer as the
     * hard link entry that the layer's tar had, without the stand-in's xattr.
     */
    private static void writeLowerLink(Inode inode, byte[] path, byte[] target,
            PaxTarWriter tar) throws IOException {
        byte[] link = new byte[target.length + 1];
        link[0] = '.';
        System.arraycopy(target, 0, link, 1, target.length);
        List<byte[][]> xattrs = new ArrayList<>();
        inode.xattrs().forEach((key, value) -> {
            if (!HardlinkMarker.isReserved(key)) {
                xattrs.add(new byte[][] {key, value});
            }
        });
        tar.putEntry(new PaxTarWriter.Header(path, PaxTarWriter.Type.HARDLINK,
                inode.permissions(), inode.uid(), inode.gid(), inode.mtimeSeconds(),
                inode.mtimeNanos(), 0, link, 0, 0, xattrs, null));
    }

    /**
     * Writes a regular file. Chunks whose digest is that of all zeros become holes of a GNU
     * sparse 1.0 entry and are not read. The other chunks are read and verified.
     */
    private void writeFile(Node node, byte[] path, PaxTarWriter tar) throws IOException {
        Inode inode = node.inode();
        List<Chunk> chunks = inode.chunks();
        FileData.checkLayout(node, image.chunkSize(), inode.size(), chunks);
        boolean[] hole = new boolean[chunks.size()];
        boolean anyHole = false;
        for (int i = 0; i < chunks.size(); i++) {
            hole[i] = isZeroChunk(chunks.get(i));
            anyHole |= hole[i];
        }
        List<PaxTarWriter.Region> regions = anyHole ? dataRegions(chunks, hole) : null;
        tar.putEntry(header(inode, path, PaxTarWriter.Type.REGULAR, null, inode.size(),
                regions));
        for (int i = 0; i < chunks.size(); i++) {
            if (!hole[i]) {
                byte[] data = blobs.read(chunks.get(i));
                tar.write(data, 0, data.length);
            }
        }
        dataBytes += inode.size();
    }

    private List<PaxTarWriter.Region> dataRegions(List<Chunk> chunks, boolean[] hole) {
        List<PaxTarWriter.Region> regions = new ArrayList<>();
        long start = -1;
        long end = 0;
        for (int i = 0; i < chunks.size(); i++) {
            long offset = (long) i * image.chunkSize();
            if (hole[i]) {
                continue;
            }
            if (start < 0 || offset != end) {
                if (start >= 0) {
                    regions.add(new PaxTarWriter.Region(start, end - start));
                }
                start = offset;
            }
            end = offset + chunks.get(i).uncompressedSize();
        }
        if (start >= 0) {
            regions.add(new PaxTarWriter.Region(start, end - start));
        }
        return regions;
    }

    private boolean isZeroChunk(Chunk chunk) {
        ChunkDigest zero = zeroDigests.computeIfAbsent(chunk.uncompressedSize(), size ->
                ChunkDigest.of(image.digester().digest(new byte[size], 0, size)));
        return chunk.digest().equals(zero);
    }

    private static PaxTarWriter.Header header(Inode inode, byte[] path, PaxTarWriter.Type type,
            byte[] linkTarget, long size) {
        return header(inode, path, type, linkTarget, size, null);
    }

    private static PaxTarWriter.Header header(Inode inode, byte[] path, PaxTarWriter.Type type,
            byte[] linkTarget, long size, List<PaxTarWriter.Region> regions) {
        List<byte[][]> xattrs = new ArrayList<>(inode.xattrs().size());
        inode.xattrs().forEach((key, value) -> xattrs.add(new byte[][] {key, value}));
        return new PaxTarWriter.Header(path, type, inode.permissions(), inode.uid(),
                inode.gid(), inode.mtimeSeconds(), inode.mtimeNanos(), size, linkTarget,
                inode.rdevMajor(), inode.rdevMinor(), xattrs, regions);
    }

    /** Returns "." for the root and "./a/b" for "/a/b". */
    private static byte[] tarPath(Node node) {
        byte[] absolute = node.pathBytes();
        if (node.isRoot()) {
            return new byte[] {'.'};
        }
        byte[] path = new byte[absolute.length + 1];
        path[0] = '.';
        System.arraycopy(absolute, 0, path, 1, absolute.length);
        return path;
    }
}
