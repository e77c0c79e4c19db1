package io.nydus.rafs.blob;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Finds the sections of a data blob. Sections are parsed from the end: the blob's last 512 bytes
 * are a tar header named {@code rafs.blob.toc} when it has a ToC; otherwise each section is
 * followed by a tar header that gives its name and size; blobs of the oldest style have no tar
 * headers and only the blob table entry's {@code ci_offset}, or the CI header in the last 4096
 * bytes, locates their CI table.
 */
final class SectionLocator {
    /** The largest ToC accepted, as upstream's Go converter limits it. */
    static final long MAX_TOC_SIZE = 1 << 20;
    private static final int ZSTD_MAGIC = 0xFD2FB528;

    /** The result: how the sections were found, the ToC if any, and the sections by name. */
    record Located(BlobMeta.Layout layout, List<TocEntry> toc, Optional<String> tocDigest,
            Map<String, BlobSection> sections) {
    }

    private final BlobFile file;
    private final BlobInfo info;

    private SectionLocator(BlobFile file, BlobInfo info) {
        this.file = file;
        this.info = info;
    }

    static Located locate(BlobFile file, BlobInfo info) throws IOException {
        return new SectionLocator(file, info).locate();
    }

    private Located locate() throws IOException {
        if (file.size() >= TarHeader.SIZE) {
            long at = file.size() - TarHeader.SIZE;
            TarHeader.Entry last = tryHeader(at);
            if (last != null && last.name().equals(TocEntry.TOC)) {
                return fromToc(at, last);
            }
            if (last != null) {
                return fromTarHeaders();
            }
            requireNoToc(at);
        }
        return withoutHeaders();
    }

    /**
     * Rejects a blob whose last 512 bytes are no valid tar header while its blob table entry
     * records a ToC, because a damaged ToC header would otherwise send the reader to the
     * layout without headers, which verifies nothing. Throws the header's decoding error.
     */
    private void requireNoToc(long headerAt) throws IOException {
        if (info != null && (info.tocSize() != 0
                || !info.tocDigest().equals(BlobInfo.ZERO_DIGEST))) {
            TarHeader.decode(file.read("ToC tar header", headerAt, TarHeader.SIZE), 0,
                    "blob " + file.blobId() + ": ToC tar header at offset " + headerAt);
        }
    }

    /** Decodes the tar header at {@code at}, or returns null when the bytes are not one. */
    private TarHeader.Entry tryHeader(long at) throws IOException {
        byte[] h = file.read("tar header", at, TarHeader.SIZE);
        try {
            return TarHeader.decode(h, 0, "blob " + file.blobId() + " at offset " + at);
        } catch (RafsFormatException e) {
            return null;
        }
    }

    private Located fromToc(long headerAt, TarHeader.Entry header) throws IOException {
        long size = header.size();
        if (size == 0 || size % TocEntry.SIZE != 0 || size > MAX_TOC_SIZE || size > headerAt) {
            throw file.error("ToC tar header", headerAt, "ToC size " + size + " is invalid:"
                    + " expected a non-zero multiple of 128 up to " + MAX_TOC_SIZE
                    + " that fits before the header");
        }
        long tocAt = headerAt - size;
        byte[] entries = file.read("ToC", tocAt, size);
        byte[] headerBytes = file.read("ToC tar header", headerAt, TarHeader.SIZE);
        String digest = sha256(entries, headerBytes);
        checkTocAgainstInfo(tocAt, size + TarHeader.SIZE, digest);
        List<TocEntry> toc = new ArrayList<>();
        Map<String, BlobSection> sections = new LinkedHashMap<>();
        for (int i = 0; i < size / TocEntry.SIZE; i++) {
            long entryAt = tocAt + (long) i * TocEntry.SIZE;
            TocEntry entry = TocEntry.decode(ByteBuffer.wrap(entries),
                    i * TocEntry.SIZE, "blob " + file.blobId() + " ToC at offset " + tocAt);
            BlobSection section = tocSection(entry, entryAt, tocAt);
            if (sections.putIfAbsent(entry.name(), section) != null) {
                throw file.error("ToC entry " + i, entryAt, "section " + entry.name()
                        + " appears twice");
            }
            toc.add(entry);
        }
        return new Located(BlobMeta.Layout.TOC, List.copyOf(toc), Optional.of(digest),
                sections);
    }

    private void checkTocAgainstInfo(long tocAt, long sizeWithHeader, String digest)
            throws RafsFormatException {
        if (info == null) {
            return;
        }
        if (info.tocSize() != 0 && info.tocSize() != sizeWithHeader) {
            throw file.error("ToC", tocAt, "ToC with its header has " + sizeWithHeader
                    + " bytes, the blob table says " + info.tocSize());
        }
        if (!info.tocDigest().equals(BlobInfo.ZERO_DIGEST) && !info.tocDigest().equals(digest)) {
            throw file.error("ToC", tocAt, "ToC sha256 " + digest
                    + " does not match the blob table's " + info.tocDigest());
        }
    }

    private BlobSection tocSection(TocEntry entry, long entryAt, long tocAt)
            throws RafsFormatException {
        Compressor compression = switch (entry.flags()) {
            case TocEntry.FLAG_NONE -> Compressor.NONE;
            case TocEntry.FLAG_ZSTD -> Compressor.ZSTD;
            case TocEntry.FLAG_LZ4 -> Compressor.LZ4_BLOCK;
            default -> throw file.error("ToC entry " + entry.name(), entryAt, "compression"
                    + " flags 0x" + Integer.toHexString(entry.flags())
                    + " are invalid, expected 0x1 (none), 0x2 (zstd) or 0x4 (lz4_block)");
        };
        long offset = entry.compressedOffset();
        // Builders before 2023 stored the chunk data's size as the offset of image.blob,
        // whose data always starts the blob.
        if (entry.name().equals(TocEntry.IMAGE_BLOB) && offset == entry.compressedSize()) {
            offset = 0;
        }
        long stored = entry.compressedSize();
        if (offset < 0 || stored < 0 || offset > tocAt || stored > tocAt - offset
                || entry.uncompressedSize() < 0) {
            throw file.error("ToC entry " + entry.name(), entryAt, "offset " + offset
                    + " and size " + stored + " do not lie before the ToC at " + tocAt);
        }
        return new BlobSection(entry.name(), offset, stored, entry.uncompressedSize(),
                compression, Optional.of(entry.sha256()));
    }

    private Located fromTarHeaders() throws IOException {
        Map<String, BlobSection> sections = new LinkedHashMap<>();
        long end = file.size();
        while (end > 0) {
            long headerAt = end - TarHeader.SIZE;
            if (headerAt < 0) {
                throw file.error("tar header", 0, "the " + end + " bytes at the start of the"
                        + " blob are too few for a tar header");
            }
            TarHeader.Entry header = TarHeader.decode(
                    file.read("tar header", headerAt, TarHeader.SIZE), 0,
                    "blob " + file.blobId() + " at offset " + headerAt);
            if (header.size() < 0 || header.size() > headerAt) {
                throw file.error("tar header " + header.name(), headerAt, "section size "
                        + header.size() + " is larger than the " + headerAt
                        + " bytes before the header");
            }
            long offset = headerAt - header.size();
            BlobSection section = new BlobSection(header.name(), offset, header.size(),
                    header.size(), compressionOf(header.name(), offset, header.size()),
                    Optional.empty());
            if (sections.putIfAbsent(header.name(), section) != null) {
                throw file.error("tar header " + header.name(), headerAt, "section "
                        + header.name() + " appears twice");
            }
            end = offset;
        }
        splitCiSection(sections);
        return new Located(BlobMeta.Layout.TAR_HEADERS, List.of(), Optional.empty(), sections);
    }

    /**
     * Splits the tar section {@code blob.meta}, which contains the stored CI table and its
     * 4096-byte header, into the two sections a ToC would list, taking the CI table's
     * compression and size from the header.
     */
    private void splitCiSection(Map<String, BlobSection> sections) throws IOException {
        BlobSection meta = sections.get(TocEntry.BLOB_META);
        if (meta == null) {
            return;
        }
        if (meta.storedSize() < CiHeader.SIZE) {
            throw file.error("section blob.meta", meta.offset(), "the section has "
                    + meta.storedSize() + " bytes, too few for the 4096-byte CI header");
        }
        long headerAt = meta.offset() + meta.storedSize() - CiHeader.SIZE;
        CiHeader header = readCiHeader(file, headerAt);
        sections.put(TocEntry.BLOB_META, new BlobSection(TocEntry.BLOB_META, meta.offset(),
                meta.storedSize() - CiHeader.SIZE, header.ciUncompressedSize(),
                header.ciCompressor(), Optional.empty()));
        sections.put(TocEntry.BLOB_META_HEADER, new BlobSection(TocEntry.BLOB_META_HEADER,
                headerAt, CiHeader.SIZE, CiHeader.SIZE, Compressor.NONE, Optional.empty()));
    }

    /**
     * Returns how a section found through tar headers is stored. Old builders inlined the
     * bootstrap raw, but a zstd frame is recognized by its magic, which no raw bootstrap (1024
     * zero bytes first) starts with.
     */
    private Compressor compressionOf(String name, long offset, long size) throws IOException {
        if (!name.equals(TocEntry.IMAGE_BOOT) || size < 4) {
            return Compressor.NONE;
        }
        byte[] head = file.read("image.boot", offset, 4);
        int magic = (head[0] & 0xFF) | (head[1] & 0xFF) << 8 | (head[2] & 0xFF) << 16
                | (head[3] & 0xFF) << 24;
        return magic == ZSTD_MAGIC ? Compressor.ZSTD : Compressor.NONE;
    }

    private Located withoutHeaders() throws IOException {
        long ciOffset;
        long ciCompressed;
        long ciUncompressed;
        Compressor ciCompressor;
        if (info != null) {
            ciOffset = info.ciOffset();
            ciCompressed = info.ciCompressedSize();
            ciUncompressed = info.ciUncompressedSize();
            ciCompressor = info.ciCompressor();
        } else if (file.size() >= CiHeader.SIZE) {
            long at = file.size() - CiHeader.SIZE;
            CiHeader header = readCiHeader(file, at);
            ciOffset = header.ciOffset();
            ciCompressed = header.ciCompressedSize();
            ciUncompressed = header.ciUncompressedSize();
            ciCompressor = header.ciCompressor();
        } else {
            throw file.error("blob", 0, "the blob has no ToC, no tar headers and no CI header,"
                    + " and no blob table entry was given to locate its CI table");
        }
        return noHeaderSections(ciOffset, ciCompressed, ciUncompressed, ciCompressor);
    }

    private Located noHeaderSections(long ciOffset, long ciCompressed, long ciUncompressed,
            Compressor ciCompressor) throws RafsFormatException {
        if (ciOffset < 0 || ciCompressed < 0
                || !file.contains(ciOffset, ciCompressed + (long) CiHeader.SIZE)) {
            throw file.error("CI table", ciOffset, "the CI table of " + ciCompressed
                    + " bytes and its 4096-byte header do not fit in the blob");
        }
        Map<String, BlobSection> sections = new LinkedHashMap<>();
        sections.put(TocEntry.IMAGE_BLOB, new BlobSection(TocEntry.IMAGE_BLOB, 0, ciOffset,
                ciOffset, Compressor.NONE, Optional.empty()));
        sections.put(TocEntry.BLOB_META, new BlobSection(TocEntry.BLOB_META, ciOffset,
                ciCompressed, ciUncompressed, ciCompressor, Optional.empty()));
        sections.put(TocEntry.BLOB_META_HEADER, new BlobSection(TocEntry.BLOB_META_HEADER,
                ciOffset + ciCompressed, CiHeader.SIZE, CiHeader.SIZE, Compressor.NONE,
                Optional.empty()));
        return new Located(BlobMeta.Layout.NO_HEADERS, List.of(), Optional.empty(), sections);
    }

    /** Reads and decodes the CI header at {@code at}, naming the blob in every error. */
    static CiHeader readCiHeader(BlobFile file, long at) throws IOException {
        byte[] h = file.read("CI header", at, CiHeader.SIZE);
        int code = (h[8] & 0xFF) | (h[9] & 0xFF) << 8 | (h[10] & 0xFF) << 16 | h[11] << 24;
        if (code < 0 || code > Compressor.ZSTD.code()) {
            throw file.error("CI header", at + 8, "s_ci_compressor " + (code & 0xFFFF_FFFFL)
                    + " is unknown, expected 0 (none), 1 (lz4_block), 2 (gzip) or 3 (zstd)");
        }
        return CiHeader.decode(h, 0, "blob " + file.blobId() + ": CI header at offset " + at);
    }

    static String sha256(byte[]... parts) {
        MessageDigest md = DigestAlgorithm.newSha256();
        for (byte[] part : parts) {
            md.update(part);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
