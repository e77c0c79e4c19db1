package io.nydus.rafs.v6;

import static io.nydus.rafs.v6.SampleTrees.bytes;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.UpstreamFixtures;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Patches single fields of real bootstraps and checks that the reader rejects each one with a
 * message that names the file, the offset and the problem.
 *
 * <p>Offsets in {@code rafs-v6-2.2.boot}: metadata area at 8192; root inode (nid 128) at 12288
 * with its dirents inline at 12352 ({@code .}, {@code ..}, {@code lib.rs} at 12376,
 * {@code sync_io.rs} at 12388; names from 12400); {@code lib.rs} inode (nid 133) at 12448 with
 * its chunk index at 12512; chunk info table at 16384.
 */
class BootstrapReaderCorruptionTest {
    private static final int ROOT = 12288;
    private static final int DIRENTS = 12352;
    private static final int LIB_DIRENT = DIRENTS + 24;
    private static final int LIB_NAME = 12403;
    private static final int LIB = 12448;
    private static final int LIB_CHUNK = 12512;
    private static final int CHUNK_TABLE = 16384;
    private static final int BLOB_ENTRY = 4096;

    @TempDir
    Path dir;
    private byte[] image;
    private ByteBuffer le;

    @BeforeEach
    void load() throws IOException {
        image = Files.readAllBytes(UpstreamFixtures.copy(UpstreamFixtures.RAFS_V6_BOOT, dir));
        le = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
    }

    private void assertRejected(byte[] data, long offset, String fragment) {
        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> BootstrapReader.read("patched.boot", ByteBuffer.wrap(data)));
        String message = e.getMessage();
        assertTrue(message.startsWith("patched.boot: "), message);
        assertTrue(message.contains(fragment), message);
        if (offset >= 0) {
            assertTrue(message.contains("at offset " + offset + " "), message);
        }
    }

    private void assertRejected(long offset, String fragment) {
        assertRejected(image, offset, fragment);
    }

    @Test
    void entryPointingToRootIsCycle() {
        le.putLong(LIB_DIRENT, 128);
        assertRejected(LIB_DIRENT, "points to directory nid 128, which is already /");
    }

    @Test
    void nidOutsideMetadataArea() {
        le.putLong(LIB_DIRENT, 0xFF_FFFF_FFFFL);
        assertRejected(-1, "nid 1099511627775 is outside the metadata area");
    }

    @Test
    void direntCountOverflowingBlock() {
        le.putShort(DIRENTS + 8, (short) 4080);
        assertRejected(DIRENTS + 8, "first e_nameoff 4080 is invalid");
    }

    @Test
    void nameWithSlash() {
        image[LIB_NAME] = '/';
        assertRejected(LIB_DIRENT, "contains a '/' or NUL byte");
    }

    @Test
    void namesOutOfOrder() {
        image[LIB_NAME] = 'z';
        assertRejected(DIRENTS + 36, "is not after 'zib.rs' in byte order");
    }

    @Test
    void dotPointingElsewhere() {
        le.putLong(DIRENTS, 133);
        assertRejected(DIRENTS, "entry '.' points to nid 133, expected 128");
    }

    @Test
    void direntTypeDiffersFromInode() {
        image[LIB_DIRENT + 10] = 2;
        assertRejected(LIB_DIRENT + 10, "has e_file_type 2 but its inode nid 133 is a REGULAR");
    }

    @Test
    void absurdFileSize() {
        le.putLong(LIB + 8, 1L << 62);
        assertRejected(LIB_CHUNK, "chunk entries, more than the bootstrap can hold");
    }

    @Test
    void fileSizeDisagreesWithChunk() {
        le.putLong(LIB + 8, 16930);
        assertRejected(LIB_CHUNK, "holds 16931 bytes, the file needs 16930");
    }

    @Test
    void compressedLayoutRejected() {
        le.putShort(LIB, (short) 0x3);
        assertRejected(LIB, "EROFS compressed) is not supported");
    }

    @Test
    void uidOfNoIdRejected() {
        le.putInt(LIB + 24, -1);
        assertRejected(LIB, "uid 4294967295");
    }

    @Test
    void missingChunkTableEntry() {
        le.putShort(LIB_CHUNK, (short) 7);
        assertRejected(LIB_CHUNK, "blob 0 CI index 7 has no entry in the chunk info table");
    }

    @Test
    void zeroDeviceId() {
        image[LIB_CHUNK + 2] = 0;
        assertRejected(LIB_CHUNK + 2, "device id 0 (blob index + 1) is invalid");
    }

    @Test
    void blockAddressDisagreesWithChunkTable() {
        le.putInt(LIB_CHUNK + 4, 3);
        assertRejected(LIB_CHUNK + 4, "differs from the chunk table's uncompressed offset 0");
    }

    @Test
    void chunkTableBlobIndexOutOfRange() {
        le.putInt(CHUNK_TABLE + 32, 5);
        assertRejected(CHUNK_TABLE + 32, "field blob_index at offset");
    }

    @Test
    void inlineTailCrossingBlock() {
        le.putLong(ROOT + 8, 4050);
        assertRejected(DIRENTS, "inline tail of 4050 bytes crosses a block boundary");
    }

    @Test
    void unknownSuperBlockFlags() {
        le.putLong(1152, le.getLong(1152) | 0x800);
        assertRejected(-1, "have unknown bits 0x800");
    }

    @Test
    void wrongMagic() {
        le.putInt(1024, 0);
        assertRejected(1024, "magic 0x00000000, expected 0xe0f5e1e2");
    }

    @Test
    void sharedXattrAreaRejected() {
        le.putInt(1024 + 44, 3);
        assertRejected(1024 + 44, "shared xattrs are not supported");
    }

    @Test
    void fileTooSmall() {
        assertRejected(Arrays.copyOf(image, 100), 0, "the file has 100 bytes");
    }

    @Test
    void fileCutInsideChunkTable() {
        assertRejected(Arrays.copyOf(image, 16384), 1184, "s_chunk_table_size");
    }

    @Test
    void fileCutMidBlock() {
        assertRejected(Arrays.copyOf(image, 10000), 0, "is not a multiple of the block size");
    }

    @Test
    void blobWithoutAlignedFeature() {
        le.putInt(BLOB_ENTRY + 84, 0x7000_0020);
        assertRejected(BLOB_ENTRY + 84, "ALIGNED (0x1) must be set");
    }

    @Test
    void encryptedBlobRejected() {
        le.putInt(BLOB_ENTRY + 216, 1);
        assertRejected(BLOB_ENTRY + 216, "encrypted blobs are not supported");
    }

    @Test
    void unknownRafsVersionRejected() {
        le.putInt(0, 0x52414653);
        le.putInt(4, 0x400);
        assertRejected(0, "unknown version 0x400");
    }

    @Test
    void subdirectoryEntryPointingToItself() throws IOException {
        byte[] written = BootstrapWriter.write(SampleTrees.everything());
        DecodedBootstrap decoded = BootstrapReader.decode("written", ByteBuffer.wrap(written));
        Node er = decoded.bootstrap().root().child(bytes("deep")).child(bytes("er"));
        long erNid = decoded.nid(er);
        long estNid = decoded.nid(er.child(bytes("est")));
        int at = findLong(written, decoded.inode(er).tailOffset(), estNid);
        ByteBuffer.wrap(written).order(ByteOrder.LITTLE_ENDIAN).putLong(at, erNid);
        assertRejected(written, at, "points to directory nid " + erNid
                + ", which is already /deep/er (a cycle or a directory hardlink)");
    }

    @Test
    void symlinkTargetWithNul() throws IOException {
        byte[] written = BootstrapWriter.write(SampleTrees.everything());
        DecodedBootstrap decoded = BootstrapReader.decode("written", ByteBuffer.wrap(written));
        Node link = decoded.bootstrap().root().child(bytes("links")).child(bytes("short"));
        int target = (int) decoded.inode(link).tailOffset();
        written[target + 2] = 0;
        assertRejected(written, -1, "the target contains a NUL byte at index 2");
    }

    @Test
    void prefetchNidNotInTree() throws IOException {
        byte[] data = Files.readAllBytes(
                UpstreamFixtures.extractBootstrap(UpstreamFixtures.SNAPSHOTTER_V6, dir));
        ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN).putInt(4352, 143);
        assertRejected(data, 4352, "nid 143 is not an inode of the tree");
    }

    /** Returns the offset of the first dirent from {@code start} whose nid is {@code nid}. */
    private static int findLong(byte[] data, long start, long nid) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        for (int at = (int) start; at + 8 <= data.length; at += 12) {
            if (b.getLong(at) == nid) {
                return at;
            }
        }
        throw new AssertionError("no dirent for nid " + nid);
    }
}
