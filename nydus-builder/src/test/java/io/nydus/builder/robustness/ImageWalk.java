package io.nydus.builder.robustness;

import io.nydus.builder.ImageChecker;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Checks an image with {@link ImageChecker} and then touches every part of the decoded tree:
 * each name, inode field, symlink target, xattr and chunk. A corrupt image must fail in the
 * checker with a {@link io.nydus.rafs.RafsFormatException}. The walk then finds any part that
 * was decoded into a state the model cannot return.
 */
final class ImageWalk {
    /** What the walk saw, so callers can compare a walk against the intact image. */
    record Counts(long nodes, long xattrs, long chunks, long bytes) {
    }

    private ImageWalk() {
    }

    /**
     * Checks the image and walks it.
     *
     * @param blobDir the blob directory, or null to check the bootstrap alone
     */
    static Counts checkAndWalk(Path bootstrap, Path blobDir) throws IOException {
        ImageChecker.check(bootstrap, blobDir);
        DecodedBootstrap decoded = BootstrapReader.decode(bootstrap);
        return walk(decoded);
    }

    private static Counts walk(DecodedBootstrap decoded) {
        long nodes = 0;
        long xattrs = 0;
        long chunks = 0;
        long[] bytes = {0};
        Deque<Node> pending = new ArrayDeque<>();
        pending.add(decoded.bootstrap().root());
        while (!pending.isEmpty()) {
            Node node = pending.poll();
            nodes++;
            bytes[0] += node.nameBytes().length + node.path().length();
            Inode inode = node.inode();
            bytes[0] += inode.permissions() + inode.uid() + inode.gid() + inode.mtimeSeconds()
                    + inode.size() + inode.rdevMajor() + inode.rdevMinor();
            byte[] target = inode.symlinkTarget();
            bytes[0] += target == null ? 0 : target.length;
            inode.xattrs().forEach((name, value) -> bytes[0] += name.length + value.length);
            xattrs += inode.xattrs().size();
            for (Chunk chunk : inode.chunks()) {
                chunks++;
                bytes[0] += chunk.compressedSize() + chunk.uncompressedSize()
                        + chunk.digest().hashCode();
            }
            bytes[0] += decoded.inode(node).nid();
            pending.addAll(node.children());
        }
        for (var blob : decoded.bootstrap().blobs()) {
            bytes[0] += blob.blobId().length() + blob.chunkCount();
        }
        return new Counts(nodes, xattrs, chunks, bytes[0]);
    }
}
