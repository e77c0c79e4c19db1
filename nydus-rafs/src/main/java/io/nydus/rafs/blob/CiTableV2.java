package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.v6.BlobFeatures;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * An uncompressed version 2 CI table: the 24-byte entries and, for a ZRAN blob, the inflate
 * context table and its dictionaries, which follow the entries in that order.
 *
 * @param entries one per chunk, in chunk index order
 * @param contexts the ZRAN contexts, empty for other blobs
 */
public record CiTableV2(List<CiEntryV2> entries, List<ZranContext> contexts) {
    /**
     * The largest output of one context that a reader accepts. Upstream's generator ends a
     * context at about 2 MiB of output plus one chunk of at most 16 MiB, so this bound is
     * well above real images. It stops a corrupt table from making a reader allocate more
     * than a few of these at once, which fits a daemon's heap.
     */
    public static final long MAX_OUT_LENGTH = 64L << 20;
    /**
     * The maximum compressed bytes of one context that a reader fetches and keeps in memory.
     * Generators end a context after a few MiB of input plus one chunk of at most 16 MiB, so a
     * larger {@code in_len} is corrupt, and a reader would allocate the whole range for it.
     */
    public static final long MAX_IN_LENGTH = 64L << 20;

    public CiTableV2 {
        entries = List.copyOf(entries);
        contexts = List.copyOf(contexts);
    }

    /** Returns the size of the context table and dictionaries ({@code s_ci_zran_size}). */
    public long zranSize() {
        long size = (long) contexts.size() * ZranContext.SIZE;
        for (ZranContext context : contexts) {
            size += context.dictionarySize();
        }
        return size;
    }

    /** Returns the table's bytes: entries, then contexts, then dictionaries. */
    public byte[] encode() {
        long size = (long) entries.size() * CiEntryV2.SIZE + zranSize();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("CI table of " + size + " bytes is too large");
        }
        ByteBuffer b = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
        byte[] array = b.array();
        for (int i = 0; i < entries.size(); i++) {
            entries.get(i).encode(array, i * CiEntryV2.SIZE);
        }
        int at = entries.size() * CiEntryV2.SIZE;
        int dictionaries = at + contexts.size() * ZranContext.SIZE;
        long dictOffset = 0;
        for (ZranContext c : contexts) {
            b.putLong(at, c.inOffset()).putLong(at + 8, c.outOffset()).putLong(at + 16, dictOffset)
                    .putInt(at + 24, c.inLength()).putInt(at + 28, c.outLength())
                    .putInt(at + 32, c.dictionarySize()).put(at + 36, (byte) c.ctxByte())
                    .put(at + 37, (byte) c.ctxBits());
            System.arraycopy(c.dictionaryView(), 0, array, dictionaries + (int) dictOffset,
                    c.dictionarySize());
            dictOffset += c.dictionarySize();
            at += ZranContext.SIZE;
        }
        return array;
    }

    /**
     * Decodes a table and checks it: the header's ZRAN fields must frame the context table,
     * each dictionary must lie inside the table, each context inside the {@code dataSize}
     * bytes of the gzip stream, and each ZRAN entry inside its context.
     *
     * @param dataSize the size of the compressed data, or -1 when unknown
     * @param source names the table in messages
     * @throws RafsFormatException naming the entry or context and the field that is wrong
     */
    public static CiTableV2 decode(byte[] table, CiHeader header, long dataSize, String source)
            throws RafsFormatException {
        long count = header.entries() & 0xFFFF_FFFFL;
        if (count * CiEntryV2.SIZE > table.length) {
            throw new RafsFormatException(source + ": CI header field s_ci_entries " + count
                    + " needs " + count * CiEntryV2.SIZE + " bytes, the table has "
                    + table.length);
        }
        List<CiEntryV2> entries = new ArrayList<>((int) count);
        for (int i = 0; i < count; i++) {
            entries.add(CiEntryV2.decode(table, i * CiEntryV2.SIZE, source + ": CI entry " + i));
        }
        List<ZranContext> contexts = hasContexts(header)
                ? decodeContexts(table, header, dataSize, source) : List.of();
        checkEntries(entries, contexts, hasContexts(header), source);
        return new CiTableV2(entries, contexts);
    }

    private static boolean hasContexts(CiHeader header) {
        return (header.features() & BlobFeatures.ZRAN) != 0;
    }

    private static List<ZranContext> decodeContexts(byte[] table, CiHeader header,
            long dataSize, String source) throws RafsFormatException {
        long entriesEnd = (header.entries() & 0xFFFF_FFFFL) * CiEntryV2.SIZE;
        long count = header.zranCount() & 0xFFFF_FFFFL;
        long offset = header.zranOffset();
        long size = header.zranSize();
        if (offset != entriesEnd) {
            throw headerField(source, "s_ci_zran_offset", offset, "expected " + entriesEnd
                    + ", right after the CI entries");
        }
        if (size < count * ZranContext.SIZE || size > table.length - offset) {
            throw headerField(source, "s_ci_zran_size", size, "does not fit " + count
                    + " contexts of 40 bytes in the " + (table.length - offset)
                    + " bytes after the CI entries");
        }
        long dictStart = offset + count * ZranContext.SIZE;
        long dictArea = offset + size - dictStart;
        ByteBuffer b = ByteBuffer.wrap(table).order(ByteOrder.LITTLE_ENDIAN);
        List<ZranContext> contexts = new ArrayList<>((int) count);
        for (int i = 0; i < count; i++) {
            int at = (int) (offset + (long) i * ZranContext.SIZE);
            contexts.add(decodeContext(b, at, i, dictStart, dictArea, dataSize, source));
        }
        return contexts;
    }

    private static ZranContext decodeContext(ByteBuffer b, int at, int index, long dictStart,
            long dictArea, long dataSize, String source) throws RafsFormatException {
        long inOffset = b.getLong(at);
        long outOffset = b.getLong(at + 8);
        long dictOffset = b.getLong(at + 16);
        long inLength = b.getInt(at + 24) & 0xFFFF_FFFFL;
        long outLength = b.getInt(at + 28) & 0xFFFF_FFFFL;
        long dictSize = b.getInt(at + 32) & 0xFFFF_FFFFL;
        int ctxByte = b.get(at + 36) & 0xFF;
        int ctxBits = b.get(at + 37) & 0xFF;
        String where = source + ": ZRAN context " + index + " at table offset " + at;
        if (ctxBits > 7) {
            throw field(where, "ctx_bits", ctxBits, "is above 7");
        }
        if (dictSize > ZranContext.MAX_DICTIONARY) {
            throw field(where, "dict_size", dictSize, "is larger than 32 KiB");
        }
        if (dictOffset < 0 || dictOffset > dictArea || dictSize > dictArea - dictOffset) {
            throw field(where, "dict_offset", dictOffset, "with dict_size " + dictSize
                    + " runs past the " + dictArea + " bytes of dictionaries");
        }
        if (inOffset < 0 || inLength > Integer.MAX_VALUE || (dataSize >= 0
                && (inOffset > dataSize || inLength > dataSize - inOffset))) {
            throw field(where, "in_offset", inOffset, "with in_len " + inLength
                    + " leaves the " + dataSize + " bytes of compressed data");
        }
        if (inLength > MAX_IN_LENGTH) {
            throw field(where, "in_len", inLength, "is larger than the limit of "
                    + MAX_IN_LENGTH + " compressed bytes that a reader fetches for one context");
        }
        if (outOffset < 0) {
            throw field(where, "out_offset", outOffset, "is out of range");
        }
        if (outLength > MAX_OUT_LENGTH) {
            throw field(where, "out_len", outLength, "is larger than the limit of "
                    + MAX_OUT_LENGTH + " bytes that a reader inflates for one context");
        }
        byte[] dict = new byte[(int) dictSize];
        b.get((int) (dictStart + dictOffset), dict);
        return new ZranContext(inOffset, outOffset, (int) inLength, (int) outLength, ctxByte,
                ctxBits, dict);
    }

    private static void checkEntries(List<CiEntryV2> entries, List<ZranContext> contexts,
            boolean zran, String source) throws RafsFormatException {
        long uncompressedEnd = 0;
        for (int i = 0; i < entries.size(); i++) {
            CiEntryV2 e = entries.get(i);
            String where = source + ": CI entry " + i;
            if (e.uncompressedOffset() < uncompressedEnd) {
                throw new RafsFormatException(where + ": uncompressed offset "
                        + e.uncompressedOffset() + " overlaps the previous chunk, which ends at "
                        + uncompressedEnd);
            }
            uncompressedEnd = e.uncompressedOffset() + e.uncompressedSize();
            if (zran != e.zran()) {
                throw new RafsFormatException(where + ": ZRAN flag " + e.zran()
                        + " differs from the blob's ZRAN feature " + zran);
            }
            if (zran) {
                checkZranEntry(e, contexts, where);
            }
        }
    }

    private static void checkZranEntry(CiEntryV2 e, List<ZranContext> contexts, String where)
            throws RafsFormatException {
        if (e.zranIndex() < 0 || e.zranIndex() >= contexts.size()) {
            throw new RafsFormatException(where + ": ZRAN context index "
                    + Integer.toUnsignedString(e.zranIndex()) + " is outside the "
                    + contexts.size() + " contexts");
        }
        ZranContext c = contexts.get(e.zranIndex());
        if (e.zranOffset() + e.uncompressedSize() > c.outLength()) {
            throw new RafsFormatException(where + ": ZRAN offset " + e.zranOffset() + " + size "
                    + e.uncompressedSize() + " leaves the " + c.outLength()
                    + " inflated bytes of context " + e.zranIndex());
        }
        long inEnd = c.inOffset() + c.inLength();
        if (e.compressedOffset() < c.inOffset()
                || e.compressedOffset() + e.compressedSize() > inEnd) {
            throw new RafsFormatException(where + ": compressed range " + e.compressedOffset()
                    + "+" + e.compressedSize() + " leaves context " + e.zranIndex() + " ("
                    + c.inOffset() + ".." + inEnd + ")");
        }
    }

    private static RafsFormatException headerField(String source, String name, long value,
            String problem) {
        return new RafsFormatException(source + ": CI header field " + name + " "
                + Long.toUnsignedString(value) + " " + problem);
    }

    private static RafsFormatException field(String where, String name, long value,
            String problem) {
        return new RafsFormatException(where + ": field " + name + " "
                + Long.toUnsignedString(value) + " " + problem);
    }
}
