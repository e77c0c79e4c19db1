package io.nydus.posix;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.Charset;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * An immutable Linux path as raw bytes, so names that are not valid UTF-8 survive unchanged.
 *
 * <p>A path is non-empty and contains no NUL byte, which are the kernel's only rules for path
 * strings. Equality and ordering compare the bytes, ordering as unsigned bytes. {@link
 * #toString()} shows the path as text with invalid UTF-8, control characters and backslashes
 * escaped, see {@link #escape(byte[])}.
 */
public final class BytePath implements Comparable<BytePath> {

    private static final byte SLASH = '/';

    private final byte[] bytes;

    private BytePath(byte[] bytes) {
        this.bytes = bytes;
    }

    /**
     * Returns the path with the UTF-8 encoding of {@code path}.
     *
     * @throws IllegalArgumentException if the path is empty or contains NUL
     */
    public static BytePath of(String path) {
        return of(path.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Returns the path with a copy of {@code path} as its bytes.
     *
     * @throws IllegalArgumentException if the path is empty or contains a NUL byte
     */
    public static BytePath of(byte[] path) {
        return new BytePath(validate(path.clone()));
    }

    /**
     * Returns the bytes that the JDK passes to the kernel for {@code path}, which it encodes
     * with the platform's file name charset ({@code sun.jnu.encoding}).
     */
    public static BytePath of(Path path) {
        return of(path.toString().getBytes(fileNameCharset()));
    }

    private static byte[] validate(byte[] path) {
        if (path.length == 0) {
            throw new IllegalArgumentException("path must not be empty");
        }
        for (int i = 0; i < path.length; i++) {
            if (path[i] == 0) {
                throw new IllegalArgumentException(
                        "path " + escape(path) + " contains a NUL byte at index " + i);
            }
        }
        return path;
    }

    /**
     * Returns this path followed by {@code name}, joined with one '/'.
     *
     * @param name a file name or a relative path
     * @throws IllegalArgumentException if {@code name} is empty, absolute or contains NUL
     */
    public BytePath resolve(byte[] name) {
        validate(name);
        if (name[0] == SLASH) {
            throw new IllegalArgumentException(
                    "cannot resolve absolute path " + escape(name) + " against " + this);
        }
        boolean needsSlash = bytes[bytes.length - 1] != SLASH;
        byte[] joined = new byte[bytes.length + (needsSlash ? 1 : 0) + name.length];
        System.arraycopy(bytes, 0, joined, 0, bytes.length);
        if (needsSlash) {
            joined[bytes.length] = SLASH;
        }
        System.arraycopy(name, 0, joined, joined.length - name.length, name.length);
        return new BytePath(joined);
    }

    /** Returns this path followed by the UTF-8 bytes of {@code name}. */
    public BytePath resolve(String name) {
        return resolve(name.getBytes(StandardCharsets.UTF_8));
    }

    /** Returns this path followed by the relative path {@code other}. */
    public BytePath resolve(BytePath other) {
        return resolve(other.bytes);
    }

    /** Returns a copy of the path's bytes, without a terminating NUL. */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** Returns the number of bytes in the path. */
    public int length() {
        return bytes.length;
    }

    /** Returns whether the path starts with '/'. */
    public boolean isAbsolute() {
        return bytes[0] == SLASH;
    }

    /** Returns whether the path's bytes are valid UTF-8. */
    public boolean isValidUtf8() {
        try {
            strictUtf8Decoder().decode(ByteBuffer.wrap(bytes));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    /**
     * Returns the last component of the path, ignoring trailing slashes; "/" for the root.
     */
    public byte[] fileName() {
        int end = endWithoutTrailingSlashes();
        if (end == 0) {
            return new byte[] {SLASH};
        }
        int start = lastSlashBefore(end) + 1;
        return Arrays.copyOfRange(bytes, start, end);
    }

    /**
     * Returns the path without its last component, or empty for a single relative component
     * and for "/".
     */
    public Optional<BytePath> parent() {
        int end = endWithoutTrailingSlashes();
        int slash = end == 0 ? -1 : lastSlashBefore(end);
        if (slash < 0) {
            return Optional.empty();
        }
        int parentEnd = slash;
        while (parentEnd > 0 && bytes[parentEnd - 1] == SLASH) {
            parentEnd--;
        }
        if (parentEnd == 0) {
            return Optional.of(new BytePath(new byte[] {SLASH}));
        }
        return Optional.of(new BytePath(Arrays.copyOf(bytes, parentEnd)));
    }

    /** Returns the non-empty components between slashes, in order. */
    public List<byte[]> components() {
        List<byte[]> parts = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= bytes.length; i++) {
            if (i == bytes.length || bytes[i] == SLASH) {
                if (i > start) {
                    parts.add(Arrays.copyOfRange(bytes, start, i));
                }
                start = i + 1;
            }
        }
        return parts;
    }

    /**
     * Returns the JDK path for these bytes.
     *
     * @throws IllegalArgumentException if the bytes do not decode in the platform's file name
     *     charset, since such a {@link Path} would name a different file
     */
    public Path toPath() {
        try {
            CharsetDecoder decoder = fileNameCharset().newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            return Path.of(decoder.decode(ByteBuffer.wrap(bytes)).toString());
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(
                    "path " + this + " cannot be represented as a java.nio.file.Path", e);
        }
    }

    /** Writes the path and a terminating NUL into memory from {@code allocator}. */
    MemorySegment toCString(SegmentAllocator allocator) {
        return cString(allocator, bytes);
    }

    /** Writes {@code bytes} and a terminating NUL into memory from {@code allocator}. */
    static MemorySegment cString(SegmentAllocator allocator, byte[] bytes) {
        MemorySegment segment = allocator.allocate(bytes.length + 1L);
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return segment;
    }

    private int endWithoutTrailingSlashes() {
        int end = bytes.length;
        while (end > 0 && bytes[end - 1] == SLASH) {
            end--;
        }
        return end;
    }

    private int lastSlashBefore(int end) {
        for (int i = end - 1; i >= 0; i--) {
            if (bytes[i] == SLASH) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof BytePath path && Arrays.equals(bytes, path.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    /** Compares the bytes as unsigned values, shorter prefix first. */
    @Override
    public int compareTo(BytePath other) {
        return Arrays.compareUnsigned(bytes, other.bytes);
    }

    /** Returns the path as text, escaped by {@link #escape(byte[])}. */
    @Override
    public String toString() {
        return escape(bytes);
    }

    /**
     * Returns {@code bytes} as readable text: valid UTF-8 is decoded, each byte of invalid UTF-8,
     * each ASCII or C1 control character is written as {@code \xNN}, and a backslash as
     * {@code \\}. Distinct inputs give distinct texts.
     */
    public static String escape(byte[] bytes) {
        StringBuilder text = new StringBuilder(bytes.length + 16);
        CharsetDecoder decoder = strictUtf8Decoder();
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        while (true) {
            CoderResult result = decoder.decode(in, out, true);
            appendDecoded(text, out.flip());
            out.clear();
            if (!result.isError()) {
                break;
            }
            for (int i = 0; i < result.length(); i++) {
                appendHexByte(text, in.get());
            }
        }
        return text.toString();
    }

    private static void appendDecoded(StringBuilder text, CharBuffer chars) {
        while (chars.hasRemaining()) {
            char c = chars.get();
            if (c == '\\') {
                text.append("\\\\");
            } else if (c < 0x20 || c == 0x7f) {
                appendHexByte(text, (byte) c);
            } else if (c >= 0x80 && c <= 0x9f) {
                // A C1 control character is encoded as 0xc2 followed by the code point.
                appendHexByte(text, (byte) 0xc2);
                appendHexByte(text, (byte) c);
            } else {
                text.append(c);
            }
        }
    }

    private static void appendHexByte(StringBuilder text, byte b) {
        text.append("\\x").append(HexFormat.of().toHexDigits(b));
    }

    private static CharsetDecoder strictUtf8Decoder() {
        return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
    }

    private static Charset fileNameCharset() {
        String name = System.getProperty("sun.jnu.encoding");
        return name == null ? Charset.defaultCharset() : Charset.forName(name);
    }
}
