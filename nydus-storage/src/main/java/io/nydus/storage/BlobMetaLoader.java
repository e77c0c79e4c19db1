package io.nydus.storage;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.rafs.blob.CiEntry;
import io.nydus.rafs.blob.CiEntryV2;
import io.nydus.rafs.blob.CiHeader;
import io.nydus.rafs.blob.CiTableV2;
import io.nydus.rafs.blob.TocEntry;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Fetches a blob's own description of its chunks from the backend: the CI table ({@code
 * blob.meta}) at the blob table's {@code ci_offset}, and, when the blob ends with a ToC, the
 * chunk digest array ({@code blob.digest}). A ZRAN blob keeps both in its ref blob. With a ToC
 * every section is checked against its SHA-256 in the ToC and the ToC against the blob table's
 * ToC digest.
 */
final class BlobMetaLoader {
    private static final int TAR_HEADER = 512;
    private static final int MAX_TOC = 4096;

    private final BlobBackend backend;

    BlobMetaLoader(BlobBackend backend) {
        this.backend = backend;
    }

    /**
     * Returns the blob's CI table and header, in one request of the table and its header.
     * With {@code checkToc}, the table is also checked against the ToC when the blob has one,
     * which takes a size query and a second request; without it the caller checks every entry
     * it uses against the bootstrap.
     *
     * @throws IOException naming the blob and the section that is missing or corrupt
     */
    BlobMetaFile fetchTable(BlobInfo blob, boolean checkToc) throws IOException {
        return readCi(blob, checkToc ? readToc(blob) : Map.of());
    }

    /**
     * Returns the blob's chunk digests in CI order, or an empty list when the blob has no
     * digest array.
     *
     * @throws IOException naming the blob and the section that is missing or corrupt
     */
    List<ChunkDigest> fetchDigests(BlobInfo blob) throws IOException {
        TocEntry entry = readToc(blob).get(TocEntry.BLOB_DIGEST);
        return entry == null ? List.of() : readDigests(blob, entry);
    }

    /**
     * Decodes the entries of a CI table that belongs to {@code blob}: its header must match
     * the blob table, and the entries must lie in order inside the blob.
     *
     * @param source where the table came from, for messages
     * @throws IOException naming the blob, the source and what is wrong
     */
    static List<CiEntry> entries(BlobInfo blob, BlobMetaFile table, String source)
            throws IOException {
        if (blob.has(BlobFeatures.ZRAN)) {
            return zranTable(blob, table, source).entries().stream().map(CiEntryV2::place)
                    .toList();
        }
        if (blob.has(BlobFeatures.CHUNK_INFO_V2)) {
            // TODO: decode version 2 CI entries of batch and encrypted blobs.
            throw error(blob, "CI table", "version 2 CI entries without ZRAN (features 0x"
                    + Integer.toHexString(blob.features()) + ") are not supported");
        }
        checkHeader(blob, table.header(), source);
        List<CiEntry> entries;
        try {
            entries = table.entries("blob " + blob.blobId() + " " + source);
        } catch (RafsFormatException e) {
            throw error(blob, "CI table", e.getMessage());
        }
        checkOrder(blob, entries);
        return entries;
    }

    /**
     * Decodes the version 2 table of a ZRAN blob with its contexts and checks it against the
     * blob table and the size of the gzip data.
     *
     * @param source where the table came from, for messages
     * @throws IOException naming the blob, the source and the entry or context field
     */
    static CiTableV2 zranTable(BlobInfo blob, BlobMetaFile table, String source)
            throws IOException {
        checkHeader(blob, table.header(), source);
        CiTableV2 decoded;
        try {
            decoded = CiTableV2.decode(table.table(), table.header(), blob.compressedSize(),
                    "blob " + blob.blobId() + " " + source);
        } catch (RafsFormatException e) {
            throw error(blob, "CI table", e.getMessage());
        }
        checkOrder(blob, decoded.entries().stream().map(CiEntryV2::place).toList());
        return decoded;
    }

    /** Returns the blob's chunks, in CI order, with the digests of {@code digests}. */
    static Chunk[] chunks(List<CiEntry> entries, List<ChunkDigest> digests, int blobIndex) {
        Chunk[] chunks = new Chunk[entries.size()];
        for (int i = 0; i < chunks.length && !digests.isEmpty(); i++) {
            CiEntry e = entries.get(i);
            chunks[i] = new Chunk(digests.get(i), blobIndex, i, e.compressedOffset(),
                    e.compressedSize(), e.uncompressedOffset(), e.uncompressedSize(),
                    e.compressed(), 0, false);
        }
        return chunks;
    }

    /**
     * Returns the id of the blob that contains {@code blob}'s CI table and ToC: the ref blob that
     * {@code blob_meta_digest} names for a blob with separate metadata, else the blob itself.
     */
    static String metaBlobId(BlobInfo blob) throws IOException {
        if (!blob.has(BlobFeatures.SEPARATE)) {
            return blob.blobId();
        }
        if (blob.metaDigest().equals(BlobInfo.ZERO_DIGEST)) {
            throw error(blob, "blob table entry", "the blob keeps its CI table in a separate"
                    + " ref blob, but blob_meta_digest is zero");
        }
        return blob.metaDigest();
    }

    private Map<String, TocEntry> readToc(BlobInfo blob) throws IOException {
        if (!blob.has(BlobFeatures.HAS_TOC) || blob.tocSize() <= 0) {
            return Map.of();
        }
        long size = backend.blobSize(metaBlobId(blob));
        int tocSize = blob.tocSize();
        if (tocSize <= TAR_HEADER || tocSize > MAX_TOC || (tocSize - TAR_HEADER) % TocEntry.SIZE
                != 0 || tocSize > size) {
            throw error(blob, "ToC", "blob_toc_size " + tocSize + " is invalid for a blob of "
                    + size + " bytes");
        }
        byte[] bytes = read(blob, size - tocSize, tocSize);
        if (!blob.tocDigest().equals(BlobInfo.ZERO_DIGEST)) {
            checkSha256(blob, "ToC", bytes, blob.tocDigest());
        }
        Map<String, TocEntry> entries = new HashMap<>();
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        for (int at = 0; at < tocSize - TAR_HEADER; at += TocEntry.SIZE) {
            TocEntry entry = TocEntry.decode(buffer, at, "blob " + blob.blobId() + " ToC");
            entries.put(entry.name(), entry);
        }
        return entries;
    }

    private BlobMetaFile readCi(BlobInfo blob, Map<String, TocEntry> toc) throws IOException {
        long stored = blob.ciCompressedSize();
        long size = blob.ciUncompressedSize();
        long entrySize = blob.has(BlobFeatures.CHUNK_INFO_V2) ? CiEntryV2.SIZE : CiEntry.SIZE;
        long entries = (long) blob.chunkCount() * entrySize;
        boolean sizeFits = blob.has(BlobFeatures.ZRAN) ? size >= entries : size == entries;
        if (!sizeFits || stored < 0 || stored > size
                || size > Integer.MAX_VALUE - CiHeader.SIZE) {
            throw error(blob, "CI table", "ci_compressed_size " + stored
                    + " / ci_uncompressed_size " + size + " do not fit " + blob.chunkCount()
                    + " chunks");
        }
        byte[] bytes = read(blob, blob.ciOffset(), (int) stored + CiHeader.SIZE);
        byte[] table = decompress(blob, bytes, (int) stored, (int) size);
        TocEntry meta = toc.get(TocEntry.BLOB_META);
        if (meta != null) {
            checkSha256(blob, "CI table", table, meta.sha256());
        }
        CiHeader header;
        try {
            header = CiHeader.decode(bytes, (int) stored, "blob " + blob.blobId());
        } catch (RafsFormatException e) {
            throw error(blob, "CI header", e.getMessage());
        }
        TocEntry headerEntry = toc.get(TocEntry.BLOB_META_HEADER);
        if (headerEntry != null) {
            checkSha256(blob, "CI header", Arrays.copyOfRange(bytes, (int) stored,
                    bytes.length), headerEntry.sha256());
        }
        try {
            return new BlobMetaFile(header, table);
        } catch (IllegalArgumentException e) {
            throw error(blob, "CI header", e.getMessage());
        }
    }

    private static byte[] decompress(BlobInfo blob, byte[] bytes, int stored, int size)
            throws IOException {
        Compressor compressor = blob.ciCompressor();
        byte[] table = new byte[size];
        try {
            if (compressor == Compressor.NONE || stored == size) {
                compressor = Compressor.NONE;
            }
            compressor.decompress(bytes, 0, stored, table, 0, size);
        } catch (RafsFormatException e) {
            throw error(blob, "CI table", e.getMessage());
        }
        return table;
    }

    private static void checkHeader(BlobInfo blob, CiHeader h, String source)
            throws IOException {
        if ((h.entries() & 0xFFFF_FFFFL) != blob.chunkCount() || h.ciOffset() != blob.ciOffset()
                || h.ciCompressedSize() != blob.ciCompressedSize()
                || h.ciUncompressedSize() != blob.ciUncompressedSize()
                || h.ciCompressor() != blob.ciCompressor()) {
            throw error(blob, "CI header", "header " + h + " from " + source
                    + " does not match the blob table");
        }
    }

    private static void checkOrder(BlobInfo blob, List<CiEntry> entries) throws IOException {
        if (entries.size() != blob.chunkCount()) {
            throw error(blob, "CI table", entries.size() + " entries, but the blob table lists "
                    + blob.chunkCount() + " chunks");
        }
        long compressedEnd = 0;
        long uncompressedEnd = 0;
        for (int i = 0; i < entries.size(); i++) {
            CiEntry e = entries.get(i);
            if (e.compressedOffset() < compressedEnd || e.uncompressedOffset() < uncompressedEnd
                    || e.uncompressedOffset() + e.uncompressedSize() > blob.uncompressedSize()) {
                throw error(blob, "CI table", "entry " + i + " (" + e + ") overlaps the"
                        + " previous chunk or leaves the blob's " + blob.uncompressedSize()
                        + " uncompressed bytes");
            }
            compressedEnd = e.compressedOffset() + e.compressedSize();
            uncompressedEnd = e.uncompressedOffset() + e.uncompressedSize();
        }
    }

    private List<ChunkDigest> readDigests(BlobInfo blob, TocEntry entry) throws IOException {
        long expected = (long) blob.chunkCount() * ChunkDigest.SIZE;
        if (entry.compressedSize() != expected || entry.uncompressedSize() != expected) {
            throw error(blob, "chunk digest array", "ToC size " + entry.compressedSize()
                    + ", expected " + expected);
        }
        byte[] bytes = read(blob, entry.compressedOffset(), (int) expected);
        checkSha256(blob, "chunk digest array", bytes, entry.sha256());
        List<ChunkDigest> digests = new ArrayList<>(blob.chunkCount());
        for (int i = 0; i < blob.chunkCount(); i++) {
            digests.add(ChunkDigest.of(bytes, i * ChunkDigest.SIZE));
        }
        return digests;
    }

    private byte[] read(BlobInfo blob, long offset, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        backend.read(metaBlobId(blob), offset, buffer);
        return buffer.array();
    }

    private static void checkSha256(BlobInfo blob, String section, byte[] bytes,
            String expected) throws IOException {
        String actual = HexFormat.of().formatHex(DigestAlgorithm.SHA256.digest(bytes, 0,
                bytes.length));
        if (!actual.equals(expected)) {
            throw error(blob, section, "sha256 mismatch, expected " + expected + ", actual "
                    + actual);
        }
    }

    /** Returns the error of a blob's section, naming the ref blob that contains it, if any. */
    private static IOException error(BlobInfo blob, String section, String problem) {
        String where = blob.has(BlobFeatures.SEPARATE)
                ? " (in ref blob " + blob.metaDigest() + ")" : "";
        return new IOException("blob " + blob.blobId() + ": invalid " + section + where + ": "
                + problem);
    }
}
