package io.nydus.storage;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.blob.CiEntry;
import io.nydus.rafs.blob.CiHeader;
import io.nydus.rafs.blob.TocEntry;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Fetches a blob's own description of its chunks from the backend: the CI table ({@code
 * blob.meta}) at the blob table's {@code ci_offset}, and, when the blob ends with a ToC, the
 * chunk digest array ({@code blob.digest}). With a ToC every section is checked against its
 * SHA-256 in the ToC and the ToC against the blob table's ToC digest.
 */
final class BlobMetaLoader {
    private static final int TAR_HEADER = 512;
    private static final int MAX_TOC = 4096;

    private final BlobBackend backend;

    BlobMetaLoader(BlobBackend backend) {
        this.backend = backend;
    }

    /**
     * Returns the blob's chunks in CI order. Chunks get their digest from {@code blob.digest};
     * without one they are null, because a chunk that cannot be checked is never stored.
     *
     * @throws IOException naming the blob and the section that is missing or corrupt
     */
    Chunk[] load(BlobInfo blob, int blobIndex) throws IOException {
        if (blob.has(BlobFeatures.CHUNK_INFO_V2)) {
            // TODO: decode 24-byte version 2 CI entries (ZRAN, batch and encrypted blobs).
            throw new IOException("blob " + blob.blobId() + ": version 2 CI entries (features 0x"
                    + Integer.toHexString(blob.features()) + ") are not supported");
        }
        Map<String, TocEntry> toc = blob.has(BlobFeatures.HAS_TOC) && blob.tocSize() > 0
                ? readToc(blob) : Map.of();
        List<CiEntry> entries = readCi(blob, toc);
        List<ChunkDigest> digests = toc.containsKey(TocEntry.BLOB_DIGEST)
                ? readDigests(blob, toc.get(TocEntry.BLOB_DIGEST)) : List.of();
        Chunk[] chunks = new Chunk[entries.size()];
        for (int i = 0; i < chunks.length; i++) {
            if (!digests.isEmpty()) {
                CiEntry e = entries.get(i);
                chunks[i] = new Chunk(digests.get(i), blobIndex, i, e.compressedOffset(),
                        e.compressedSize(), e.uncompressedOffset(), e.uncompressedSize(),
                        e.compressed(), 0, false);
            }
        }
        return chunks;
    }

    private Map<String, TocEntry> readToc(BlobInfo blob) throws IOException {
        long size = backend.blobSize(blob.blobId());
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

    private List<CiEntry> readCi(BlobInfo blob, Map<String, TocEntry> toc) throws IOException {
        long stored = blob.ciCompressedSize();
        long size = blob.ciUncompressedSize();
        if (size != (long) blob.chunkCount() * CiEntry.SIZE || stored < 0 || stored > size
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
            checkSha256(blob, "CI header", java.util.Arrays.copyOfRange(bytes, (int) stored,
                    bytes.length), headerEntry.sha256());
        }
        checkHeader(blob, header);
        return decodeEntries(blob, table);
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

    private static void checkHeader(BlobInfo blob, CiHeader h) throws IOException {
        if ((h.entries() & 0xFFFF_FFFFL) != blob.chunkCount() || h.ciOffset() != blob.ciOffset()
                || h.ciCompressedSize() != blob.ciCompressedSize()
                || h.ciUncompressedSize() != blob.ciUncompressedSize()
                || h.ciCompressor() != blob.ciCompressor()) {
            throw error(blob, "CI header", "header " + h + " does not match the blob table");
        }
    }

    private static List<CiEntry> decodeEntries(BlobInfo blob, byte[] table) throws IOException {
        List<CiEntry> entries = new ArrayList<>(blob.chunkCount());
        long compressedEnd = 0;
        long uncompressedEnd = 0;
        for (int i = 0; i < blob.chunkCount(); i++) {
            CiEntry e;
            try {
                e = CiEntry.decode(table, i * CiEntry.SIZE, "blob " + blob.blobId()
                        + " CI entry " + i);
            } catch (RafsFormatException ex) {
                throw error(blob, "CI table", ex.getMessage());
            }
            if (e.compressedOffset() < compressedEnd || e.uncompressedOffset() < uncompressedEnd
                    || e.uncompressedOffset() + e.uncompressedSize() > blob.uncompressedSize()) {
                throw error(blob, "CI table", "entry " + i + " (" + e + ") overlaps the"
                        + " previous chunk or leaves the blob's " + blob.uncompressedSize()
                        + " uncompressed bytes");
            }
            compressedEnd = e.compressedOffset() + e.compressedSize();
            uncompressedEnd = e.uncompressedOffset() + e.uncompressedSize();
            entries.add(e);
        }
        return entries;
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
        backend.read(blob.blobId(), offset, buffer);
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

    private static IOException error(BlobInfo blob, String section, String problem) {
        return new IOException("blob " + blob.blobId() + ": invalid " + section + " fetched"
                + " from the backend: " + problem);
    }
}
