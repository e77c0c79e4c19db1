package io.nydus.rafs.blob;

import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
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
 * Writes the "RAFS ref blob" of a ZRAN image. The chunk data stays in the original gzip
 * layer, so this blob contains only metadata. Its sections are the version 2 CI table with its
 * ZRAN contexts and dictionaries (compressed with zstd when that makes it smaller), the CI
 * header, the chunk digest array, optionally the layer bootstrap, and a ToC. Each section is
 * followed by a tar header. Its id is the SHA-256 of every byte written except the digest
 * array, as for native blobs.
 */
public final class RefBlobWriter {
    /** Features of a ZRAN data blob whose metadata lives in a ref blob. */
    public static final int FEATURES = BlobFeatures.ALIGNED | BlobFeatures.CHUNK_INFO_V2
            | BlobFeatures.ZRAN | BlobFeatures.SEPARATE | BlobFeatures.INLINED_CHUNK_DIGEST
            | BlobFeatures.HAS_TAR_HEADER | BlobFeatures.HAS_TOC | BlobFeatures.CAP_TAR_TOC;
    private static final HexFormat HEX = HexFormat.of();

    private final OutputStream out;
    private final MessageDigest idHash = DigestAlgorithm.newSha256();
    private final List<TocEntry> toc = new ArrayList<>();
    private long position;
    private BlobInfo metaInfo;

    /** @param out where the ref blob goes; not closed by this writer */
    public RefBlobWriter(OutputStream out) {
        this.out = out;
    }

    /**
     * Writes the CI table and the digest array and returns the data blob's description as the
     * inlined bootstrap records it: no ToC and no ref blob digest are known yet.
     *
     * @param dataBlobId hex SHA-256 of the gzip layer, the data blob's id
     * @param dataSize the gzip layer's size
     * @param uncompressedSize the chunks' 4 KiB aligned uncompressed size
     */
    public BlobInfo writeMeta(CiTableV2 table, List<ChunkDigest> digests, String dataBlobId,
            long dataSize, long uncompressedSize, int chunkSize) throws IOException {
        byte[] ci = table.encode();
        byte[] stored = Compressor.ZSTD.compressIfSmaller(ci, 0, ci.length);
        Compressor ciCompressor = stored == null ? Compressor.NONE : Compressor.ZSTD;
        stored = stored == null ? ci : stored;
        long ciOffset = position;
        write(stored, true);
        toc.add(new TocEntry(ciCompressor == Compressor.ZSTD ? TocEntry.FLAG_ZSTD
                : TocEntry.FLAG_NONE, TocEntry.BLOB_META, sha256(ci), ciOffset, stored.length,
                ci.length));
        long contextsAt = (long) table.entries().size() * CiEntryV2.SIZE;
        CiHeader header = new CiHeader(FEATURES, ciCompressor, table.entries().size(), ciOffset,
                stored.length, ci.length, contextsAt, table.zranSize(), table.contexts().size());
        byte[] h = header.encode();
        write(h, true);
        toc.add(new TocEntry(TocEntry.FLAG_NONE, TocEntry.BLOB_META_HEADER, sha256(h),
                ciOffset + stored.length, CiHeader.SIZE, CiHeader.SIZE));
        write(TarHeader.encode(TocEntry.BLOB_META, stored.length + (long) CiHeader.SIZE), true);
        writeDigests(digests);
        metaInfo = new BlobInfo(dataBlobId, chunkSize, table.entries().size(), Compressor.GZIP,
                DigestAlgorithm.SHA256, FEATURES, dataSize, uncompressedSize, 0, ciCompressor,
                ciOffset, stored.length, ci.length, BlobInfo.ZERO_DIGEST, BlobInfo.ZERO_DIGEST, 0,
                0);
        return metaInfo;
    }

    private void writeDigests(List<ChunkDigest> digests) throws IOException {
        byte[] array = new byte[ChunkDigest.SIZE * digests.size()];
        for (int i = 0; i < digests.size(); i++) {
            digests.get(i).copyTo(array, i * ChunkDigest.SIZE);
        }
        long offset = position;
        write(array, false);
        toc.add(new TocEntry(TocEntry.FLAG_NONE, TocEntry.BLOB_DIGEST, sha256(array), offset,
                array.length, array.length));
        write(TarHeader.encode(TocEntry.BLOB_DIGEST, array.length), true);
    }

    /**
     * Writes the inlined bootstrap, if any, and the ToC, and returns the data blob's final
     * description. With a bootstrap inlined it carries INLINED_FS_META and no ref blob digest,
     * because upstream's per-layer build leaves that to the merge. Otherwise it names this ref
     * blob.
     *
     * @param bootstrap the layer bootstrap to inline, or null
     */
    public Result finish(byte[] bootstrap) throws IOException {
        if (metaInfo == null) {
            throw new IllegalStateException("writeMeta must come first");
        }
        int features = metaInfo.features();
        if (bootstrap != null) {
            writeBootstrap(bootstrap);
            features |= BlobFeatures.INLINED_FS_META;
        }
        byte[] entries = TocEntry.encodeAll(toc);
        byte[] tocHeader = TarHeader.encode(TocEntry.TOC, entries.length);
        MessageDigest tocDigest = DigestAlgorithm.newSha256();
        tocDigest.update(entries);
        tocDigest.update(tocHeader);
        write(entries, true);
        write(tocHeader, true);
        String refId = HEX.formatHex(idHash.digest());
        String metaDigest = bootstrap == null ? refId : BlobInfo.ZERO_DIGEST;
        long metaSize = bootstrap == null ? position : 0;
        BlobInfo info = new BlobInfo(metaInfo.blobId(), metaInfo.chunkSize(),
                metaInfo.chunkCount(), metaInfo.compressor(), metaInfo.digester(), features,
                metaInfo.compressedSize(), metaInfo.uncompressedSize(),
                entries.length + TarHeader.SIZE, metaInfo.ciCompressor(), metaInfo.ciOffset(),
                metaInfo.ciCompressedSize(), metaInfo.ciUncompressedSize(),
                HEX.formatHex(tocDigest.digest()), metaDigest, metaSize, 0);
        return new Result(info, refId, position);
    }

    /**
     * The outcome of writing a ref blob.
     *
     * @param info the data blob's blob table entry
     * @param refBlobId the ref blob's id, its file name in a blob directory
     * @param refBlobSize the ref blob's size
     */
    public record Result(BlobInfo info, String refBlobId, long refBlobSize) {
    }

    private void writeBootstrap(byte[] bootstrap) throws IOException {
        byte[] stored = Compressor.ZSTD.compressIfSmaller(bootstrap, 0, bootstrap.length);
        int flag = stored == null ? TocEntry.FLAG_NONE : TocEntry.FLAG_ZSTD;
        stored = stored == null ? bootstrap : stored;
        long offset = position;
        write(stored, true);
        toc.add(new TocEntry(flag, TocEntry.IMAGE_BOOT, sha256(bootstrap), offset,
                stored.length, bootstrap.length));
        write(TarHeader.encode(TocEntry.IMAGE_BOOT, stored.length), true);
    }

    private void write(byte[] bytes, boolean hashed) throws IOException {
        out.write(bytes);
        if (hashed) {
            idHash.update(bytes);
        }
        position += bytes.length;
    }

    private static String sha256(byte[] bytes) {
        return HEX.formatHex(DigestAlgorithm.SHA256.digest(bytes, 0, bytes.length));
    }
}
