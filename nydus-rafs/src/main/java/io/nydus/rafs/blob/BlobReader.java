package io.nydus.rafs.blob;

import com.github.luben.zstd.ZstdException;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.ChunkDigest;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * Reads a RAFS v6 data blob: locates its sections (see {@link BlobMeta.Layout}), loads and checks
 * the CI table and the chunk digest array when it opens, and reads chunks on request, verifying
 * each one's digest.
 *
 * <p>Opening verifies the ToC's SHA-256 of every section it reads ({@code blob.meta},
 * {@code blob.meta.header}, {@code blob.digest}); {@link #readBootstrap()} verifies
 * {@code image.boot}, and {@link #verifySections()} verifies every section including the chunk
 * data. Instances are safe for concurrent reads because they only use positional reads.
 */
public final class BlobReader implements Closeable {
    private static final int HASH_BUFFER = 1 << 20;

    private final BlobFile file;
    /** The file of the chunk data: the blob itself, or a ZRAN blob's gzip layer. */
    private final BlobFile data;
    private final boolean ownsChannel;
    private final BlobInfo info;
    private final BlobMeta meta;

    private BlobReader(BlobFile file, boolean ownsChannel, BlobInfo info) throws IOException {
        this(file, file, ownsChannel, info);
    }

    private BlobReader(BlobFile file, BlobFile data, boolean ownsChannel, BlobInfo info)
            throws IOException {
        this.file = file;
        this.data = data;
        this.ownsChannel = ownsChannel;
        this.info = info;
        this.meta = load();
    }

    /**
     * Opens the blob at {@code path}. Its id, for messages, is the file name up to the first '.'.
     *
     * @param info the blob's entry in a bootstrap's blob table, or null when unknown; when given,
     *     the blob must match it
     * @throws RafsFormatException if the blob is corrupt or does not match {@code info}
     */
    public static BlobReader open(Path path, BlobInfo info) throws IOException {
        String name = path.getFileName().toString();
        int dot = name.indexOf('.');
        String blobId = dot > 0 ? name.substring(0, dot) : name;
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
        try {
            return new BlobReader(new BlobFile(blobId, channel), true, info);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /**
     * Opens a ZRAN blob: its chunk data is the gzip layer at {@code dataPath}, and its CI table,
     * digests and ToC are in the ref blob at {@code refPath}.
     *
     * @param info the data blob's blob table entry
     * @throws RafsFormatException if the ref blob is corrupt or does not match {@code info}
     */
    public static BlobReader openZran(Path dataPath, Path refPath, BlobInfo info)
            throws IOException {
        String refName = refPath.getFileName().toString();
        FileChannel dataChannel = FileChannel.open(dataPath, StandardOpenOption.READ);
        FileChannel refChannel = null;
        try {
            refChannel = FileChannel.open(refPath, StandardOpenOption.READ);
            return new BlobReader(new BlobFile(refName, refChannel),
                    new BlobFile(info.blobId(), dataChannel), true, info);
        } catch (IOException | RuntimeException e) {
            dataChannel.close();
            if (refChannel != null) {
                refChannel.close();
            }
            throw e;
        }
    }

    /**
     * Reads a blob through an open channel, which {@link #close()} leaves open.
     *
     * @param blobId names the blob in messages
     * @param info the blob's blob table entry, or null when unknown
     * @throws RafsFormatException if the blob is corrupt or does not match {@code info}
     */
    public static BlobReader open(String blobId, FileChannel channel, BlobInfo info)
            throws IOException {
        return new BlobReader(new BlobFile(blobId, channel), false, info);
    }

    public BlobMeta meta() {
        return meta;
    }

    /** Returns the blob table entry given when opening, if any. */
    public Optional<BlobInfo> info() {
        return Optional.ofNullable(info);
    }

    private BlobMeta load() throws IOException {
        SectionLocator.Located located = SectionLocator.locate(file, info);
        CiLoad ci = loadCi(located);
        List<ChunkDigest> digests = loadDigests(located, ci.entries.size());
        return new BlobMeta(file.blobId(), file.size(), located.layout(), located.toc(),
                located.tocDigest(), located.sections(), ci.header, ci.entries, ci.v2, digests);
    }

    private record CiLoad(Optional<CiHeader> header, List<CiEntry> entries,
            Optional<CiTableV2> v2) {
    }

    private CiLoad loadCi(SectionLocator.Located located) throws IOException {
        BlobSection ci = located.sections().get(TocEntry.BLOB_META);
        if (ci == null) {
            if (info != null && info.chunkCount() > 0) {
                throw file.error("blob", 0, "the blob has no blob.meta section, but the blob"
                        + " table lists " + info.chunkCount() + " chunks");
            }
            return new CiLoad(Optional.empty(), List.of(), Optional.empty());
        }
        long headerAt = ci.offset() + ci.storedSize();
        CiHeader header = readCheckedHeader(located, ci, headerAt);
        byte[] stored = file.read("CI table", ci.offset(), ci.storedSize());
        String where = "blob " + file.blobId() + ": CI table at offset " + ci.offset();
        byte[] table = Decompression.decompress(ci.compression(), stored,
                header.ciUncompressedSize(), where);
        checkSha256("CI table", ci, table);
        if ((header.features() & BlobFeatures.CHUNK_INFO_V2) != 0) {
            // A ref blob opened alone has no gzip layer to check the places against.
            CiTableV2 v2 = CiTables.decodeV2(file, ci.offset(), table, header,
                    data == file ? null : data);
            List<CiEntry> places = v2.entries().stream().map(CiEntryV2::place).toList();
            return new CiLoad(Optional.of(header), places, Optional.of(v2));
        }
        return new CiLoad(Optional.of(header),
                CiTables.decodeEntries(file, ci.offset(), table, dataSize(located), info),
                Optional.empty());
    }

    private static long dataSize(SectionLocator.Located located) {
        BlobSection data = located.sections().get(TocEntry.IMAGE_BLOB);
        return data == null ? 0 : data.storedSize();
    }

    private CiHeader readCheckedHeader(SectionLocator.Located located, BlobSection ci,
            long headerAt) throws IOException {
        BlobSection headerSection = located.sections().get(TocEntry.BLOB_META_HEADER);
        if (headerSection != null && (headerSection.offset() != headerAt
                || headerSection.storedSize() != CiHeader.SIZE)) {
            throw file.error("section blob.meta.header", headerSection.offset(), "expected"
                    + " the 4096-byte CI header right after the CI table, at " + headerAt);
        }
        CiHeader header = SectionLocator.readCiHeader(file, headerAt);
        if (headerSection != null) {
            checkSha256("CI header", headerSection,
                    file.read("CI header", headerAt, CiHeader.SIZE));
        }
        CiTables.checkHeader(file, headerAt, header, ci, info, dataSize(located));
        return header;
    }

    private List<ChunkDigest> loadDigests(SectionLocator.Located located, int count)
            throws IOException {
        BlobSection section = located.sections().get(TocEntry.BLOB_DIGEST);
        if (section == null) {
            return List.of();
        }
        long expected = (long) ChunkDigest.SIZE * count;
        if (section.storedSize() != expected || section.size() != expected
                || section.compression() != Compressor.NONE) {
            throw file.error("section blob.digest", section.offset(), "expected " + expected
                    + " uncompressed bytes (32 per chunk for " + count + " chunks), found "
                    + section.storedSize() + " stored, " + section.size() + " uncompressed, "
                    + section.compression());
        }
        byte[] array = file.read("blob.digest", section.offset(), expected);
        checkSha256("chunk digest array", section, array);
        List<ChunkDigest> digests = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            digests.add(ChunkDigest.of(array, i * ChunkDigest.SIZE));
        }
        return digests;
    }

    private void checkSha256(String what, BlobSection section, byte[] content)
            throws RafsFormatException {
        if (section.sha256().isEmpty()) {
            return;
        }
        String actual = SectionLocator.sha256(content);
        if (!actual.equals(section.sha256().get())) {
            throw file.error(what, section.offset(), "sha256 " + actual
                    + " does not match the ToC's " + section.sha256().get());
        }
    }

    /**
     * Returns the bootstrap inlined in the blob ({@code image.boot}), decompressed and checked
     * against the ToC digest, or empty when the blob has none.
     *
     * @throws RafsFormatException if the section is corrupt
     */
    public Optional<byte[]> readBootstrap() throws IOException {
        BlobSection section = meta.sections().get(TocEntry.IMAGE_BOOT);
        if (section == null) {
            return Optional.empty();
        }
        String where = "blob " + file.blobId() + ": image.boot at offset " + section.offset();
        byte[] stored = file.read("image.boot", section.offset(), section.storedSize());
        byte[] bootstrap;
        if (meta.layout() == BlobMeta.Layout.TOC) {
            if (section.size() > BootstrapReader.MAX_SIZE) {
                throw file.error("image.boot", section.offset(), "declared size "
                        + section.size() + " is larger than a bootstrap can be");
            }
            bootstrap = Decompression.decompress(section.compression(), stored, section.size(),
                    where);
        } else if (section.compression() == Compressor.ZSTD) {
            bootstrap = Decompression.zstdUpTo(stored, BootstrapReader.MAX_SIZE, where);
        } else {
            bootstrap = stored;
        }
        checkSha256("image.boot", section, bootstrap);
        return Optional.of(bootstrap);
    }

    /**
     * Reads chunk {@code chunk} with the compressor and digester of the blob table entry given
     * when opening.
     *
     * @throws IllegalStateException if the blob was opened without its blob table entry
     * @throws RafsFormatException if the chunk's bytes are corrupt or do not match its digest
     */
    public byte[] readChunk(Chunk chunk) throws IOException {
        return readChunk(chunk, requireInfo().compressor(), requireInfo().digester());
    }

    /**
     * Reads a chunk described by a bootstrap, decompresses it and verifies its digest (and its
     * CRC-32C when the chunk has one). The chunk must agree with the blob's CI entry.
     *
     * @throws RafsFormatException if the chunk's bytes are corrupt or do not match its digest
     */
    public byte[] readChunk(Chunk chunk, Compressor compressor, DigestAlgorithm digester)
            throws IOException {
        if (!meta.ciEntries().isEmpty()) {
            checkAgainstCi(chunk);
        }
        ChunkRead read = new ChunkRead(chunk.index(), chunk.compressedOffset(),
                chunk.compressedSize(), chunk.uncompressedOffset(), chunk.uncompressedSize(),
                chunk.compressed(), chunk.digest(), chunk.hasCrc32(), chunk.crc32());
        return read(read, compressor, digester);
    }

    /**
     * Reads chunk number {@code index} of the CI table with the blob table entry's compressor
     * and digester. The digest is verified against {@code blob.digest} when the blob has one.
     *
     * @throws IllegalStateException if the blob was opened without its blob table entry
     */
    public byte[] readChunk(int index) throws IOException {
        return readChunk(index, requireInfo().compressor(), requireInfo().digester());
    }

    /**
     * Reads chunk number {@code index} of the CI table. Its digest is verified against the
     * blob's {@code blob.digest} array; blobs without that array (see {@link BlobMeta#digests()})
     * return the bytes unverified, so callers that need verification read through
     * {@link #readChunk(Chunk, Compressor, DigestAlgorithm)} with the bootstrap's chunk.
     *
     * @throws IllegalArgumentException if the CI table has no entry {@code index}
     */
    public byte[] readChunk(int index, Compressor compressor, DigestAlgorithm digester)
            throws IOException {
        if (index < 0 || index >= meta.ciEntries().size()) {
            throw new IllegalArgumentException("blob " + file.blobId() + " has "
                    + meta.ciEntries().size() + " chunks, there is no chunk " + index);
        }
        CiEntry e = meta.ciEntries().get(index);
        ChunkDigest digest = meta.digests().isEmpty() ? null : meta.digests().get(index);
        ChunkRead read = new ChunkRead(index, e.compressedOffset(), e.compressedSize(),
                e.uncompressedOffset(), e.uncompressedSize(), e.compressed(), digest, false, 0);
        return read(read, compressor, digester);
    }

    private BlobInfo requireInfo() {
        if (info == null) {
            throw new IllegalStateException("blob " + file.blobId() + " was opened without its"
                    + " blob table entry; pass the compressor and digester explicitly");
        }
        return info;
    }

    private void checkAgainstCi(Chunk chunk) throws RafsFormatException {
        if (chunk.index() >= meta.ciEntries().size()) {
            throw file.error("chunk " + chunk.index(), chunk.compressedOffset(), "the CI table"
                    + " has only " + meta.ciEntries().size() + " entries");
        }
        CiEntry e = meta.ciEntries().get(chunk.index());
        if (e.compressedOffset() != chunk.compressedOffset()
                || e.compressedSize() != chunk.compressedSize()
                || e.uncompressedOffset() != chunk.uncompressedOffset()
                || e.uncompressedSize() != chunk.uncompressedSize()) {
            throw file.error("chunk " + chunk.index(), chunk.compressedOffset(), "the bootstrap"
                    + " places it at compressed " + chunk.compressedOffset() + "+"
                    + chunk.compressedSize() + ", uncompressed " + chunk.uncompressedOffset()
                    + "+" + chunk.uncompressedSize() + ", but the CI table says "
                    + e.compressedOffset() + "+" + e.compressedSize() + ", "
                    + e.uncompressedOffset() + "+" + e.uncompressedSize());
        }
    }

    /** The location and expected content of one chunk. */
    private record ChunkRead(int index, long compressedOffset, int compressedSize,
            long uncompressedOffset, int uncompressedSize, boolean compressed,
            ChunkDigest digest, boolean hasCrc32, int crc32) {

        String describe() {
            return "chunk " + index + " (compressed offset " + compressedOffset + " size "
                    + compressedSize + ", uncompressed offset " + uncompressedOffset + " size "
                    + uncompressedSize + ")";
        }
    }

    private byte[] read(ChunkRead c, Compressor compressor, DigestAlgorithm digester)
            throws IOException {
        byte[] data = meta.ciTableV2().isPresent() ? inflateZran(c)
                : readStored(c, compressor);
        if (c.digest() != null) {
            byte[] actual = digester.digest(data, 0, data.length);
            if (!c.digest().matches(actual)) {
                throw this.data.error(c.describe(), c.compressedOffset(), digester + " digest "
                        + HexFormat.of().formatHex(actual) + " does not match the expected "
                        + c.digest());
            }
        }
        if (c.hasCrc32()) {
            CRC32C crc = new CRC32C();
            crc.update(data);
            if ((int) crc.getValue() != c.crc32()) {
                throw file.error(c.describe(), c.compressedOffset(), String.format("CRC-32C"
                        + " 0x%08x does not match the expected 0x%08x", crc.getValue(), c.crc32()));
            }
        }
        return data;
    }

    /**
     * Inflates a ZRAN chunk from its context, reading only that context's gzip bytes. The
     * whole context is inflated and kept in the {@link ZranContextCache}.
     */
    private byte[] inflateZran(ChunkRead c) throws IOException {
        CiTableV2 table = meta.ciTableV2().orElseThrow();
        CiEntryV2 e = table.entries().get(c.index());
        byte[] output = ZranContextCache.get(this, e.zranIndex());
        if (output == null) {
            output = inflateContext(table, c, e);
            ZranContextCache.put(this, e.zranIndex(), output);
        }
        int from = (int) e.zranOffset();
        return Arrays.copyOfRange(output, from, from + e.uncompressedSize());
    }

    private byte[] inflateContext(CiTableV2 table, ChunkRead c, CiEntryV2 e)
            throws IOException {
        ZranContext context = table.contexts().get(e.zranIndex());
        String what = c.describe() + " in ZRAN context " + e.zranIndex();
        byte[] input = data.read(what, context.inOffset(), context.inLength());
        try {
            return ZranInflater.inflate(context, input, 0, context.outLength(),
                    "blob " + data.blobId() + ": " + what);
        } catch (RafsFormatException ex) {
            throw ex;
        } catch (IOException ex) {
            throw data.error(what, context.inOffset(), ex.getMessage());
        }
    }

    private byte[] readStored(ChunkRead c, Compressor compressor) throws IOException {
        long dataSize = meta.chunkDataSize();
        if (c.compressedOffset() > dataSize || c.compressedSize() > dataSize
                - c.compressedOffset()) {
            throw file.error(c.describe(), c.compressedOffset(), "the stored bytes lie outside"
                    + " the blob's " + dataSize + " bytes of chunk data");
        }
        byte[] stored = file.read(c.describe(), c.compressedOffset(), c.compressedSize());
        return decompress(c, stored, compressor);
    }

    private byte[] decompress(ChunkRead c, byte[] stored, Compressor compressor)
            throws RafsFormatException {
        if (!c.compressed()) {
            if (c.compressedSize() != c.uncompressedSize()) {
                throw file.error(c.describe(), c.compressedOffset(), "a chunk stored raw must"
                        + " have equal compressed and uncompressed sizes");
            }
            return stored;
        }
        byte[] data = new byte[c.uncompressedSize()];
        try {
            compressor.decompress(stored, 0, stored.length, data, 0, data.length);
        } catch (RafsFormatException e) {
            throw file.error(c.describe(), c.compressedOffset(), compressor + ": "
                    + e.getMessage());
        } catch (ZstdException e) {
            // NOTE: Compressor.decompress lets zstd-jni's unchecked exception for corrupt
            // frames through, so it is translated here.
            throw file.error(c.describe(), c.compressedOffset(), "corrupt zstd data: "
                    + e.getMessage());
        }
        return data;
    }

    /**
     * Verifies every section against the SHA-256 in the ToC, including the chunk data (which
     * the ToC hashes together with its tar header) and the inlined bootstrap. With the blob
     * table entry given when opening, it also checks each section's tar header and that the
     * blob id is the SHA-256 of the blob without its digest array, which covers the stored
     * bytes of compressed sections. This reads the whole blob twice.
     *
     * @return false if the blob has no ToC, so there was nothing to verify against
     * @throws RafsFormatException on the first section whose digest does not match
     */
    public boolean verifySections() throws IOException {
        if (meta.layout() != BlobMeta.Layout.TOC) {
            return false;
        }
        BlobSection data = meta.sections().get(TocEntry.IMAGE_BLOB);
        if (data != null) {
            verifyChunkData(data);
        }
        readBootstrap();
        if (this.data != file) {
            verifyZranIds();
        } else if (info != null) {
            BlobIdCheck.verify(file, meta, info.blobId());
        }
        return true;
    }

    /**
     * Checks that the gzip layer's SHA-256 is the data blob's id and, when the blob table
     * names the ref blob, that the ref blob's id matches it.
     */
    private void verifyZranIds() throws IOException {
        MessageDigest md = DigestAlgorithm.newSha256();
        for (long pos = 0; pos < data.size(); pos += HASH_BUFFER) {
            md.update(data.read("gzip layer", pos, Math.min(HASH_BUFFER, data.size() - pos)));
        }
        String actual = HexFormat.of().formatHex(md.digest());
        if (!actual.equals(data.blobId())) {
            throw data.error("gzip layer", 0, "sha256 " + actual + " does not match the blob id");
        }
        if (info != null && !info.metaDigest().equals(BlobInfo.ZERO_DIGEST)) {
            BlobIdCheck.verify(file, meta, info.metaDigest());
        }
    }

    private void verifyChunkData(BlobSection data) throws IOException {
        long length = data.storedSize() + TarHeader.SIZE;
        if (!file.contains(0, length)) {
            throw file.error("image.blob", 0, "the chunk data and its tar header need "
                    + length + " bytes");
        }
        MessageDigest md = DigestAlgorithm.newSha256();
        for (long pos = 0; pos < length; pos += HASH_BUFFER) {
            md.update(file.read("image.blob", pos, Math.min(HASH_BUFFER, length - pos)));
        }
        String actual = HexFormat.of().formatHex(md.digest());
        if (!actual.equals(data.sha256().orElse(actual))) {
            throw file.error("image.blob", 0, "sha256 of the chunk data and its tar header "
                    + actual + " does not match the ToC's " + data.sha256().get());
        }
    }

    /** Closes the channel if this reader opened it. */
    @Override
    public void close() throws IOException {
        if (data != file) {
            ZranContextCache.drop(this);
        }
        if (ownsChannel) {
            try {
                file.channel().close();
            } finally {
                if (data != file) {
                    data.channel().close();
                }
            }
        }
    }
}
