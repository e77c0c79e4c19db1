package io.nydus.rafs.v6;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.UpstreamFixtures;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Reads the upstream RAFS bootstraps and checks them against their decoded facts. */
class BootstrapReaderFixtureTest {
    @TempDir
    Path dir;

    private DecodedBootstrap rafsV6() throws IOException {
        return BootstrapReader.decode(UpstreamFixtures.copy(UpstreamFixtures.RAFS_V6_BOOT, dir));
    }

    private static Node child(Node dir, String name) {
        Node child = dir.child(name.getBytes(StandardCharsets.UTF_8));
        if (child == null) {
            throw new AssertionError(dir.path() + " has no child " + name);
        }
        return child;
    }

    @Test
    void rafsV6SuperBlock() throws IOException {
        SuperBlockInfo sb = rafsV6().superBlock();
        assertEquals(12, sb.blockSizeBits());
        assertEquals(128, sb.rootNid());
        assertEquals(3, sb.inodeCount());
        assertEquals(9, sb.blocks());
        assertEquals(2, sb.metaBlockAddress());
        assertEquals(1, sb.extraDevices());
        assertEquals(11, sb.deviceSlotOffset());
        assertEquals(0xC, sb.featureIncompat());
        assertEquals(0x4000_0000, sb.featureCompat());
        assertEquals(0x194, sb.flags());
        assertEquals(0x10_0000, sb.chunkSize());
        assertEquals(4096, sb.blobTableOffset());
        assertEquals(256, sb.blobTableSize());
        assertEquals(16384, sb.chunkTableOffset());
        assertEquals(160, sb.chunkTableSize());
        assertEquals(0, sb.prefetchTableEntries());
    }

    @Test
    void rafsV6BlobTable() throws IOException {
        DecodedBootstrap decoded = rafsV6();
        assertEquals(1, decoded.bootstrap().blobs().size());
        BlobInfo blob = decoded.bootstrap().blobs().get(0);
        assertEquals("be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef",
                blob.blobId());
        assertEquals(2, blob.chunkCount());
        assertEquals(Compressor.ZSTD, blob.compressor());
        assertEquals(DigestAlgorithm.BLAKE3, blob.digester());
        assertEquals(0x7000_0021, blob.features());
        assertEquals(14554, blob.compressedSize());
        assertEquals(36864, blob.uncompressedSize());
        assertEquals(8314, blob.ciOffset());
        assertEquals(32, blob.ciCompressedSize());
        assertEquals(32, blob.ciUncompressedSize());
        assertEquals(Compressor.NONE, blob.ciCompressor());
        assertEquals(1024, blob.tocSize());
        assertEquals("cfc89ed0739aef4eb1bf0904f0dfdb1c857134eca7319465baae95a99b84acde",
                blob.tocDigest());
        assertEquals(512, blob.mappedBlockAddress());
        assertEquals(new DeviceSlot(blob.blobId(), 9, 512), decoded.devices().get(0));
    }

    @Test
    void rafsV6Root() throws IOException {
        DecodedBootstrap decoded = rafsV6();
        Node root = decoded.bootstrap().root();
        OnDiskInode inode = decoded.inode(root);
        assertEquals(128, inode.nid());
        assertEquals(false, inode.compact());
        assertEquals(OnDisk.LAYOUT_FLAT_INLINE, inode.layout());
        assertEquals(67, inode.size());
        assertEquals(0, inode.ino());
        assertEquals(040755, root.inode().mode());
        assertEquals(0, root.inode().mtimeSeconds());
        assertEquals(List.of("lib.rs", "sync_io.rs"), names(root));
    }

    @Test
    void rafsV6Files() throws IOException {
        DecodedBootstrap decoded = rafsV6();
        Node root = decoded.bootstrap().root();
        Node lib = child(root, "lib.rs");
        Node syncIo = child(root, "sync_io.rs");
        assertEquals(133, decoded.nid(lib));
        assertEquals(136, decoded.nid(syncIo));
        assertEquals(16931, lib.inode().size());
        assertEquals(13400, syncIo.inode().size());
        assertEquals(0100644, lib.inode().mode());
        assertEquals(0100644, syncIo.inode().mode());
        assertEquals(0x28, decoded.inode(lib).union());
    }

    @Test
    void rafsV6Chunks() throws IOException {
        Node root = rafsV6().bootstrap().root();
        Chunk lib = child(root, "lib.rs").inode().chunks().get(0);
        Chunk syncIo = child(root, "sync_io.rs").inode().chunks().get(0);
        assertEquals(1, child(root, "lib.rs").inode().chunks().size());
        assertEquals(1, child(root, "sync_io.rs").inode().chunks().size());
        assertEquals(0, lib.blobIndex());
        assertEquals(0, lib.index());
        assertEquals(0, lib.uncompressedOffset());
        assertEquals(0, syncIo.blobIndex());
        assertEquals(1, syncIo.index());
        assertEquals(5 * 4096, syncIo.uncompressedOffset());
        assertEquals(4828, lib.compressedSize());
        assertEquals(4828, syncIo.compressedOffset());
        assertTrue(lib.digest().toString().startsWith("f7e2735f"));
        assertTrue(syncIo.digest().toString().startsWith("812465bc"));
    }

    @Test
    void rafsV6ChunkTableOrder() throws IOException {
        List<Chunk> table = rafsV6().chunkTable();
        assertEquals(2, table.size());
        assertTrue(table.get(0).digest().toString().startsWith("812465bc"));
        assertTrue(table.get(1).digest().toString().startsWith("f7e2735f"));
    }

    @Test
    void snapshotterBootstrapCounts() throws IOException {
        DecodedBootstrap decoded = BootstrapReader.decode(
                UpstreamFixtures.extractBootstrap(UpstreamFixtures.SNAPSHOTTER_V6, dir));
        assertEquals(3517, decoded.superBlock().inodeCount());
        assertEquals(3517, decoded.inodes().size());
        assertEquals(2515, decoded.chunkTable().size());
        assertEquals(438272, decoded.superBlock().chunkTableOffset());
        assertEquals(0x6, decoded.bootstrap().flags());
        BlobInfo blob = decoded.bootstrap().blobs().get(0);
        assertEquals("cdde6f5645daea414d60bc75611102a8bc8dae6198f087366365d6ff85bf5726",
                blob.blobId());
        assertEquals(Compressor.LZ4_BLOCK, blob.ciCompressor());
        assertEquals(2515, blob.chunkCount());
    }

    @Test
    void snapshotterPrefetchTable() throws IOException {
        DecodedBootstrap decoded = BootstrapReader.decode(
                UpstreamFixtures.extractBootstrap(UpstreamFixtures.SNAPSHOTTER_V6, dir));
        List<Node> prefetch = decoded.bootstrap().prefetch();
        assertEquals(1, prefetch.size());
        assertEquals("/bin", prefetch.get(0).path());
        assertEquals(142, decoded.nid(prefetch.get(0)));
        assertEquals("usr/bin", new String(prefetch.get(0).inode().symlinkTarget(),
                StandardCharsets.UTF_8));
    }

    @Test
    void separateHardlinkInodesStaySeparate() throws IOException {
        DecodedBootstrap decoded = BootstrapReader.decode(
                UpstreamFixtures.extractBootstrap(UpstreamFixtures.SNAPSHOTTER_V6, dir));
        Node bin = child(child(decoded.bootstrap().root(), "usr"), "bin");
        Node perl = child(bin, "perl");
        Node versioned = child(bin, "perl5.34.0");
        assertEquals(1552, decoded.nid(perl));
        assertEquals(1555, decoded.nid(versioned));
        assertEquals(381, decoded.inode(perl).ino());
        assertEquals(381, decoded.inode(versioned).ino());
        assertNotSame(perl.inode(), versioned.inode());
        assertEquals(perl.inode().chunks(), versioned.inode().chunks());
    }

    @ParameterizedTest
    @ValueSource(strings = {UpstreamFixtures.REPEATABLE_V5_SHA256,
            UpstreamFixtures.REPEATABLE_V5_BLAKE3})
    void rafsV5Rejected(String fixture) throws IOException {
        Path file = UpstreamFixtures.copy(fixture, dir);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> BootstrapReader.read(file));
        assertV5Message(file, e);
    }

    @Test
    void snapshotterRafsV5Rejected() throws IOException {
        Path file = UpstreamFixtures.extractBootstrap(UpstreamFixtures.SNAPSHOTTER_V5, dir);
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> BootstrapReader.read(file));
        assertV5Message(file, e);
    }

    private static void assertV5Message(Path file, RafsFormatException e) {
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("RAFS v5"), e.getMessage());
        assertTrue(e.getMessage().contains("not supported, only RAFS v6"), e.getMessage());
    }

    @Test
    void typesOfSnapshotterTree() throws IOException {
        DecodedBootstrap decoded = BootstrapReader.decode(
                UpstreamFixtures.extractBootstrap(UpstreamFixtures.SNAPSHOTTER_V6, dir));
        int[] counts = new int[FileType.values().length];
        for (Node node : decoded.inodes().keySet()) {
            counts[node.inode().type().ordinal()]++;
        }
        assertEquals(2627, counts[FileType.REGULAR.ordinal()]);
        assertEquals(678, counts[FileType.DIRECTORY.ordinal()]);
        assertEquals(212, counts[FileType.SYMLINK.ordinal()]);
    }

    static List<String> names(Node dir) {
        List<String> names = new ArrayList<>();
        for (Node child : dir.children()) {
            names.add(Node.display(child.nameBytes()));
        }
        return names;
    }
}
