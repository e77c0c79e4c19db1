package io.nydus.rafs.v6;

import static io.nydus.rafs.v6.SampleTrees.bytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Writes trees with {@link BootstrapWriter} and reads them back. */
class BootstrapReaderRoundTripTest {
    @TempDir
    Path dir;

    private static DecodedBootstrap decode(byte[] image) throws RafsFormatException {
        return BootstrapReader.decode("written.boot", ByteBuffer.wrap(image));
    }

    private static Node at(Node root, String... names) {
        Node node = root;
        for (String name : names) {
            node = node.child(bytes(name));
        }
        return node;
    }

    @Test
    void everythingRoundTrips() throws IOException {
        Bootstrap original = SampleTrees.everything();
        DecodedBootstrap decoded = decode(BootstrapWriter.write(original));
        assertEquals(List.of(), SampleTrees.differences(original.root(),
                decoded.bootstrap().root()));
    }

    @Test
    void blobTableRoundTrips() throws IOException {
        Bootstrap original = SampleTrees.everything();
        Bootstrap decoded = decode(BootstrapWriter.write(original)).bootstrap();
        BlobInfo written = original.blobs().get(0);
        BlobInfo read = decoded.blobs().get(0);
        assertEquals(written.withMappedBlockAddress(read.mappedBlockAddress()), read);
        // The writer adds bits the blobs imply (ENCRYPTION_NONE, INLINED_CHUNK_DIGEST).
        assertEquals(original.flags(), decoded.flags() & original.flags());
        assertEquals(original.chunkSize(), decoded.chunkSize());
    }

    @Test
    void prefetchRoundTrips() throws IOException {
        Bootstrap decoded = decode(BootstrapWriter.write(SampleTrees.everything())).bootstrap();
        assertEquals(List.of("/files", "/links"),
                decoded.prefetch().stream().map(Node::path).toList());
    }

    @Test
    void hardlinksShareOneInode() throws IOException {
        DecodedBootstrap decoded = decode(BootstrapWriter.write(SampleTrees.everything()));
        Node big = at(decoded.bootstrap().root(), "files", "big");
        Node link = at(decoded.bootstrap().root(), "files", "big-link");
        assertSame(big.inode(), link.inode());
        assertEquals(decoded.nid(big), decoded.nid(link));
        assertEquals(2, decoded.inode(big).nlink());
    }

    @Test
    void multiBlockDirectory() throws IOException {
        DecodedBootstrap decoded = decode(BootstrapWriter.write(SampleTrees.everything()));
        Node many = at(decoded.bootstrap().root(), "many");
        assertEquals(400, many.childCount());
        assertTrue(decoded.inode(many).size() > 2 * 4096, "size " + decoded.inode(many).size());
    }

    @Test
    void devicesDecodeMajorMinor() throws IOException {
        Node dev = at(decode(BootstrapWriter.write(SampleTrees.everything())).bootstrap().root(),
                "dev");
        Inode widest = at(dev, "widest").inode();
        assertEquals(FileType.CHAR_DEVICE, widest.type());
        assertEquals(0xFFF, widest.rdevMajor());
        assertEquals(0xF_FFFF, widest.rdevMinor());
        assertEquals(8, at(dev, "sda").inode().rdevMajor());
        assertEquals(FileType.SOCKET, at(dev, "socket").inode().type());
    }

    @Test
    void aclXattrsDecodeToWholeNames() throws IOException {
        Node root = Node.root(new Inode(FileType.DIRECTORY).permissions(0755));
        Inode file = new Inode(FileType.FIFO).permissions(0644);
        file.xattrs().put(bytes("system.posix_acl_access"), new byte[] {2, 0, 0, 0});
        file.xattrs().put(bytes("system.posix_acl_default"), new byte[] {2, 0, 0, 0, 1});
        root.put(Node.of(bytes("f"), file));
        Bootstrap original = new Bootstrap(root, List.of(), SampleTrees.CHUNK_SIZE,
                RafsFlags.COMPRESSION_NONE | RafsFlags.HASH_SHA256 | RafsFlags.HAS_XATTR,
                List.of());
        Inode read = at(decode(BootstrapWriter.write(original)).bootstrap().root(), "f").inode();
        assertArrayEquals(new byte[] {2, 0, 0, 0, 1},
                read.xattrs().get(bytes("system.posix_acl_default")));
        assertEquals(2, read.xattrs().size());
    }

    @Test
    void sharedXattrsRejected() throws IOException {
        byte[] image = BootstrapWriter.write(SampleTrees.everything());
        DecodedBootstrap decoded = decode(image);
        OnDiskInode big = decoded.inode(at(decoded.bootstrap().root(), "files", "big"));
        long headerAt = big.offset() + big.inodeSize();
        image[(int) headerAt + 4] = 1;
        RafsFormatException e = assertThrows(RafsFormatException.class, () -> decode(image));
        assertTrue(e.getMessage().contains("shared xattrs are not supported"), e.getMessage());
        assertTrue(e.getMessage().contains("offset " + (headerAt + 4)), e.getMessage());
    }

    @Test
    void lustreXattrIndexRejected() throws IOException {
        byte[] image = BootstrapWriter.write(SampleTrees.everything());
        DecodedBootstrap decoded = decode(image);
        OnDiskInode big = decoded.inode(at(decoded.bootstrap().root(), "files", "big"));
        long firstEntry = big.offset() + big.inodeSize() + 12;
        image[(int) firstEntry + 1] = 5;
        RafsFormatException e = assertThrows(RafsFormatException.class, () -> decode(image));
        assertTrue(e.getMessage().contains("name index 5 is not supported"), e.getMessage());
    }

    /** Rewrites /dev/fifo as a 32-byte compact inode and sets the superblock's build time. */
    private static byte[] withCompactFifo() throws IOException {
        byte[] image = BootstrapWriter.write(SampleTrees.everything());
        DecodedBootstrap decoded = decode(image);
        OnDiskInode raw = decoded.inode(at(decoded.bootstrap().root(), "dev", "fifo"));
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        int at = (int) raw.offset();
        b.putLong(1024 + 24, 1_000_000_000L);
        b.putInt(1024 + 32, 777);
        b.putShort(at, (short) 0);
        b.putShort(at + 6, (short) 1);
        b.putInt(at + 8, 0);
        b.putInt(at + 12, 42);
        b.putShort(at + 24, (short) 65000);
        b.putShort(at + 26, (short) 65001);
        return image;
    }

    @Test
    void compactInodeUsesBuildTime() throws IOException {
        DecodedBootstrap decoded = decode(withCompactFifo());
        Node fifo = at(decoded.bootstrap().root(), "dev", "fifo");
        Inode compact = fifo.inode();
        assertTrue(decoded.inode(fifo).compact());
        assertEquals(1_000_000_042L, compact.mtimeSeconds());
        assertEquals(777, compact.mtimeNanos());
        assertEquals(65000, compact.uid());
        assertEquals(65001, compact.gid());
        assertEquals(FileType.FIFO, compact.type());
    }

    @Test
    void compactInodeMatchesKernel() throws IOException {
        byte[] image = withCompactFifo();
        Path file = Files.write(dir.resolve("compact.boot"), image);
        assertEquals(List.of(), KernelTree.mismatches(decode(image), file, dir));
    }

    @Test
    void writtenImageMatchesKernel() throws IOException {
        byte[] image = BootstrapWriter.write(SampleTrees.everything());
        Path file = Files.write(dir.resolve("everything.boot"), image);
        assertEquals(List.of(), KernelTree.mismatches(decode(image), file, dir));
    }

    @Test
    void treeAtDepthLimitRoundTrips() throws IOException {
        Bootstrap decoded = decode(BootstrapWriter.write(nestedDirectories(Node.MAX_DEPTH)))
                .bootstrap();

        Node node = decoded.root();
        for (int level = 0; level < Node.MAX_DEPTH; level++) {
            node = node.child(bytes("d"));
        }
        assertEquals("/" + "d/".repeat(Node.MAX_DEPTH - 1) + "d", node.path());
    }

    @Test
    void treeBeyondDepthLimitIsRejected() throws IOException {
        byte[] image = BootstrapWriter.write(nestedDirectories(Node.MAX_DEPTH + 1));

        RafsFormatException e = assertThrows(RafsFormatException.class, () -> decode(image));
        assertTrue(e.getMessage().contains("entry 'd' lies 2049 levels below the root, deeper"
                + " than the 2048 levels a tree may have"), e.getMessage());
        assertTrue(e.getMessage().startsWith("written.boot: directory data of inode nid "),
                e.getMessage());
    }

    /** Returns an image of {@code levels} directories named "d", each inside the last. */
    private static Bootstrap nestedDirectories(int levels) {
        Node root = Node.root(new Inode(FileType.DIRECTORY).permissions(0755));
        Node parent = root;
        for (int level = 0; level < levels; level++) {
            Node child = Node.of(bytes("d"), new Inode(FileType.DIRECTORY).permissions(0755));
            parent.put(child);
            parent = child;
        }
        return new Bootstrap(root, List.of(), Bootstrap.DEFAULT_CHUNK_SIZE,
                RafsFlags.COMPRESSION_ZSTD | RafsFlags.HASH_BLAKE3 | RafsFlags.EXPLICIT_UID_GID,
                List.of());
    }
}
