package io.nydus.tar;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.SequencedMap;

/**
 * A streaming reader of a tar archive: {@link #next()} returns one entry at a time and {@link
 * #content()} streams the current entry's bytes. Memory stays bounded: entry data is never held,
 * PAX and long name headers are capped at {@link #MAX_HEADER_DATA} bytes, and a sparse map at
 * 2^20 segments.
 *
 * <p>Reads v7, POSIX ustar and pax (global {@code 'g'} and per-entry {@code 'x'} headers), star,
 * and GNU archives (long names {@code 'L'}/{@code 'K'}, base-256 numbers, old and PAX sparse
 * files). Like Go's archive/tar, which container tools use, hard link, symlink, device, directory
 * and FIFO headers have no data, regardless of their size field.
 *
 * <p>Create one with {@link TarArchive#open}. Not thread-safe. Closing the reader closes the
 * stream it reads.
 */
public final class TarReader implements Closeable {

    /** The maximum size of a PAX or GNU long name header, and of all such headers of one entry. */
    public static final int MAX_HEADER_DATA = 16 << 20;

    private final TarInput input;
    private final Compression compression;
    private final EntryContext context = new EntryContext();
    private final byte[] block = new byte[HeaderBlock.SIZE];
    private final SequencedMap<Bytes, Bytes> globalRecords = new LinkedHashMap<>();
    private long globalBytes;
    private boolean ignoreGlobalHeaders;
    private int ignoredGlobalHeaders;
    /**
     * The hash of the uncompressed stream, or null when it is not asked for. It is updated on
     * the read-ahead thread and read once the stream has ended.
     */
    private final MessageDigest uncompressedDigest;
    private String uncompressedSha256;

    private int nextIndex;
    private TarEntry current;
    private EntryContent content;
    private long storedRemaining;
    private long paddingRemaining;
    private boolean ended;
    private boolean closed;
    /** The error that ended reading, after which the position in the stream is unknown. */
    private IOException failure;

    TarReader(InputStream decompressed, Compression compression, boolean digest) {
        this.uncompressedDigest = digest ? sha256() : null;
        InputStream source = digest ? new DigestInputStream(decompressed, uncompressedDigest)
                : decompressed;
        this.input = new TarInput(new ReadAheadStream(source), compression, context);
        this.compression = compression;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    /**
     * Makes the reader skip global PAX headers instead of applying them to the entries after
     * them, as containerd does when it unpacks an image layer. Call before {@link #next()}.
     */
    public TarReader ignoreGlobalHeaders() {
        ignoreGlobalHeaders = true;
        return this;
    }

    /** Returns how many global PAX headers {@link #ignoreGlobalHeaders} skipped so far. */
    public int ignoredGlobalHeaders() {
        return ignoredGlobalHeaders;
    }

    /**
     * Returns the SHA-256 of the uncompressed tar stream in hex, which is an image layer's
     * diff ID, once {@link #next()} has returned null. It is empty before that, and for a
     * reader that {@link TarArchive#openHashing} did not open.
     */
    public Optional<String> uncompressedSha256() {
        if (!ended || uncompressedDigest == null) {
            return Optional.empty();
        }
        if (uncompressedSha256 == null) {
            uncompressedSha256 = HexFormat.of().formatHex(uncompressedDigest.digest());
        }
        return Optional.of(uncompressedSha256);
    }

    /** Returns the compression of the stream, detected or given to {@link TarArchive#open}. */
    public Compression compression() {
        return compression;
    }

    /**
     * Moves to the next entry, skipping what is left of the current one.
     *
     * <p>At the end of the archive (two zero blocks, or the end of the stream after one) the rest
     * of the stream is read and discarded, so that gzip and zstd checksums are checked and a
     * digest computed over the source covers every byte.
     *
     * <p>A gzip or zstd stream may also end right after an entry, without end-of-archive blocks,
     * as Go's archive/tar and GNU tar accept: the decompressor has then checked that the stream
     * is complete. A plain stream that ends there is reported as truncated, because nothing
     * distinguishes a complete archive from one cut at an entry boundary.
     *
     * @return the entry, or null at the end of the archive; an empty stream is an empty archive
     * @throws TarFormatException if the archive is corrupt, truncated or uses an unsupported
     *     entry type; the message names the entry, the offset, the field and the value
     * @throws IOException if the source stream fails
     * @throws IllegalStateException if the reader is closed or an earlier call failed
     */
    public TarEntry next() throws IOException {
        ensureUsable();
        if (ended) {
            return null;
        }
        try {
            return readNext();
        } catch (IOException e) {
            failure = e;
            throw e;
        }
    }

    private TarEntry readNext() throws IOException {
        skipRestOfEntry();
        current = null;
        content = null;
        context.clearName();
        PendingHeaders pending = new PendingHeaders();
        while (true) {
            HeaderBlock header = readHeader(pending);
            if (header == null) {
                finishArchive();
                return null;
            }
            switch (header.typeFlag()) {
                // A second extended header replaces the first, as Go's archive/tar reads
                // them, so the entry is the one that containerd unpacks from the layer.
                case 'x', 'X' -> pending.records = readRecords(header, pending);
                case 'g' -> readGlobal(header);
                case 'L' -> pending.longName = readLongName(header, pending);
                case 'K' -> pending.longLinkName = readLongName(header, pending);
                default -> {
                    current = assemble(header, pending);
                    nextIndex++;
                    return current;
                }
            }
        }
    }

    /**
     * Returns the current entry's content: exactly {@link TarEntry#size()} bytes, with zeros for
     * the holes of a sparse file. Skipping over a hole costs nothing. The stream is valid until
     * the next call of {@link #next()}; closing it does nothing.
     *
     * @throws IllegalStateException if there is no current entry
     */
    public InputStream content() {
        ensureUsable();
        if (current == null) {
            throw new IllegalStateException("no current tar entry: call next() first");
        }
        return content;
    }

    /** Closes the reader and the stream it reads. */
    @Override
    public void close() throws IOException {
        if (!closed) {
            closed = true;
            input.close();
        }
    }

    private void ensureUsable() {
        if (closed) {
            throw new IllegalStateException("tar reader is closed");
        }
        if (failure != null) {
            throw new IllegalStateException("tar reader cannot go on after an error: "
                    + failure.getMessage(), failure);
        }
    }

    /** Reads the next header block; returns null at the end of the archive. */
    private HeaderBlock readHeader(PendingHeaders pending) throws IOException {
        long offset = input.offset();
        context.startHeader(nextIndex, offset);
        int count = input.readFully(block, 0, block.length);
        if (count == 0) {
            if (offset == 0 || (pending.isEmpty() && compression != Compression.NONE)) {
                return null;
            }
            throw context.truncated(offset, pending.isEmpty()
                    ? "end-of-archive blocks missing"
                    : "the entry after its PAX or long name headers is missing");
        }
        if (count < block.length) {
            throw context.truncated(offset + count, "header block incomplete");
        }
        if (HeaderBlock.isZero(block)) {
            if (!pending.isEmpty()) {
                throw context.error("end of archive right after PAX or long name headers");
            }
            readSecondZeroBlock();
            return null;
        }
        return HeaderBlock.parse(block, context);
    }

    /** Checks what follows a first zero block: a second one or the end of the stream. */
    private void readSecondZeroBlock() throws IOException {
        long offset = input.offset();
        int count = input.readFully(block, 0, block.length);
        if (count == 0) {
            return;
        }
        if (count < block.length) {
            throw context.truncated(offset + count, "second end-of-archive block incomplete");
        }
        if (!HeaderBlock.isZero(block)) {
            throw context.error("a single zero block is followed by data at offset "
                    + EntryContext.hex(offset) + "; a tar archive ends with two zero blocks");
        }
    }

    private void finishArchive() throws IOException {
        input.drain();
        ended = true;
    }

    private void skipRestOfEntry() throws IOException {
        long remaining = storedRemaining + paddingRemaining;
        if (remaining == 0) {
            return;
        }
        long skipped = input.skip(remaining);
        storedRemaining = 0;
        paddingRemaining = 0;
        if (skipped < remaining) {
            throw context.truncated(input.offset(),
                    (remaining - skipped) + " bytes of entry data and padding missing");
        }
    }

    /**
     * Reads the data of a PAX or GNU long name header, with its padding.
     *
     * @param pending the entry the header belongs to, whose header data is capped as a whole;
     *     null for a global PAX header, which is capped by {@link #applyGlobal}
     */
    private byte[] readHeaderData(HeaderBlock header, PendingHeaders pending) throws IOException {
        long size = header.numeric(HeaderBlock.Field.SIZE, context);
        if (size < 0 || size > MAX_HEADER_DATA) {
            throw context.error("header of type '" + (char) header.typeFlag() + "' has " + size
                    + " bytes of data, outside the limit of 0 to " + MAX_HEADER_DATA);
        }
        if (pending != null) {
            pending.headers++;
            pending.headerBytes += size;
            if (pending.headerBytes > MAX_HEADER_DATA) {
                throw context.error("PAX and long name headers of one entry exceed "
                        + MAX_HEADER_DATA + " bytes");
            }
        }
        context.name(header.name());
        byte[] data = new byte[(int) size];
        int count = input.readFully(data, 0, data.length);
        if (count < data.length) {
            throw context.truncated(input.offset(),
                    (data.length - count) + " bytes of header data missing");
        }
        long padding = padding(size);
        if (input.skip(padding) < padding) {
            throw context.truncated(input.offset(), "padding after header data missing");
        }
        return data;
    }

    private List<PaxRecords.Record> readRecords(HeaderBlock header, PendingHeaders pending)
            throws IOException {
        return PaxRecords.parse(readHeaderData(header, pending), context);
    }

    private Bytes readLongName(HeaderBlock header, PendingHeaders pending) throws IOException {
        byte[] data = readHeaderData(header, pending);
        int end = 0;
        while (end < data.length && data[end] != 0) {
            end++;
        }
        return Bytes.of(data, 0, end);
    }

    private void readGlobal(HeaderBlock header) throws IOException {
        List<PaxRecords.Record> records = readRecords(header, null);
        if (ignoreGlobalHeaders) {
            ignoredGlobalHeaders++;
        } else {
            applyGlobal(records);
        }
    }

    /** Applies a global PAX header: an empty value removes the key, except for xattrs. */
    private void applyGlobal(List<PaxRecords.Record> records) throws TarFormatException {
        for (PaxRecords.Record record : records) {
            Bytes previous = record.value().isEmpty() && !isXattrKey(record.key())
                    ? globalRecords.remove(record.key())
                    : globalRecords.put(record.key(), record.value());
            globalBytes += record.key().length() + record.value().length();
            if (previous != null) {
                globalBytes -= record.key().length() + previous.length();
            }
        }
        if (globalBytes > MAX_HEADER_DATA) {
            throw context.error("global PAX records exceed " + MAX_HEADER_DATA + " bytes");
        }
    }

    private static boolean isXattrKey(Bytes key) {
        return key.startsWith(Bytes.ofUtf8("SCHILY.xattr."))
                || key.startsWith(Bytes.ofUtf8("LIBARCHIVE.xattr."));
    }

    /** Builds the entry of {@code header} and positions the input at its data. */
    private TarEntry assemble(HeaderBlock header, PendingHeaders pending) throws IOException {
        PaxAttributes pax = new PaxAttributes();
        for (var global : globalRecords.entrySet()) {
            pax.apply(new PaxRecords.Record(global.getKey(), global.getValue()), context);
        }
        for (PaxRecords.Record record : pending.records) {
            pax.apply(record, context);
        }
        EntryFields fields = new EntryFields(header, pending.longName, pending.longLinkName, pax,
                context);
        context.name(fields.name());
        EntryType type = fields.type();
        long storedSize = fields.storedSize(type);
        Layout layout = layout(header, pax, fields, type, storedSize);

        storedRemaining = layout.dataSize();
        paddingRemaining = padding(storedSize);
        TarEntry entry = fields.toEntry(type, layout.size(), layout.segments(), nextIndex);
        content = new EntryContent(entry);
        return entry;
    }

    /**
     * The logical size and data segments of an entry, and the stored bytes of segment data that
     * follow in the stream.
     */
    private record Layout(long size, List<SparseSegment> segments, long dataSize) {}

    /** Returns the entry's layout, reading a sparse map that precedes the data. */
    private Layout layout(HeaderBlock header, PaxAttributes pax, EntryFields fields,
            EntryType type, long storedSize) throws IOException {
        if (header.typeFlag() == 'S') {
            SparseMaps.Pairs pairs = SparseMaps.readOldGnu(header, input, context);
            long realSize = header.numeric(HeaderBlock.Field.REAL_SIZE, context);
            return sparseLayout(pairs, realSize, storedSize);
        }
        if (pax.hasSparseRecords()) {
            if (type != EntryType.FILE) {
                throw context.error("GNU sparse records on an entry of type " + type);
            }
            boolean version1 = fields.isSparseVersion1();
            long realSize = fields.sparseRealSize(version1);
            if (!version1) {
                return sparseLayout(SparseMaps.readPax0(pax, context), realSize, storedSize);
            }
            SparseMaps.Pax1Map map = SparseMaps.readPax1(input, storedSize, context);
            return sparseLayout(map.pairs(), realSize, storedSize - map.mapBytes());
        }
        if (type == EntryType.FILE && storedSize > 0) {
            return new Layout(storedSize, List.of(new SparseSegment(0, storedSize)), storedSize);
        }
        // A directory written as a regular file with a trailing slash may still store data.
        return new Layout(0, List.of(), storedSize);
    }

    private Layout sparseLayout(SparseMaps.Pairs pairs, long realSize, long dataSize)
            throws TarFormatException {
        return new Layout(realSize, SparseMaps.validate(pairs, realSize, dataSize, context),
                dataSize);
    }

    private static long padding(long size) {
        return (HeaderBlock.SIZE - size % HeaderBlock.SIZE) % HeaderBlock.SIZE;
    }

    /** The headers read so far for the next entry. */
    private static final class PendingHeaders {
        List<PaxRecords.Record> records = List.of();
        Bytes longName;
        Bytes longLinkName;
        int headers;
        long headerBytes;

        boolean isEmpty() {
            return headers == 0;
        }
    }

    /** The content of the current entry, from its data segments and zeros for holes. */
    private final class EntryContent extends InputStream {
        private final TarEntry entry;
        private final List<SparseSegment> segments;
        private int segmentIndex;
        private long position;

        EntryContent(TarEntry entry) {
            this.entry = entry;
            this.segments = entry.dataSegments();
        }

        @Override
        public int read() throws IOException {
            byte[] single = new byte[1];
            int count = read(single, 0, 1);
            return count < 0 ? -1 : single[0] & 0xff;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            ensureCurrent();
            Objects.checkFromIndexSize(offset, length, buffer.length);
            if (position >= entry.size()) {
                return -1;
            }
            if (length == 0) {
                return 0;
            }
            SparseSegment segment = currentSegment();
            if (segment == null || position < segment.offset()) {
                long holeEnd = segment == null ? entry.size() : segment.offset();
                int count = (int) Math.min(length, holeEnd - position);
                Arrays.fill(buffer, offset, offset + count, (byte) 0);
                position += count;
                return count;
            }
            int chunk = (int) Math.min(length, segment.end() - position);
            int count = readData(buffer, offset, chunk);
            position += count;
            return count;
        }

        @Override
        public long skip(long count) throws IOException {
            ensureCurrent();
            long target = position + Math.min(Math.max(count, 0), entry.size() - position);
            long start = position;
            while (position < target) {
                SparseSegment segment = currentSegment();
                if (segment == null || position < segment.offset()) {
                    position = segment == null ? target : Math.min(target, segment.offset());
                    continue;
                }
                long step = Math.min(target, segment.end()) - position;
                long skipped = skipData(step);
                position += skipped;
            }
            return position - start;
        }

        @Override
        public int available() {
            return 0;
        }

        private int readData(byte[] buffer, int offset, int length) throws IOException {
            try {
                int count = input.read(buffer, offset, length);
                if (count < 0) {
                    throw context.truncated(input.offset(), storedRemaining
                            + " bytes of entry data missing");
                }
                storedRemaining -= count;
                return count;
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        private long skipData(long length) throws IOException {
            try {
                long skipped = input.skip(length);
                storedRemaining -= skipped;
                if (skipped < length) {
                    throw context.truncated(input.offset(), storedRemaining
                            + " bytes of entry data missing");
                }
                return skipped;
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        /** Returns the segment that contains or follows the position, or null after the last. */
        private SparseSegment currentSegment() {
            while (segmentIndex < segments.size()
                    && segments.get(segmentIndex).end() <= position) {
                segmentIndex++;
            }
            return segmentIndex < segments.size() ? segments.get(segmentIndex) : null;
        }

        private void ensureCurrent() {
            ensureUsable();
            if (current != entry) {
                throw new IllegalStateException("content of " + entry.describe()
                        + " read after the reader moved on");
            }
        }
    }
}
