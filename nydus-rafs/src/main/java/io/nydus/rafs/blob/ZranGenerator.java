package io.nydus.rafs.blob;

import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.RafsFormatException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Reads a gzip stream once and records where chunks of its inflated bytes can be inflated
 * again without the bytes before them. Inflation stops at every deflate block boundary and
 * remembers the latest one. When a chunk starts, it either joins the current ZRAN context or
 * opens a new one at that boundary, following upstream's generator. A new context starts
 * once the current one spans 512 KiB of input or 2 MiB of output with the next chunk. It also
 * starts when the input has grown past twice what the chunks need, or in a new gzip member.
 */
public final class ZranGenerator implements AutoCloseable {
    private static final int INPUT_BUFFER = 64 << 10;
    private static final int SKIP_BUFFER = 64 << 10;
    private static final long MIN_COMPRESSED = 512 << 10;
    private static final long MAX_COMPRESSED = 1 << 20;
    private static final long MAX_UNCOMPRESSED = 2 << 20;
    /** The largest compressed size that a version 2 CI entry's 24-bit field stores. */
    private static final long MAX_CHUNK_COMPRESSED = (1 << 24) - 1;

    private final InputStream source;
    private final String name;
    private final int chunkSize;
    private final ZlibStream stream;
    private final MessageDigest sourceHash = DigestAlgorithm.newSha256();
    private final MemorySegment input;
    private final MemorySegment skip;
    private final MemorySegment chunk;
    private final byte[] readBuffer = new byte[INPUT_BUFFER];
    private final MemorySegment window;
    private final MemorySegment windowLength;
    private final List<OpenContext> contexts = new ArrayList<>();
    private long fed;
    private long outPosition;
    private int lastInputByte;
    private int member;
    private Boundary block = new Boundary(0, 0, 0, 0, 0, 0);
    private byte[] blockDictionary = new byte[0];
    private boolean blockDictionaryStale;
    private OpenContext current;
    private long currentBlockStart = -1;
    private long uncompressedOffset;

    /** A deflate block boundary: positions, pending bits, the byte holding them, member. */
    private record Boundary(long in, long out, int bits, int previousByte, int member,
            int dictionaryLength) {
    }

    /** A context whose lengths grow with each chunk that joins it. */
    private static final class OpenContext {
        final Boundary start;
        final byte[] dictionary;
        long inLength;
        long outLength;

        OpenContext(Boundary start, byte[] dictionary) {
            this.start = start;
            this.dictionary = dictionary;
        }
    }

    /**
     * @param source the gzip stream, read to its end by {@link #finish}
     * @param name names the stream in messages
     * @param chunkSize the image's chunk size, which bounds a context's output with the next
     *     chunk
     */
    public ZranGenerator(InputStream source, String name, int chunkSize) throws IOException {
        this.source = source;
        this.name = name;
        this.chunkSize = chunkSize;
        this.stream = new ZlibStream(ZlibStream.GZIP);
        this.input = stream.allocate(INPUT_BUFFER);
        this.skip = stream.allocate(SKIP_BUFFER);
        this.chunk = stream.allocate(chunkSize);
        this.window = stream.allocate(ZranContext.MAX_DICTIONARY);
        this.windowLength = stream.allocate(4);
        stream.input(input, 0);
    }

    /** Returns the number of inflated bytes read so far. */
    public long position() {
        return outPosition;
    }

    /** Inflates and drops the bytes up to inflated offset {@code target}. */
    public void skipTo(long target) throws IOException {
        if (target < outPosition) {
            throw new IllegalArgumentException("cannot go back from " + outPosition + " to "
                    + target);
        }
        while (outPosition < target) {
            int length = (int) Math.min(SKIP_BUFFER, target - outPosition);
            produce(skip, length);
        }
    }

    /**
     * Reads the next {@code length} inflated bytes into {@code target} without making them a
     * chunk, as for a chunk whose content an earlier chunk already has.
     */
    public void read(byte[] target, int length) throws IOException {
        checkLength(length);
        produce(chunk, length);
        MemorySegment.copy(chunk, ValueLayout.JAVA_BYTE, 0, target, 0, length);
    }

    private void checkLength(int length) {
        if (length > chunkSize) {
            throw new IllegalArgumentException("chunk of " + length + " bytes is larger than"
                    + " the chunk size " + chunkSize);
        }
    }

    /**
     * Reads the next {@code length} inflated bytes as one chunk into {@code target} and returns
     * the chunk's CI entry.
     */
    public CiEntryV2 readChunk(byte[] target, int length) throws IOException {
        int context = beginChunk();
        long inStart = inPosition();
        long outStart = outPosition;
        checkLength(length);
        produce(chunk, length);
        MemorySegment.copy(chunk, ValueLayout.JAVA_BYTE, 0, target, 0, length);
        current.inLength = inPosition() - current.start.in();
        current.outLength = outPosition - current.start.out();
        long compressedSize = inPosition() - inStart;
        checkChunk(outStart, compressedSize);
        checkContext(context);
        CiEntryV2 entry = CiEntryV2.zran(inStart, (int) compressedSize, uncompressedOffset,
                length, context, outStart - current.start.out());
        uncompressedOffset += (length + 4095L) & ~4095L;
        return entry;
    }

    /** Rejects a chunk whose compressed span does not fit the 24-bit CI entry field. */
    private void checkChunk(long outStart, long compressedSize) throws RafsFormatException {
        if (compressedSize > MAX_CHUNK_COMPRESSED) {
            throw new RafsFormatException(name + ": chunk at inflated offset " + outStart
                    + " spans " + compressedSize + " compressed bytes, more than the "
                    + MAX_CHUNK_COMPRESSED + " that a CI entry stores; use a smaller chunk"
                    + " size");
        }
    }

    /**
     * Rejects a context that readers would reject. Contexts are split at block boundaries, so
     * only a deflate block of hundreds of MiB of output makes a context this large.
     */
    private void checkContext(int index) throws RafsFormatException {
        boolean tooLong = current.outLength > CiTableV2.MAX_OUT_LENGTH
                || current.inLength > CiTableV2.MAX_IN_LENGTH;
        if (tooLong) {
            throw new RafsFormatException(name + ": ZRAN context " + index + " at compressed"
                    + " offset " + current.start.in() + " spans " + current.inLength
                    + " compressed and " + current.outLength + " inflated bytes without a"
                    + " deflate block boundary, above the limit of " + CiTableV2.MAX_OUT_LENGTH
                    + " bytes that readers inflate for one context");
        }
    }

    /** Returns the uncompressed size of the blob: every chunk rounded up to 4 KiB. */
    public long uncompressedSize() {
        return uncompressedOffset;
    }

    /** Returns the contexts of the chunks read so far. */
    public List<ZranContext> contexts() {
        List<ZranContext> result = new ArrayList<>(contexts.size());
        for (OpenContext c : contexts) {
            result.add(new ZranContext(c.start.in(), c.start.out(), (int) c.inLength,
                    (int) c.outLength, c.start.previousByte(), c.start.bits(), c.dictionary));
        }
        return result;
    }

    /**
     * Reads the rest of the gzip stream without inflating it and returns its size and
     * SHA-256, which name the stream as a blob.
     */
    public Digest finish() throws IOException {
        long size = fed;
        for (int n; (n = source.read(readBuffer)) > 0; ) {
            sourceHash.update(readBuffer, 0, n);
            size += n;
        }
        return new Digest(size, HexFormat.of().formatHex(sourceHash.digest()));
    }

    /** The size and hex SHA-256 of the whole gzip stream. */
    public record Digest(long size, String sha256) {
    }

    private long inPosition() {
        return fed - stream.availIn();
    }

    private int beginChunk() throws IOException {
        if (current != null) {
            long compressed = inPosition() - current.start.in();
            long uncompressed = outPosition - current.start.out();
            boolean first = block.in() == currentBlockStart;
            boolean enough = !first && (compressed >= MAX_COMPRESSED / 2
                    || uncompressed + chunkSize >= MAX_UNCOMPRESSED);
            boolean sparse = !first && compressed > 2 * current.inLength
                    && current.inLength > MIN_COMPRESSED;
            if (block.member() == current.start.member() && !enough && !sparse) {
                return contexts.size() - 1;
            }
        }
        current = new OpenContext(block, blockDictionary());
        contexts.add(current);
        currentBlockStart = block.in();
        if (contexts.size() > (1 << 24)) {
            throw new RafsFormatException(name + ": more than 2^24 ZRAN contexts");
        }
        return contexts.size() - 1;
    }

    private byte[] blockDictionary() {
        if (blockDictionaryStale) {
            blockDictionary = window.asSlice(0, block.dictionaryLength())
                    .toArray(ValueLayout.JAVA_BYTE);
            blockDictionaryStale = false;
        }
        return blockDictionary;
    }

    /** Inflates exactly {@code length} bytes into {@code out}, noting block boundaries. */
    private void produce(MemorySegment out, int length) throws IOException {
        stream.output(out, length);
        while (stream.availOut() > 0) {
            if (stream.availIn() == 0 && !refill()) {
                throw new RafsFormatException(name + ": the gzip stream ends at inflated offset "
                        + (outPosition + length - stream.availOut()) + ", inside the tar data");
            }
            int before = stream.availOut();
            int result = stream.inflate(ZlibStream.Z_BLOCK);
            outPosition += before - stream.availOut();
            if (result == ZlibStream.Z_STREAM_END) {
                stream.reset(ZlibStream.GZIP);
                member++;
            } else if (result == ZlibStream.Z_OK) {
                noteBoundary();
            } else if (result != ZlibStream.Z_BUF_ERROR || stream.availIn() > 0) {
                throw new RafsFormatException(name + ": invalid gzip data near compressed offset "
                        + inPosition() + " (zlib error " + result + ")");
            }
        }
    }

    private void noteBoundary() throws IOException {
        int type = stream.dataType();
        if ((type & ZlibStream.AT_BLOCK_BOUNDARY) == 0) {
            return;
        }
        int bits = type & 7;
        int previous = bits == 0 ? 0 : previousByte();
        int dictionary = stream.dictionary(window, windowLength);
        block = new Boundary(inPosition(), outPosition, bits, previous, member, dictionary);
        blockDictionaryStale = true;
    }

    private int previousByte() {
        long index = stream.nextIn() - input.address() - 1;
        return index < 0 ? lastInputByte : input.get(ValueLayout.JAVA_BYTE, index) & 0xFF;
    }

    private boolean refill() throws IOException {
        long consumed = stream.nextIn() - input.address();
        if (consumed > 0) {
            lastInputByte = input.get(ValueLayout.JAVA_BYTE, consumed - 1) & 0xFF;
        }
        int n = source.readNBytes(readBuffer, 0, INPUT_BUFFER);
        if (n <= 0) {
            return false;
        }
        sourceHash.update(readBuffer, 0, n);
        MemorySegment.copy(readBuffer, 0, input, ValueLayout.JAVA_BYTE, 0, n);
        stream.input(input, n);
        fed += n;
        return true;
    }

    @Override
    public void close() {
        stream.close();
    }
}
