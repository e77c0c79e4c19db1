package io.nydus.rafs.blob;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.UpstreamFixtures;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/** Decodes the version 2 CI table and ZRAN contexts of upstream's ZRAN blob.meta fixture. */
class CiTableV2Test {
    private static final String META = "nydus/zran/"
            + "233c72f2b6b698c07021c4da367cfe2dff4f049efbaa885ca0ff760ea297865a.blob.meta";
    private static final int CONTEXTS_AT = 163 * CiEntryV2.SIZE;

    private static BlobMetaFile fixture() throws IOException {
        byte[] bytes = Files.readAllBytes(UpstreamFixtures.root().resolve(META));
        return BlobMetaFile.decode(bytes, META);
    }

    private static CiTableV2 decode(BlobMetaFile file, long dataSize) throws IOException {
        return CiTableV2.decode(file.table(), file.header(), dataSize, "fixture");
    }

    @Test
    void fixtureHas163EntriesAnd21Contexts() throws IOException {
        BlobMetaFile file = fixture();
        CiTableV2 table = decode(file, -1);

        assertEquals(0xF, file.header().features());
        assertEquals(163, table.entries().size());
        assertEquals(21, table.contexts().size());
        assertEquals(CONTEXTS_AT, file.header().zranOffset());
        assertEquals(file.header().zranSize(), table.zranSize());
    }

    @Test
    void fixtureEntryZeroPointsIntoContextZero() throws IOException {
        CiTableV2 table = decode(fixture(), -1);
        CiEntryV2 first = table.entries().get(0);

        assertEquals(new CiEntryV2(184, 649, 0, 1404, 0x3, 0x400), first);
        assertTrue(first.zran());
        assertTrue(first.compressed());
        assertEquals(0, first.zranIndex());
        assertEquals(0x400, first.zranOffset());
        assertEquals(20, table.entries().get(162).zranIndex());
    }

    @Test
    void fixtureContextsCarryDictionariesAfterTheFirst() throws IOException {
        CiTableV2 table = decode(fixture(), -1);
        ZranContext first = table.contexts().get(0);
        ZranContext second = table.contexts().get(1);

        assertEquals(new ZranContext(10, 0, 200380, 1052790, 0, 0, new byte[0]), first);
        assertEquals(187761, second.inOffset());
        assertEquals(987149, second.outOffset());
        assertEquals(5, second.ctxBits());
        assertEquals(103, second.ctxByte());
        assertEquals(ZranContext.MAX_DICTIONARY, second.dictionarySize());
    }

    @Test
    void encodingTheDecodedFixtureGivesItsBytes() throws IOException {
        BlobMetaFile file = fixture();

        assertArrayEquals(file.table(), decode(file, -1).encode());
    }

    @Test
    void contextWithBitOffsetAboveSevenIsRejected() throws IOException {
        BlobMetaFile file = fixture();
        file.table()[CONTEXTS_AT + ZranContext.SIZE + 37] = 8;

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> decode(file, -1));
        assertTrue(e.getMessage().contains("ZRAN context 1"), e.getMessage());
        assertTrue(e.getMessage().contains("ctx_bits 8 is above 7"), e.getMessage());
    }

    @Test
    void dictionaryRunningPastTheTableIsRejected() throws IOException {
        BlobMetaFile file = fixture();
        ByteBuffer b = ByteBuffer.wrap(file.table()).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(CONTEXTS_AT + 20 * ZranContext.SIZE + 16, 20L * ZranContext.MAX_DICTIONARY);

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> decode(file, -1));
        assertTrue(e.getMessage().contains("ZRAN context 20"), e.getMessage());
        assertTrue(e.getMessage().contains("field dict_offset 655360"), e.getMessage());
        assertTrue(e.getMessage().contains("runs past"), e.getMessage());
    }

    @Test
    void contextOutsideTheGzipDataIsRejected() throws IOException {
        BlobMetaFile file = fixture();

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> decode(file, 9_819_291));
        assertTrue(e.getMessage().contains("ZRAN context 19"), e.getMessage());
        assertTrue(e.getMessage().contains("field in_offset 9170014"), e.getMessage());
    }

    @Test
    void contextLargerThanReadLimitIsRejected() throws IOException {
        assertContextFieldAboveLimitRejected(28, CiTableV2.MAX_OUT_LENGTH,
                "field out_len " + (CiTableV2.MAX_OUT_LENGTH + 1));
    }

    @Test
    void contextReadingMoreThanReadLimitIsRejected() throws IOException {
        assertContextFieldAboveLimitRejected(24, CiTableV2.MAX_IN_LENGTH,
                "field in_len " + (CiTableV2.MAX_IN_LENGTH + 1));
    }

    /** Sets a 32-bit field of context 3 to {@code limit + 1} in a 4 GiB gzip stream. */
    private static void assertContextFieldAboveLimitRejected(int field, long limit,
            String expected) throws IOException {
        BlobMetaFile file = fixture();
        ByteBuffer b = ByteBuffer.wrap(file.table()).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(CONTEXTS_AT + 3 * ZranContext.SIZE + field, (int) limit + 1);

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> decode(file, 4L << 30));
        assertTrue(e.getMessage().contains("ZRAN context 3"), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void entryNamingAMissingContextIsRejected() throws IOException {
        BlobMetaFile file = fixture();
        file.table()[5 * CiEntryV2.SIZE + 20] = 21;

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> decode(file, -1));
        assertTrue(e.getMessage().contains("CI entry 5: ZRAN context index 21 is outside"),
                e.getMessage());
    }

    @Test
    void misplacedZranTableIsRejected() throws IOException {
        BlobMetaFile file = fixture();
        CiHeader h = file.header();
        CiHeader moved = new CiHeader(h.features(), h.ciCompressor(), h.entries(), h.ciOffset(),
                h.ciCompressedSize(), h.ciUncompressedSize(), h.zranOffset() + 8, h.zranSize(),
                h.zranCount());

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> CiTableV2.decode(file.table(), moved, -1, "fixture"));
        assertTrue(e.getMessage().contains("s_ci_zran_offset 3920"), e.getMessage());
    }

    @Test
    void entryWithUnknownFlagIsRejected() throws IOException {
        BlobMetaFile file = fixture();
        file.table()[7] = (byte) 0x43;

        RafsFormatException e = assertThrows(RafsFormatException.class,
                () -> decode(file, -1));
        assertTrue(e.getMessage().contains("CI entry 0: flags 0x43 have unknown bits"),
                e.getMessage());
    }
}
