package io.nydus.builder.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.BootstrapWriter;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.DeviceSlot;
import io.nydus.rafs.v6.RafsFlags;
import io.nydus.rafs.v6.SuperBlockInfo;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Rebuilds the two-file tree of upstream's {@code rafs-v6-2.2.boot} and compares our bootstrap
 * with the fixture byte by byte. Every byte must be equal except in the fields that
 * {@link #allowedFields} lists, each with the reason it differs; the other tests check that each
 * listed field differs only in the way its reason explains.
 */
class UpstreamBootstrapTest {
    /** Field offsets: absolute for the superblock flags, else relative to their structure. */
    private static final int EXT_SUPER_FLAGS = 1152;
    private static final int DEVICE_SLOT_SIZE = 128;
    private static final int DEVICE_MAPPED_BLKADDR = 68;
    private static final int BLOB_ID_SIZE = 64;
    private static final int BLOB_COMPRESSED_SIZE = 88;
    private static final int BLOB_CI_OFFSET = 112;
    private static final int BLOB_TOC_DIGEST = 136;
    private static final int INODE_INO = 20;
    private static final int CHUNK_INFO_SIZE = 80;
    private static final int CHUNK_FLAGS = 36;
    private static final int CHUNK_COMPRESSED_SIZE = 40;
    private static final int CHUNK_COMPRESSED_OFFSET = 48;
    private static final int CHUNK_CRC32 = 76;
    /** Current builders place each blob of a flattened block device on a 512 KiB boundary. */
    private static final long DEVICE_ALIGNMENT = 512 << 10;
    private static final int BLOCK_SIZE = 4096;

    private static TempDir dir;
    private static FixtureRebuild rebuild;
    private static byte[] fixtureBytes;
    private static byte[] ourBytes;

    /** A byte range of the bootstrap that may differ from the fixture, and why. */
    record AllowedField(String field, long offset, int length, String reason) {
        boolean contains(long position) {
            return position >= offset && position < offset + length;
        }
    }

    @BeforeAll
    static void rebuild() throws IOException {
        dir = TempDirs.create("upstream-bootstrap-");
        rebuild = FixtureRebuild.run(dir.path());
        fixtureBytes = Files.readAllBytes(rebuild.fixtureBootstrap());
        ourBytes = Files.readAllBytes(rebuild.result().bootstrapFile());
    }

    @AfterAll
    static void removeTempDir() throws IOException {
        if (dir != null) {
            dir.close();
        }
    }

    /**
     * Returns the fields in which a rebuild of {@code fixture} may differ from it. Offsets come
     * from the fixture's own superblock, so the list follows its layout.
     */
    static List<AllowedField> allowedFields(DecodedBootstrap fixture) {
        SuperBlockInfo sb = fixture.superBlock();
        List<AllowedField> fields = new ArrayList<>();
        fields.add(new AllowedField("extended superblock s_flags, bits 24..31",
                EXT_SUPER_FLAGS + 3, 1,
                "current builders set ENCRYPTION_NONE (0x0100_0000); the 2.2 builder did not"));

        long slot = (long) sb.deviceSlotOffset() * DEVICE_SLOT_SIZE;
        fields.add(new AllowedField("device slot 0 blob id", slot, BLOB_ID_SIZE,
                "the blob id is a SHA-256 of the blob, whose compressed chunks differ"));
        fields.add(new AllowedField("device slot 0 mapped_blkaddr", slot + DEVICE_MAPPED_BLKADDR,
                4, "the 2.2 builder aligned blobs to 2 MiB (block 512), current ones to 512 KiB"));

        long blob = sb.blobTableOffset();
        fields.add(new AllowedField("blob table entry 0 blob id", blob, BLOB_ID_SIZE,
                "the blob id is a SHA-256 of the blob, whose compressed chunks differ"));
        fields.add(new AllowedField("blob table entry 0 compressed_size",
                blob + BLOB_COMPRESSED_SIZE, 8, "zstd-jni's libzstd 1.5.7 compresses the two"
                + " chunks to 3 bytes fewer than the libzstd of the 2.2 builder"));
        fields.add(new AllowedField("blob table entry 0 ci_offset", blob + BLOB_CI_OFFSET, 8,
                "the CI table follows the chunk data, whose size differs"));
        fields.add(new AllowedField("blob table entry 0 blob_toc_digest",
                blob + BLOB_TOC_DIGEST, 32,
                "the ToC records section offsets and digests, which follow the chunk data"));

        fields.add(new AllowedField("root inode i_ino",
                sb.inodeOffset(sb.rootNid()) + INODE_INO, 4,
                "the 2.2 builder numbered the root 0, current builders number it 1"));

        for (int i = 0; i < sb.chunkTableEntries(); i++) {
            long entry = sb.chunkTableOffset() + (long) i * CHUNK_INFO_SIZE;
            fields.add(new AllowedField("chunk table entry " + i + " flags", entry + CHUNK_FLAGS,
                    4, "current builders set HAS_CRC32 (0x10); the 2.2 builder had no CRC"));
            fields.add(new AllowedField("chunk table entry " + i + " compressed_size",
                    entry + CHUNK_COMPRESSED_SIZE, 4, "libzstd version, see compressed_size"));
            fields.add(new AllowedField("chunk table entry " + i + " compressed_offset",
                    entry + CHUNK_COMPRESSED_OFFSET, 8, "follows the compressed sizes before it"));
            fields.add(new AllowedField("chunk table entry " + i + " crc32",
                    entry + CHUNK_CRC32, 4, "CRC-32C of the chunk; 0 in the 2.2 builder's images"));
        }
        return fields;
    }

    @Test
    void bootstrapSizeMatches() {
        assertEquals(fixtureBytes.length, ourBytes.length);
    }

    @Test
    void bytesDifferOnlyInAllowedFields() {
        List<String> unexpected = unexpectedDifferences(fixtureBytes, ourBytes,
                allowedFields(rebuild.fixture()));
        assertTrue(unexpected.isEmpty(), "bytes that differ outside the allowed fields:\n"
                + String.join("\n", unexpected));
    }

    @Test
    void flagsGainOnlyEncryptionNone() {
        long fixtureFlags = rebuild.fixture().superBlock().flags();
        long ourFlags = rebuild.rebuilt().superBlock().flags();
        assertEquals(0, fixtureFlags & RafsFlags.ENCRYPTION_NONE);
        assertEquals(fixtureFlags | RafsFlags.ENCRYPTION_NONE, ourFlags);
    }

    @Test
    void rootInodeNumberIsOne() {
        assertEquals(0, rebuild.fixture().inode(rebuild.fixture().bootstrap().root()).ino());
        assertEquals(1, rebuild.rebuilt().inode(rebuild.rebuilt().bootstrap().root()).ino());
    }

    @Test
    void deviceIsMappedAfterBootstrap() {
        DeviceSlot fixtureSlot = rebuild.fixture().devices().getFirst();
        DeviceSlot ourSlot = rebuild.rebuilt().devices().getFirst();
        assertEquals(512, fixtureSlot.mappedBlockAddress());
        long firstFree = (ourBytes.length + DEVICE_ALIGNMENT - 1) / DEVICE_ALIGNMENT
                * DEVICE_ALIGNMENT / BLOCK_SIZE;
        assertEquals(firstFree, ourSlot.mappedBlockAddress());
        assertEquals(fixtureSlot.blocks(), ourSlot.blocks());
    }

    @Test
    void deviceSlotNamesRebuiltBlob() throws IOException {
        BlobInfo blob = rebuild.result().blob();
        assertEquals(blob.blobId(), rebuild.rebuilt().devices().getFirst().blobId());
        assertEquals(blob.blobId(), rebuild.result().blobFile().getFileName().toString());
    }

    @Test
    void blobEntryDescribesRebuiltBlob() throws IOException {
        BlobInfo ours = rebuild.rebuilt().bootstrap().blobs().getFirst();
        BlobInfo fixture = rebuild.fixture().bootstrap().blobs().getFirst();
        long ourDataSize = chunkDataSize(rebuild.rebuilt());
        long fixtureDataSize = chunkDataSize(rebuild.fixture());
        assertEquals(Files.size(rebuild.result().blobFile()), ours.compressedSize());
        assertEquals(Files.size(rebuild.fixtureBlob()), fixture.compressedSize());
        assertEquals(fixture.ciOffset() + ourDataSize - fixtureDataSize, ours.ciOffset());
    }

    @Test
    void chunkTableKeepsDigestsAndPlacement() {
        List<Chunk> fixture = rebuild.fixture().chunkTable();
        List<Chunk> ours = rebuild.rebuilt().chunkTable();
        assertEquals(fixture.size(), ours.size());
        for (int i = 0; i < fixture.size(); i++) {
            Chunk f = fixture.get(i);
            Chunk o = ours.get(i);
            assertEquals(f.digest(), o.digest(), "digest of entry " + i);
            assertEquals(f.index(), o.index(), "CI index of entry " + i);
            assertEquals(f.uncompressedOffset(), o.uncompressedOffset(), "entry " + i);
            assertEquals(f.uncompressedSize(), o.uncompressedSize(), "entry " + i);
            assertFalse(f.hasCrc32(), "fixture entry " + i + " has a CRC");
            assertTrue(o.hasCrc32(), "rebuilt entry " + i + " has no CRC");
        }
    }

    @Test
    void chunkCrcCoversChunkData() throws IOException {
        BlobInfo blob = rebuild.rebuilt().bootstrap().blobs().getFirst();
        try (FileChannel channel = FileChannel.open(rebuild.result().blobFile(),
                StandardOpenOption.READ)) {
            for (Chunk chunk : rebuild.rebuilt().chunkTable()) {
                byte[] data = UpstreamFixtures.readChunk(channel, blob, chunk);
                CRC32C crc = new CRC32C();
                crc.update(data);
                assertEquals((int) crc.getValue(), chunk.crc32(), "CRC of chunk "
                        + chunk.index());
            }
        }
    }

    @Test
    void compressedSizesFollowOurBlob() {
        List<Chunk> ours = rebuild.rebuilt().chunkTable();
        for (Chunk chunk : ours) {
            long next = ours.stream().filter(c -> c.index() == chunk.index() + 1)
                    .mapToLong(Chunk::compressedOffset).findFirst()
                    .orElse(chunkDataSize(rebuild.rebuilt()));
            assertEquals(next - chunk.compressedOffset(), chunk.compressedSize(),
                    "chunk " + chunk.index() + " is not followed by the next one");
        }
    }

    /**
     * Writing the decoded fixture again must reproduce it except in the fields where current
     * builders differ from the 2.2 builder whatever the data.
     */
    @Test
    void writerRoundTripKeepsFixture() throws IOException {
        byte[] written = BootstrapWriter.write(BootstrapReader.read(rebuild.fixtureBootstrap()));
        List<AllowedField> allowed = allowedFields(rebuild.fixture()).stream()
                .filter(f -> f.field().startsWith("extended superblock")
                        || f.field().endsWith("mapped_blkaddr")
                        || f.field().equals("root inode i_ino"))
                .toList();
        assertEquals(3, allowed.size());
        assertEquals(fixtureBytes.length, written.length);
        List<String> unexpected = unexpectedDifferences(fixtureBytes, written, allowed);
        assertTrue(unexpected.isEmpty(), "bytes that differ outside the allowed fields:\n"
                + String.join("\n", unexpected));
    }

    @Test
    void recoveredFilesHaveFixtureSizes() throws IOException {
        assertEquals(16931, Files.size(rebuild.source().resolve("lib.rs")));
        assertEquals(13400, Files.size(rebuild.source().resolve("sync_io.rs")));
    }

    @Test
    void unchangedFieldsStayEqual() {
        SuperBlockInfo f = rebuild.fixture().superBlock();
        SuperBlockInfo o = rebuild.rebuilt().superBlock();
        assertEquals(f.rootNid(), o.rootNid());
        assertEquals(f.inodeCount(), o.inodeCount());
        assertEquals(f.blocks(), o.blocks());
        assertEquals(f.metaBlockAddress(), o.metaBlockAddress());
        assertEquals(f.chunkTableOffset(), o.chunkTableOffset());
        assertEquals(f.chunkTableSize(), o.chunkTableSize());
    }

    private static long chunkDataSize(DecodedBootstrap bootstrap) {
        return bootstrap.chunkTable().stream()
                .mapToLong(c -> c.compressedOffset() + c.compressedSize()).max().orElse(0);
    }

    /** Returns one line per run of differing bytes that no allowed field covers. */
    static List<String> unexpectedDifferences(byte[] expected, byte[] actual,
            List<AllowedField> allowed) {
        List<String> lines = new ArrayList<>();
        int length = Math.min(expected.length, actual.length);
        int start = -1;
        for (int i = 0; i <= length; i++) {
            boolean differs = i < length && expected[i] != actual[i] && !isAllowed(allowed, i);
            if (differs && start < 0) {
                start = i;
            } else if (!differs && start >= 0) {
                lines.add(String.format("[0x%x, 0x%x): fixture %s, ours %s", start, i,
                        hex(expected, start, i), hex(actual, start, i)));
                start = -1;
            }
        }
        return lines;
    }

    private static boolean isAllowed(List<AllowedField> allowed, long position) {
        return allowed.stream().anyMatch(f -> f.contains(position));
    }

    private static String hex(byte[] data, int from, int to) {
        return HexFormat.of().formatHex(data, from, Math.min(to, from + 32));
    }

    @Test
    void comparisonFindsChangedByte() {
        byte[] changed = fixtureBytes.clone();
        long rootInode = rebuild.fixture().superBlock().inodeOffset(
                rebuild.fixture().superBlock().rootNid());
        // The root's i_size is outside every allowed field.
        changed[(int) rootInode + 8] ^= 1;
        List<String> found = unexpectedDifferences(fixtureBytes, changed,
                allowedFields(rebuild.fixture()));
        assertEquals(1, found.size());
    }

}
