package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Inflates part of a gzip stream from a ZRAN context: the context's compressed bytes are
 * inflated as raw deflate data, primed with the bits of the byte before them and the 32 KiB
 * dictionary of earlier output. A context may run across the end of one gzip member into the
 * next, so a member's trailer and the next member's header are skipped on the way.
 */
public final class ZranInflater {
    private static final int GZIP_TRAILER = 8;

    private ZranInflater() {
    }

    /**
     * Returns {@code size} bytes of the context's output, from {@code offset} on.
     *
     * @param input the context's {@code inLength} compressed bytes
     * @param where names the blob and chunk in messages
     * @throws RafsFormatException if the input does not inflate to that many bytes
     */
    public static byte[] inflate(ZranContext context, byte[] input, long offset, int size,
            String where) throws IOException {
        if (input.length != context.inLength()) {
            throw new IllegalArgumentException(where + ": " + input.length + " input bytes for"
                    + " a context of " + context.inLength());
        }
        if (offset < 0 || offset + size > context.outLength()) {
            throw new IllegalArgumentException(where + ": output range " + offset + "+" + size
                    + " leaves the context's " + context.outLength() + " bytes");
        }
        long needed = offset + size;
        try (ZlibStream stream = new ZlibStream(ZlibStream.RAW)) {
            MemorySegment in = stream.allocate(input.length);
            MemorySegment.copy(input, 0, in, ValueLayout.JAVA_BYTE, 0, input.length);
            MemorySegment out = stream.allocate(needed);
            start(stream, context);
            stream.input(in, input.length);
            stream.output(out, needed);
            run(stream, needed, where);
            byte[] data = new byte[size];
            MemorySegment.copy(out, ValueLayout.JAVA_BYTE, offset, data, 0, size);
            return data;
        }
    }

    private static void start(ZlibStream stream, ZranContext context) throws IOException {
        if (context.ctxBits() != 0) {
            stream.prime(context.ctxBits(), context.ctxByte() >> (8 - context.ctxBits()));
        }
        if (context.dictionarySize() > 0) {
            stream.setDictionary(context.dictionaryView());
        }
    }

    private static void run(ZlibStream stream, long needed, String where) throws IOException {
        while (stream.availOut() > 0) {
            int result = stream.inflate(ZlibStream.Z_NO_FLUSH);
            if (stream.availOut() == 0) {
                return;
            }
            if (result == ZlibStream.Z_STREAM_END) {
                nextMember(stream, where);
            } else if (result != ZlibStream.Z_OK || stream.availIn() == 0) {
                throw new RafsFormatException(where + ": the gzip data inflated to "
                        + (needed - stream.availOut()) + " of the " + needed + " bytes needed"
                        + (result == ZlibStream.Z_OK || result == ZlibStream.Z_BUF_ERROR
                        ? " before its compressed bytes ended" : " (zlib error " + result + ")"));
            }
        }
    }

    /** Skips a member's trailer and the next member's header, and inflates raw data again. */
    private static void nextMember(ZlibStream stream, String where) throws IOException {
        if (stream.availIn() < GZIP_TRAILER) {
            throw new RafsFormatException(where + ": a gzip member ends without its 8-byte"
                    + " trailer inside the context's compressed bytes");
        }
        stream.skipInput(GZIP_TRAILER);
        stream.reset(ZlibStream.GZIP);
        while (true) {
            int result = stream.inflate(ZlibStream.Z_BLOCK);
            if (result != ZlibStream.Z_OK) {
                throw new RafsFormatException(where + ": invalid gzip member header after a"
                        + " member's end (zlib result " + result + ")");
            }
            if ((stream.dataType() & ZlibStream.AT_BLOCK_BOUNDARY) != 0) {
                break;
            }
        }
        stream.reset(ZlibStream.RAW);
    }
}
