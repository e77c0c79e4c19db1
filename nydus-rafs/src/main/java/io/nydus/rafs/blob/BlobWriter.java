package io.nydus.rafs.blob;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Writes a RAFS v6 data blob as a stream: chunk data, then the CI table with its header, the
 * chunk digest array, optionally the layer bootstrap, and a table of contents. Each section is
 * followed by a 512-byte tar header. The blob id is the SHA-256 of every byte written except the
 * digest array, as upstream computes it.
 */
public final class BlobWriter implements AutoCloseable {
    private static final HexFormat HEX = HexFormat.of();

    private final int chunkSize;
    private final Compressor compressor;
    private final DigestAlgorithm digester;
    private final int blobIndex;
    private final HashingOutput output;
    private final MessageDigest sectionHash = DigestAlgorithm.newSha256();
    private final List<CiEntry> ciEntries = new ArrayList<>();
    private final List<ChunkDigest> digests = new ArrayList<>();
    private final List<TocEntry> toc = new ArrayList<>();
    private long position;
    private long uncompressedSize;
    private BlobInfo metaInfo;

    /**
     * @param out where the blob goes; not closed by this writer
     * @param blobIndex the index the blob will have in the bootstrap's blob table
     */
    public BlobWriter(OutputStream out, int chunkSize, Compressor compressor,
            DigestAlgorithm digester, int blobIndex) {
        this.chunkSize = chunkSize;
        this.compressor = compressor;
        this.digester = digester;
        this.blobIndex = blobIndex;
        this.output = new HashingOutput(out);
    }

    public int chunkCount() {
        return ciEntries.size();
    }

    /** Returns the bytes written so far. */
    public long position() {
        return position;
    }

    /**
     * Appends one chunk's stored bytes and returns the chunk that describes it.
     *
     * @param stored compressed bytes, or the raw bytes when {@code compressed} is false
     */
    public Chunk append(ChunkDigest digest, byte[] stored, int storedLength,
            int uncompressedLength, boolean compressed, int crc32) throws IOException {
        if (metaInfo != null) {
            throw new IllegalStateException("blob metadata is already written");
        }
        if (!compressed && storedLength != uncompressedLength) {
            throw new IllegalArgumentException("a raw chunk of " + uncompressedLength
                    + " bytes was given " + storedLength + " stored bytes");
        }
        int index = ciEntries.size();
        long compressedOffset = position;
        long uncompressedOffset = uncompressedSize;
        writeHashed(stored, 0, storedLength, false);
        ciEntries.add(new CiEntry(compressedOffset, storedLength, uncompressedOffset,
                uncompressedLength));
        digests.add(digest);
        uncompressedSize += (uncompressedLength + 4095L) & ~4095L;
        return new Chunk(digest, blobIndex, index, compressedOffset, storedLength,
                uncompressedOffset, uncompressedLength, compressed, crc32, true);
    }

    /**
     * Ends the chunk data and writes the CI table and the digest array. Returns the blob's
     * description as a bootstrap inlined into this blob records it: the id is not known yet, so
     * it is 64 'x' characters.
     */
    public BlobInfo writeMeta() throws IOException {
        long dataSize = position;
        byte[] dataHeader = TarHeader.encode(TocEntry.IMAGE_BLOB, dataSize);
        writeHashed(dataHeader, 0, dataHeader.length, false);
        // The chunk data section starts at offset 0, so its digest is the blob's digest so far.
        String dataDigest = HEX.formatHex(output.snapshot().digest());
        toc.add(new TocEntry(TocEntry.FLAG_NONE, TocEntry.IMAGE_BLOB, dataDigest, 0,
                dataSize, uncompressedSize));
        int features = BlobFeatures.NATIVE;
        Compressor ciCompressor = Compressor.NONE;
        long ciOffset = position;
        long ciCompressed = 0;
        long ciUncompressed = 16L * ciEntries.size();
        if (!ciEntries.isEmpty()) {
            byte[] ci = encodeCi();
            byte[] stored = compressor == Compressor.NONE ? null
                    : compressor.compressIfSmaller(ci, 0, ci.length);
            ciCompressor = stored == null ? Compressor.NONE : compressor;
            stored = stored == null ? ci : stored;
            ciCompressed = stored.length;
            sectionHash.update(ci);
            writeHashed(stored, 0, stored.length, false);
            toc.add(new TocEntry(tocFlag(ciCompressor), TocEntry.BLOB_META, finishSection(),
                    ciOffset, ciCompressed, ci.length));
            // The ZRAN/batch context fields stay 0 because a native blob has no context table.
            CiHeader header = new CiHeader(features, ciCompressor, ciEntries.size(), ciOffset,
                    ciCompressed, ci.length, 0, 0, 0);
            byte[] h = header.encode();
            writeHashed(h, 0, h.length, true);
            toc.add(new TocEntry(TocEntry.FLAG_NONE, TocEntry.BLOB_META_HEADER, finishSection(),
                    ciOffset + ciCompressed, CiHeader.SIZE, CiHeader.SIZE));
            writeTarHeader(TocEntry.BLOB_META, ciCompressed + CiHeader.SIZE);
            writeDigestArray();
        }
        metaInfo = new BlobInfo("x".repeat(64), chunkSize, ciEntries.size(), compressor,
                digester, features, position, uncompressedSize, 0, ciCompressor, ciOffset,
                ciCompressed, ciUncompressed, BlobInfo.ZERO_DIGEST, BlobInfo.ZERO_DIGEST, 0, 0);
        return metaInfo;
    }

    private byte[] encodeCi() {
        byte[] ci = new byte[CiEntry.SIZE * ciEntries.size()];
        for (int i = 0; i < ciEntries.size(); i++) {
            ciEntries.get(i).encode(ci, i * CiEntry.SIZE);
        }
        return ci;
    }

    /** Writes the chunk digest array, which stays out of the blob id, as upstream's does. */
    private void writeDigestArray() throws IOException {
        byte[] array = new byte[ChunkDigest.SIZE * digests.size()];
        for (int i = 0; i < digests.size(); i++) {
            digests.get(i).copyTo(array, i * ChunkDigest.SIZE);
        }
        long offset = position;
        output.writeUnhashed(array);
        position += array.length;
        sectionHash.update(array);
        toc.add(new TocEntry(TocEntry.FLAG_NONE, TocEntry.BLOB_DIGEST, finishSection(), offset,
                array.length, array.length));
        writeTarHeader(TocEntry.BLOB_DIGEST, array.length);
    }

    /**
     * Writes the inlined bootstrap, if any, and the ToC, and returns the blob's final
     * description with its id.
     *
     * @param bootstrap the layer bootstrap to inline, or null
     */
    public BlobInfo finish(byte[] bootstrap) throws IOException {
        if (metaInfo == null) {
            writeMeta();
        }
        int features = metaInfo.features();
        if (bootstrap != null) {
            writeBootstrap(bootstrap);
            features |= BlobFeatures.INLINED_FS_META;
        }
        byte[] entries = TocEntry.encodeAll(toc);
        MessageDigest tocDigest = DigestAlgorithm.newSha256();
        tocDigest.update(entries);
        writeHashed(entries, 0, entries.length, false);
        byte[] header = TarHeader.encode(TocEntry.TOC, entries.length);
        tocDigest.update(header);
        writeHashed(header, 0, header.length, false);
        String blobId = HEX.formatHex(output.snapshot().digest());
        long compressedSize = bootstrap == null ? position : metaInfo.compressedSize();
        return new BlobInfo(blobId, chunkSize, metaInfo.chunkCount(), compressor, digester,
                features, compressedSize, uncompressedSize, entries.length + TarHeader.SIZE,
                metaInfo.ciCompressor(), metaInfo.ciOffset(), metaInfo.ciCompressedSize(),
                metaInfo.ciUncompressedSize(), HEX.formatHex(tocDigest.digest()),
                BlobInfo.ZERO_DIGEST, 0, 0);
    }

    private void writeBootstrap(byte[] bootstrap) throws IOException {
        byte[] stored = Compressor.ZSTD.compressIfSmaller(bootstrap, 0, bootstrap.length);
        int flag = stored == null ? TocEntry.FLAG_NONE : TocEntry.FLAG_ZSTD;
        stored = stored == null ? bootstrap : stored;
        long offset = position;
        sectionHash.update(bootstrap);
        writeHashed(stored, 0, stored.length, false);
        toc.add(new TocEntry(flag, TocEntry.IMAGE_BOOT, finishSection(), offset, stored.length,
                bootstrap.length));
        writeTarHeader(TocEntry.IMAGE_BOOT, stored.length);
    }

    private void writeTarHeader(String name, long size) throws IOException {
        byte[] h = TarHeader.encode(name, size);
        writeHashed(h, 0, h.length, false);
    }

    private void writeHashed(byte[] b, int offset, int length, boolean intoSection)
            throws IOException {
        byte[] exact = offset == 0 && length == b.length
                ? b : java.util.Arrays.copyOfRange(b, offset, offset + length);
        output.write(exact);
        if (intoSection) {
            sectionHash.update(exact);
        }
        position += length;
    }

    /** Stops the background writer; the output stream stays open for the caller to close. */
    @Override
    public void close() throws IOException {
        output.close();
    }

    private String finishSection() {
        return HEX.formatHex(sectionHash.digest());
    }

    private static int tocFlag(Compressor c) {
        return switch (c) {
            case ZSTD -> TocEntry.FLAG_ZSTD;
            case LZ4_BLOCK -> TocEntry.FLAG_LZ4;
            default -> TocEntry.FLAG_NONE;
        };
    }
}
