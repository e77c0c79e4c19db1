package io.nydus.builder.compat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.blob.BlobMeta;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.blob.BlobSection;
import io.nydus.rafs.blob.CiEntry;
import io.nydus.rafs.blob.CiHeader;
import io.nydus.rafs.blob.TocEntry;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Compares the blob rebuilt from upstream's v6 fixture tree with the fixture blob, section by
 * section: chunk data, CI table and header, chunk digest array, ToC and the tar headers between
 * them. The chunk data differs because zstd-jni's libzstd 1.5.7 compresses a few bytes smaller
 * than the builder that made the fixture, and every offset after it moves with it.
 */
class UpstreamBlobTest {
    private static final int TAR_HEADER_SIZE = 512;
    /** The octal size field and the checksum field of a tar header. */
    private static final int TAR_SIZE_FIELD = 124;
    private static final int TAR_SIZE_LENGTH = 12;
    private static final int TAR_CHECKSUM_FIELD = 148;
    private static final int TAR_CHECKSUM_LENGTH = 8;
    private static final int CI_HEADER_OFFSET_FIELD = 16;

    private static TempDir dir;
    private static FixtureRebuild rebuild;
    private static BlobMeta fixture;
    private static BlobMeta ours;
    private static byte[] fixtureBlob;
    private static byte[] ourBlob;

    @BeforeAll
    static void rebuild() throws IOException {
        dir = TempDirs.create("upstream-blob-");
        rebuild = FixtureRebuild.run(dir.path());
        fixture = meta(rebuild.fixtureBlob(), rebuild.fixture().bootstrap().blobs().getFirst());
        ours = meta(rebuild.result().blobFile(), rebuild.result().blob());
        fixtureBlob = Files.readAllBytes(rebuild.fixtureBlob());
        ourBlob = Files.readAllBytes(rebuild.result().blobFile());
    }

    @AfterAll
    static void removeTempDir() throws IOException {
        if (dir != null) {
            dir.close();
        }
    }

    private static BlobMeta meta(Path blob, BlobInfo info) throws IOException {
        try (BlobReader reader = BlobReader.open(blob, info)) {
            return reader.meta();
        }
    }

    @Test
    void chunksDecompressToSameData() throws IOException {
        BlobInfo fixtureInfo = rebuild.fixture().bootstrap().blobs().getFirst();
        BlobInfo ourInfo = rebuild.result().blob();
        List<Chunk> fixtureChunks = rebuild.fixture().chunkTable();
        List<Chunk> ourChunks = rebuild.rebuilt().chunkTable();
        try (FileChannel f = FileChannel.open(rebuild.fixtureBlob(), StandardOpenOption.READ);
                FileChannel o = FileChannel.open(rebuild.result().blobFile(),
                        StandardOpenOption.READ)) {
            for (int i = 0; i < fixtureChunks.size(); i++) {
                assertArrayEquals(UpstreamFixtures.readChunk(f, fixtureInfo, fixtureChunks.get(i)),
                        UpstreamFixtures.readChunk(o, ourInfo, ourChunks.get(i)),
                        "chunk entry " + i);
            }
        }
    }

    @Test
    void ciEntriesKeepUncompressedPlacement() {
        assertEquals(fixture.ciEntries().size(), ours.ciEntries().size());
        long offset = 0;
        for (int i = 0; i < fixture.ciEntries().size(); i++) {
            CiEntry f = fixture.ciEntries().get(i);
            CiEntry o = ours.ciEntries().get(i);
            assertEquals(f.uncompressedOffset(), o.uncompressedOffset(), "CI entry " + i);
            assertEquals(f.uncompressedSize(), o.uncompressedSize(), "CI entry " + i);
            assertEquals(offset, o.compressedOffset(), "CI entry " + i + " is not packed");
            offset += o.compressedSize();
        }
        assertEquals(offset, ours.chunkDataSize());
    }

    @Test
    void ciHeaderDiffersOnlyInCiOffset() {
        CiHeader f = fixture.ciHeader().orElseThrow();
        CiHeader o = ours.ciHeader().orElseThrow();
        CiHeader expected = new CiHeader(f.features(), f.ciCompressor(), f.entries(),
                o.ciOffset(), f.ciCompressedSize(), f.ciUncompressedSize(), f.zranOffset(),
                f.zranSize(), f.zranCount());
        assertEquals(expected, o);
        assertEquals(f.ciOffset() + ours.chunkDataSize() - fixture.chunkDataSize(),
                o.ciOffset());
    }

    @Test
    void ciHeaderBytesMatchOutsideOffset() {
        byte[] f = section(fixtureBlob, fixture, TocEntry.BLOB_META_HEADER);
        byte[] o = section(ourBlob, ours, TocEntry.BLOB_META_HEADER);
        Arrays.fill(f, CI_HEADER_OFFSET_FIELD, CI_HEADER_OFFSET_FIELD + 8, (byte) 0);
        Arrays.fill(o, CI_HEADER_OFFSET_FIELD, CI_HEADER_OFFSET_FIELD + 8, (byte) 0);
        assertArrayEquals(f, o);
    }

    @Test
    void digestArrayIsIdentical() {
        assertArrayEquals(section(fixtureBlob, fixture, TocEntry.BLOB_DIGEST),
                section(ourBlob, ours, TocEntry.BLOB_DIGEST));
    }

    @Test
    void tocListsSameSections() {
        assertEquals(names(fixture.toc()), names(ours.toc()));
        for (int i = 0; i < fixture.toc().size(); i++) {
            TocEntry f = fixture.toc().get(i);
            TocEntry o = ours.toc().get(i);
            assertEquals(f.flags(), o.flags(), f.name() + " flags");
            assertEquals(f.uncompressedSize(), o.uncompressedSize(), f.name() + " size");
        }
    }

    @Test
    void tocDigestOfDigestArrayMatches() {
        assertEquals(tocEntry(fixture, TocEntry.BLOB_DIGEST).sha256(),
                tocEntry(ours, TocEntry.BLOB_DIGEST).sha256());
    }

    /** The 2.2 builder stored the chunk data size as its offset; current builders store 0. */
    @Test
    void tocChunkDataOffset() {
        assertEquals(fixture.chunkDataSize(),
                tocEntry(fixture, TocEntry.IMAGE_BLOB).compressedOffset());
        assertEquals(0, tocEntry(ours, TocEntry.IMAGE_BLOB).compressedOffset());
    }

    @Test
    void tocOffsetsFollowSections() {
        for (TocEntry entry : ours.toc()) {
            if (!entry.name().equals(TocEntry.IMAGE_BLOB)) {
                assertEquals(ours.section(entry.name()).orElseThrow().offset(),
                        entry.compressedOffset(), entry.name());
            }
        }
    }

    @Test
    void tarHeadersOfEqualSectionsMatch() {
        assertArrayEquals(tarHeaderAfter(fixtureBlob, fixture, TocEntry.BLOB_META_HEADER),
                tarHeaderAfter(ourBlob, ours, TocEntry.BLOB_META_HEADER));
        assertArrayEquals(tarHeaderAfter(fixtureBlob, fixture, TocEntry.BLOB_DIGEST),
                tarHeaderAfter(ourBlob, ours, TocEntry.BLOB_DIGEST));
        assertArrayEquals(Arrays.copyOfRange(fixtureBlob, fixtureBlob.length - TAR_HEADER_SIZE,
                fixtureBlob.length), Arrays.copyOfRange(ourBlob,
                ourBlob.length - TAR_HEADER_SIZE, ourBlob.length));
    }

    @Test
    void chunkDataTarHeaderDiffersInSize() {
        byte[] f = tarHeaderAfter(fixtureBlob, fixture, TocEntry.IMAGE_BLOB);
        byte[] o = tarHeaderAfter(ourBlob, ours, TocEntry.IMAGE_BLOB);
        for (byte[] header : List.of(f, o)) {
            Arrays.fill(header, TAR_SIZE_FIELD, TAR_SIZE_FIELD + TAR_SIZE_LENGTH, (byte) 0);
            Arrays.fill(header, TAR_CHECKSUM_FIELD, TAR_CHECKSUM_FIELD + TAR_CHECKSUM_LENGTH,
                    (byte) 0);
        }
        assertArrayEquals(f, o);
    }

    @Test
    void fixtureIdSkipsDigestArray() {
        assertEquals(UpstreamFixtures.V6_BLOB_ID, idWithoutDigestArray(fixtureBlob, fixture));
    }

    @Test
    void ourIdSkipsDigestArray() {
        assertEquals(rebuild.result().blob().blobId(), idWithoutDigestArray(ourBlob, ours));
    }

    @Test
    void blobSizeFollowsChunkData() {
        assertEquals(fixtureBlob.length + ours.chunkDataSize() - fixture.chunkDataSize(),
                ourBlob.length);
    }

    private static List<String> names(List<TocEntry> toc) {
        return toc.stream().map(TocEntry::name).toList();
    }

    private static TocEntry tocEntry(BlobMeta meta, String name) {
        return meta.toc().stream().filter(e -> e.name().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError(meta.blobId() + " has no ToC entry "
                        + name));
    }

    private static byte[] section(byte[] blob, BlobMeta meta, String name) {
        BlobSection s = meta.section(name).orElseThrow(() -> new AssertionError(meta.blobId()
                + " has no section " + name));
        return Arrays.copyOfRange(blob, (int) s.offset(), (int) (s.offset() + s.storedSize()));
    }

    private static byte[] tarHeaderAfter(byte[] blob, BlobMeta meta, String name) {
        BlobSection s = meta.section(name).orElseThrow();
        int start = (int) (s.offset() + s.storedSize());
        return Arrays.copyOfRange(blob, start, start + TAR_HEADER_SIZE);
    }

    /** Returns the SHA-256 of the blob without its digest array, as upstream names blobs. */
    private static String idWithoutDigestArray(byte[] blob, BlobMeta meta) {
        BlobSection digests = meta.section(TocEntry.BLOB_DIGEST).orElseThrow();
        MessageDigest sha = DigestAlgorithm.newSha256();
        sha.update(blob, 0, (int) digests.offset());
        int after = (int) (digests.offset() + digests.storedSize());
        sha.update(blob, after, blob.length - after);
        return HexFormat.of().formatHex(sha.digest());
    }

}
