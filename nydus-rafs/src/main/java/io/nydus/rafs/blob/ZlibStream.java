package io.nydus.rafs.blob;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * One zlib inflate stream ({@code z_stream}) of the system's {@code libz.so.1}, called through
 * the FFM API. {@link java.util.zip.Inflater} cannot stop at deflate block boundaries, report
 * the bit position there, or start inflating at a bit offset, which ZRAN random access needs.
 * The stream and its buffers live in a confined arena, so one thread uses an instance.
 */
final class ZlibStream implements AutoCloseable {
    static final int Z_OK = 0;
    static final int Z_STREAM_END = 1;
    static final int Z_BUF_ERROR = -5;
    static final int Z_NO_FLUSH = 0;
    static final int Z_BLOCK = 5;
    /** Window bits for a raw deflate stream with a 32 KiB window. */
    static final int RAW = -15;
    /** Window bits for a gzip stream with a 32 KiB window. */
    static final int GZIP = 31;
    /** The {@code data_type} bit set when inflate stopped at a block boundary or header end. */
    static final int AT_BLOCK_BOUNDARY = 0x80;

    // Offsets in the LP64 z_stream struct, which is 112 bytes.
    private static final long NEXT_IN = 0;
    private static final long AVAIL_IN = 8;
    private static final long NEXT_OUT = 24;
    private static final long AVAIL_OUT = 32;
    private static final long DATA_TYPE = 88;
    private static final long STRUCT_SIZE = 112;

    private final Arena arena = Arena.ofConfined();
    private final MemorySegment stream;
    private boolean open;

    /** Returns a stream that inflates data in the format that {@code windowBits} selects. */
    ZlibStream(int windowBits) throws IOException {
        stream = arena.allocate(STRUCT_SIZE, 8);
        try {
            MemorySegment version = Native.call(Native.ZLIB_VERSION);
            check(Native.callInt(Native.INFLATE_INIT2, stream, windowBits, version,
                    (int) STRUCT_SIZE), "inflateInit2");
        } catch (IOException | RuntimeException e) {
            // The caller gets no stream to close, so the native memory is freed here.
            arena.close();
            throw e;
        }
        open = true;
    }

    /** Allocates a native buffer that lives as long as this stream. */
    MemorySegment allocate(long size) {
        return arena.allocate(Math.max(1, size));
    }

    void input(MemorySegment buffer, long length) {
        stream.set(ValueLayout.ADDRESS, NEXT_IN, buffer);
        stream.set(ValueLayout.JAVA_INT, AVAIL_IN, (int) length);
    }

    /** Skips {@code count} bytes of the pending input. */
    void skipInput(int count) {
        MemorySegment next = stream.get(ValueLayout.ADDRESS, NEXT_IN);
        stream.set(ValueLayout.ADDRESS, NEXT_IN, MemorySegment.ofAddress(next.address() + count));
        stream.set(ValueLayout.JAVA_INT, AVAIL_IN, availIn() - count);
    }

    void output(MemorySegment buffer, long length) {
        stream.set(ValueLayout.ADDRESS, NEXT_OUT, buffer);
        stream.set(ValueLayout.JAVA_INT, AVAIL_OUT, (int) length);
    }

    int availIn() {
        return stream.get(ValueLayout.JAVA_INT, AVAIL_IN);
    }

    int availOut() {
        return stream.get(ValueLayout.JAVA_INT, AVAIL_OUT);
    }

    /** Returns the address of the next input byte. */
    long nextIn() {
        return stream.get(ValueLayout.ADDRESS, NEXT_IN).address();
    }

    int dataType() {
        return stream.get(ValueLayout.JAVA_INT, DATA_TYPE);
    }

    /** Runs inflate and returns zlib's result code, which the caller interprets. */
    int inflate(int flush) throws IOException {
        try {
            return (int) Native.INFLATE.invokeExact(stream, flush);
        } catch (Throwable e) {
            throw new IOException("zlib inflate call failed: " + e, e);
        }
    }

    /** Starts a new stream in the format that {@code windowBits} selects. */
    void reset(int windowBits) throws IOException {
        check(Native.callInt(Native.INFLATE_RESET2, stream, windowBits), "inflateReset2");
    }

    /** Inserts the low {@code bits} bits of {@code value} before the next input byte. */
    void prime(int bits, int value) throws IOException {
        check(Native.callInt(Native.INFLATE_PRIME, stream, bits, value), "inflatePrime");
    }

    void setDictionary(byte[] dictionary) throws IOException {
        MemorySegment copy = arena.allocate(Math.max(1, dictionary.length));
        MemorySegment.copy(dictionary, 0, copy, ValueLayout.JAVA_BYTE, 0, dictionary.length);
        check(Native.callInt(Native.INFLATE_SET_DICTIONARY, stream, copy, dictionary.length),
                "inflateSetDictionary");
    }

    /** Copies the current window, up to 32 KiB of the latest output, into {@code target}. */
    int dictionary(MemorySegment target, MemorySegment length) throws IOException {
        check(Native.callInt(Native.INFLATE_GET_DICTIONARY, stream, target, length),
                "inflateGetDictionary");
        return length.get(ValueLayout.JAVA_INT, 0);
    }

    private static void check(int result, String function) throws IOException {
        if (result != Z_OK) {
            throw new IOException("zlib " + function + " failed with code " + result);
        }
    }

    @Override
    public void close() {
        if (open) {
            open = false;
            try {
                Native.callInt(Native.INFLATE_END, stream);
            } catch (IOException e) {
                // Only the downcall itself can throw here, and closing the arena below frees
                // the stream's memory all the same.
            }
        }
        arena.close();
    }

    /** The downcall handles, linked when the first stream is made. */
    private static final class Native {
        private static final Linker LINKER = Linker.nativeLinker();
        private static final SymbolLookup LIBZ =
                SymbolLookup.libraryLookup("libz.so.1", Arena.global());
        private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
        private static final ValueLayout ADDRESS = ValueLayout.ADDRESS;

        static final MethodHandle ZLIB_VERSION = handle("zlibVersion",
                FunctionDescriptor.of(ADDRESS));
        static final MethodHandle INFLATE_INIT2 = handle("inflateInit2_",
                FunctionDescriptor.of(INT, ADDRESS, INT, ADDRESS, INT));
        static final MethodHandle INFLATE = handle("inflate",
                FunctionDescriptor.of(INT, ADDRESS, INT));
        static final MethodHandle INFLATE_END = handle("inflateEnd",
                FunctionDescriptor.of(INT, ADDRESS));
        static final MethodHandle INFLATE_RESET2 = handle("inflateReset2",
                FunctionDescriptor.of(INT, ADDRESS, INT));
        static final MethodHandle INFLATE_PRIME = handle("inflatePrime",
                FunctionDescriptor.of(INT, ADDRESS, INT, INT));
        static final MethodHandle INFLATE_SET_DICTIONARY = handle("inflateSetDictionary",
                FunctionDescriptor.of(INT, ADDRESS, ADDRESS, INT));
        static final MethodHandle INFLATE_GET_DICTIONARY = handle("inflateGetDictionary",
                FunctionDescriptor.of(INT, ADDRESS, ADDRESS, ADDRESS));

        private static MethodHandle handle(String name, FunctionDescriptor descriptor) {
            MemorySegment address = LIBZ.find(name).orElseThrow(() ->
                    new UnsupportedOperationException("libz.so.1 has no function " + name));
            return LINKER.downcallHandle(address, descriptor);
        }

        static MemorySegment call(MethodHandle handle) throws IOException {
            try {
                return (MemorySegment) handle.invoke();
            } catch (Throwable e) {
                throw new IOException("zlib call failed: " + e, e);
            }
        }

        static int callInt(MethodHandle handle, Object... arguments) throws IOException {
            try {
                return (int) handle.invokeWithArguments(arguments);
            } catch (Throwable e) {
                throw new IOException("zlib call failed: " + e, e);
            }
        }
    }
}
