package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks a CI header against where the CI table was found, and decodes version 1 CI tables
 * and version 2 tables of ZRAN blobs.
 */
final class CiTables {
    private static final int MAX_ENTRIES = (1 << 24) - 1;

    private CiTables() {
    }

    /**
     * Checks that the header describes the CI section it follows and, when given, agrees with
     * the blob table entry: entry count, offset, sizes and compressor.
     */
    static void checkHeader(BlobFile file, long at, CiHeader header, BlobSection ci,
            BlobInfo info, long dataSize) throws RafsFormatException {
        int features = header.features() | (info == null ? 0 : info.features());
        boolean v2 = (features & BlobFeatures.CHUNK_INFO_V2) != 0;
        if ((features & (BlobFeatures.BATCH | BlobFeatures.ENCRYPTED)) != 0) {
            // TODO: decode batch contexts and decrypt CI tables of encrypted blobs.
            throw file.error("CI header", at, "batch or encrypted blobs (features 0x"
                    + Integer.toHexString(features) + ") are not supported");
        }
        if (v2 && (features & BlobFeatures.ZRAN) == 0) {
            throw file.error("CI header", at, "version 2 CI entries without ZRAN (features 0x"
                    + Integer.toHexString(features) + ") are not supported");
        }
        long entries = header.entries() & 0xFFFF_FFFFL;
        if (entries > MAX_ENTRIES || (!v2 && entries > dataSize)) {
            throw file.error("CI header", at + 12, "s_ci_entries " + entries + " is invalid"
                    + " for " + dataSize + " bytes of chunk data");
        }
        expect(file, at + 16, "s_ci_offset", header.ciOffset(), ci.offset(),
                "the CI table's offset");
        expect(file, at + 24, "s_ci_compressed_size", header.ciCompressedSize(),
                ci.storedSize(), "the stored CI table's size");
        if (v2) {
            expect(file, at + 32, "s_ci_uncompressed_size", header.ciUncompressedSize(),
                    entries * CiEntryV2.SIZE + header.zranSize(), "24 bytes for each of "
                    + entries + " entries and " + header.zranSize() + " bytes of ZRAN contexts");
        } else {
            expect(file, at + 32, "s_ci_uncompressed_size", header.ciUncompressedSize(),
                    entries * CiEntry.SIZE, "16 bytes for each of " + entries + " entries");
        }
        expect(file, at + 32, "s_ci_uncompressed_size", header.ciUncompressedSize(), ci.size(),
                "the section's uncompressed size");
        if (header.ciCompressor() != ci.compression()) {
            throw file.error("CI header", at + 8, "s_ci_compressor " + header.ciCompressor()
                    + " differs from the section's compression " + ci.compression());
        }
        if (info != null) {
            checkAgainstInfo(file, at, header, info);
        }
    }

    private static void checkAgainstInfo(BlobFile file, long at, CiHeader header, BlobInfo info)
            throws RafsFormatException {
        String table = "the blob table's ";
        expect(file, at + 12, "s_ci_entries", header.entries() & 0xFFFF_FFFFL,
                info.chunkCount(), table + "chunk_count");
        expect(file, at + 16, "s_ci_offset", header.ciOffset(), info.ciOffset(),
                table + "ci_offset");
        expect(file, at + 24, "s_ci_compressed_size", header.ciCompressedSize(),
                info.ciCompressedSize(), table + "ci_compressed_size");
        expect(file, at + 32, "s_ci_uncompressed_size", header.ciUncompressedSize(),
                info.ciUncompressedSize(), table + "ci_uncompressed_size");
        if (header.ciCompressor() != info.ciCompressor()) {
            throw file.error("CI header", at + 8, "s_ci_compressor " + header.ciCompressor()
                    + " differs from " + table + "ci_compressor " + info.ciCompressor());
        }
    }

    private static void expect(BlobFile file, long at, String field, long value, long expected,
            String what) throws RafsFormatException {
        if (value != expected) {
            throw file.error("CI header field " + field, at, "value "
                    + Long.toUnsignedString(value) + " differs from " + what + ", "
                    + expected);
        }
    }

    /**
     * Decodes version 1 CI entries and checks that they lie in the chunk data, in increasing
     * order without overlap, and inside the blob's uncompressed size when it is known.
     */
    static List<CiEntry> decodeEntries(BlobFile file, long ciOffset, byte[] table, long dataSize,
            BlobInfo info) throws RafsFormatException {
        int count = table.length / CiEntry.SIZE;
        List<CiEntry> entries = new ArrayList<>(count);
        long compressedEnd = 0;
        long uncompressedEnd = 0;
        for (int i = 0; i < count; i++) {
            String where = "CI entry " + i;
            CiEntry e = CiEntry.decode(table, i * CiEntry.SIZE,
                    "blob " + file.blobId() + ": " + where + " of the CI table at " + ciOffset);
            if (e.compressedOffset() < compressedEnd
                    || e.compressedOffset() + e.compressedSize() > dataSize) {
                throw file.error(where, ciOffset, "compressed range " + e.compressedOffset()
                        + "+" + e.compressedSize() + " overlaps the previous chunk (which ends"
                        + " at " + compressedEnd + ") or leaves the " + dataSize
                        + " bytes of chunk data");
            }
            if (e.uncompressedOffset() < uncompressedEnd || (info != null
                    && e.uncompressedOffset() + e.uncompressedSize() > info.uncompressedSize())) {
                throw file.error(where, ciOffset, "uncompressed range "
                        + e.uncompressedOffset() + "+" + e.uncompressedSize() + " overlaps the"
                        + " previous chunk (which ends at " + uncompressedEnd + ") or leaves"
                        + " the blob's uncompressed size");
            }
            compressedEnd = e.compressedOffset() + e.compressedSize();
            uncompressedEnd = e.uncompressedOffset() + e.uncompressedSize();
            entries.add(e);
        }
        return entries;
    }

    /**
     * Decodes a version 2 ZRAN table and checks it as {@link CiTableV2#decode} does, with the
     * places of contexts and chunks checked against the gzip stream {@code data}. Without
     * {@code data}, as when a ref blob is opened alone, those places are not checked.
     */
    static CiTableV2 decodeV2(BlobFile file, long ciOffset, byte[] table, CiHeader header,
            BlobFile data) throws RafsFormatException {
        String where = "blob " + file.blobId() + ": CI table at offset " + ciOffset;
        if (data == null) {
            return CiTableV2.decode(table, header, -1, where);
        }
        CiTableV2 decoded = CiTableV2.decode(table, header, data.size(), where
                + " for data blob " + data.blobId());
        for (int i = 0; i < decoded.entries().size(); i++) {
            CiEntryV2 e = decoded.entries().get(i);
            if (e.compressedOffset() + e.compressedSize() > data.size()) {
                throw file.error("CI entry " + i, ciOffset, "compressed range "
                        + e.compressedOffset() + "+" + e.compressedSize() + " leaves the "
                        + data.size() + " bytes of data blob " + data.blobId());
            }
        }
        return decoded;
    }
}
