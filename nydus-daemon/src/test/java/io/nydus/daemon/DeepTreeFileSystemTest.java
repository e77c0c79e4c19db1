package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.fuse.Attr;
import io.nydus.fuse.FuseFileSystem;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.BootstrapWriter;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.RafsFlags;
import io.nydus.testkit.SmallStack;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A mount of a tree as deep as a tree may be is indexed and served on a small stack, so the
 * daemon walks the tree without a frame per level.
 */
class DeepTreeFileSystemTest {
    private static final byte[] DIRECTORY = "a".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] FILE = "f".getBytes(StandardCharsets.US_ASCII);

    /** Returns an image of "a/a/.../a/f" with {@code depth} names in all, the file empty. */
    private static DecodedBootstrap deepImage(int depth) throws Exception {
        Node root = Node.root(new Inode(FileType.DIRECTORY).permissions(0755));
        Node dir = root;
        for (int level = 1; level < depth; level++) {
            Node child = Node.of(DIRECTORY, new Inode(FileType.DIRECTORY).permissions(0755));
            dir.put(child);
            dir = child;
        }
        dir.put(Node.of(FILE, new Inode(FileType.REGULAR).permissions(0644)));
        Bootstrap bootstrap = new Bootstrap(root, List.of(), Bootstrap.DEFAULT_CHUNK_SIZE,
                RafsFlags.COMPRESSION_ZSTD | RafsFlags.HASH_BLAKE3, List.of());
        return BootstrapReader.decode("deep", ByteBuffer.wrap(BootstrapWriter.write(bootstrap)));
    }

    @Test
    void treeAtDepthLimitIsServed() throws Exception {
        SmallStack.run(() -> {
            DecodedBootstrap image = deepImage(Node.MAX_DEPTH);
            try (DirectBlobData data = new DirectBlobData(Path.of("."), List.of())) {
                RafsFileSystem fs = new RafsFileSystem("deep", image, data,
                        RafsOptions.defaults(), new FsMetrics("/", true, true, true));

                long inode = FuseFileSystem.ROOT;
                for (int level = 1; level < Node.MAX_DEPTH; level++) {
                    inode = fs.lookup(inode, DIRECTORY).attr().inode();
                }
                Attr file = fs.lookup(inode, FILE).attr();

                assertEquals(0100644, file.mode());
                assertEquals(Node.MAX_DEPTH + 1L, fs.inodeCount());
            }
        });
    }
}
