package io.nydus.tar;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * An immutable byte string: a file name, link target, xattr name or xattr value exactly as the
 * archive stores it, which need not be valid UTF-8.
 *
 * <p>Records hold this type in place of {@code byte[]} so that their {@code equals} and {@code
 * hashCode} compare contents. Ordering is unsigned lexicographic, the order of {@code memcmp}.
 * {@link #toString()} shows the bytes as UTF-8 text with invalid sequences, control characters
 * and backslashes escaped as {@code \xNN} and {@code \\}.
 */
public final class Bytes implements Comparable<Bytes> {

    /** The empty byte string. */
    public static final Bytes EMPTY = new Bytes(new byte[0]);

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final byte[] bytes;
    private int hash;

    private Bytes(byte[] bytes) {
        this.bytes = bytes;
    }

    /** Returns a byte string with a copy of {@code bytes}. */
    public static Bytes of(byte[] bytes) {
        return bytes.length == 0 ? EMPTY : new Bytes(bytes.clone());
    }

    /** Returns a byte string with a copy of {@code bytes[offset, offset + length)}. */
    public static Bytes of(byte[] bytes, int offset, int length) {
        return length == 0 ? EMPTY : new Bytes(Arrays.copyOfRange(bytes, offset, offset + length));
    }

    /** Returns the UTF-8 encoding of {@code text}. */
    public static Bytes ofUtf8(String text) {
        return wrap(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Takes ownership of {@code bytes} without a copy: the caller must never change the array. */
    static Bytes wrap(byte[] bytes) {
        return bytes.length == 0 ? EMPTY : new Bytes(bytes);
    }

    /** Returns the array itself, which package code reads but never changes. */
    byte[] array() {
        return bytes;
    }

    /** Returns the number of bytes. */
    public int length() {
        return bytes.length;
    }

    public boolean isEmpty() {
        return bytes.length == 0;
    }

    /** Returns the byte at {@code index}. */
    public byte byteAt(int index) {
        return bytes[index];
    }

    /** Returns a copy of the bytes. */
    public byte[] toByteArray() {
        return bytes.clone();
    }

    /** Returns a read-only view of the bytes without copying them. */
    public ByteBuffer asReadOnlyBuffer() {
        return ByteBuffer.wrap(bytes).asReadOnlyBuffer();
    }

    /** Returns the bytes from {@code from} (inclusive) to {@code to} (exclusive). */
    public Bytes slice(int from, int to) {
        if (from == 0 && to == bytes.length) {
            return this;
        }
        return of(bytes, from, to - from);
    }

    /** Returns whether the bytes start with {@code prefix}. */
    public boolean startsWith(Bytes prefix) {
        int length = prefix.bytes.length;
        return bytes.length >= length && Arrays.equals(bytes, 0, length, prefix.bytes, 0, length);
    }

    /** Returns the index of the first {@code value} at or after {@code from}, or -1. */
    public int indexOf(byte value, int from) {
        for (int i = Math.max(from, 0); i < bytes.length; i++) {
            if (bytes[i] == value) {
                return i;
            }
        }
        return -1;
    }

    /** Returns whether the bytes are well-formed UTF-8. */
    public boolean isValidUtf8() {
        for (int i = 0; i < bytes.length; ) {
            int length = utf8SequenceLength(bytes, i);
            if (length < 0) {
                return false;
            }
            i += length;
        }
        return true;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Bytes that && Arrays.equals(bytes, that.bytes);
    }

    @Override
    public int hashCode() {
        int h = hash;
        if (h == 0) {
            h = Arrays.hashCode(bytes);
            hash = h;
        }
        return h;
    }

    @Override
    public int compareTo(Bytes other) {
        return Arrays.compareUnsigned(bytes, other.bytes);
    }

    /**
     * Returns the bytes as text: valid UTF-8 is decoded, while bytes of invalid sequences,
     * C0 control characters and DEL become {@code \xNN}, and a backslash becomes {@code \\}.
     */
    @Override
    public String toString() {
        StringBuilder text = new StringBuilder(bytes.length + 8);
        for (int i = 0; i < bytes.length; ) {
            int length = utf8SequenceLength(bytes, i);
            if (length < 0) {
                appendEscaped(text, bytes[i]);
                i++;
            } else if (length == 1) {
                appendAscii(text, bytes[i]);
                i++;
            } else {
                text.append(new String(bytes, i, length, StandardCharsets.UTF_8));
                i += length;
            }
        }
        return text.toString();
    }

    private static void appendAscii(StringBuilder text, byte b) {
        if (b == '\\') {
            text.append("\\\\");
        } else if (b < 0x20 || b == 0x7f) {
            appendEscaped(text, b);
        } else {
            text.append((char) b);
        }
    }

    private static void appendEscaped(StringBuilder text, byte b) {
        text.append("\\x").append(HEX[(b >> 4) & 0xf]).append(HEX[b & 0xf]);
    }

    /**
     * Returns the length of the well-formed UTF-8 sequence at {@code index}, or -1 if the bytes
     * there are not one (overlong forms, surrogates and code points above U+10FFFF included).
     */
    static int utf8SequenceLength(byte[] bytes, int index) {
        int lead = bytes[index] & 0xff;
        if (lead < 0x80) {
            return 1;
        }
        int length;
        int min;
        int max = 0xbf;
        if (lead >= 0xc2 && lead <= 0xdf) {
            length = 2;
            min = 0x80;
        } else if (lead >= 0xe0 && lead <= 0xef) {
            length = 3;
            min = lead == 0xe0 ? 0xa0 : 0x80;
            max = lead == 0xed ? 0x9f : 0xbf;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            length = 4;
            min = lead == 0xf0 ? 0x90 : 0x80;
            max = lead == 0xf4 ? 0x8f : 0xbf;
        } else {
            return -1;
        }
        if (index + length > bytes.length) {
            return -1;
        }
        int second = bytes[index + 1] & 0xff;
        if (second < min || second > max) {
            return -1;
        }
        for (int i = 2; i < length; i++) {
            int next = bytes[index + i] & 0xff;
            if (next < 0x80 || next > 0xbf) {
                return -1;
            }
        }
        return length;
    }
}
