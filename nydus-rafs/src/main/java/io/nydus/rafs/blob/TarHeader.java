package io.nydus.rafs.blob;

import io.nydus.rafs.RafsFormatException;
import java.nio.charset.StandardCharsets;

/**
 * The 512-byte GNU tar header that follows each section of a blob. Only name, size and type are
 * set, with the exact bytes upstream's writer produces, because they are part of the blob id.
 */
public final class TarHeader {
    public static final int SIZE = 512;

    private TarHeader() {
    }

    /** Encodes a header for a regular file {@code name} of {@code size} bytes. */
    public static byte[] encode(String name, long size) {
        byte[] nameBytes = name.getBytes(StandardCharsets.US_ASCII);
        if (nameBytes.length > 100) {
            throw new IllegalArgumentException("tar header name '" + name + "' is over 100 bytes");
        }
        if (size < 0 || size > 077777777777L) {
            throw new IllegalArgumentException("tar header size " + size + " does not fit");
        }
        byte[] h = new byte[SIZE];
        System.arraycopy(nameBytes, 0, h, 0, nameBytes.length);
        putOctal(h, 124, 12, size);
        putOctal(h, 136, 12, 0);
        h[156] = '0';
        byte[] magic = "ustar  \0".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(magic, 0, h, 257, magic.length);
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        putOctal(h, 148, 8, sum);
        return h;
    }

    /** Writes {@code width - 1} zero-padded octal digits and a NUL. */
    private static void putOctal(byte[] h, int offset, int width, long value) {
        String digits = Long.toOctalString(value);
        int pad = width - 1 - digits.length();
        for (int i = 0; i < pad; i++) {
            h[offset + i] = '0';
        }
        for (int i = 0; i < digits.length(); i++) {
            h[offset + pad + i] = (byte) digits.charAt(i);
        }
        h[offset + width - 1] = 0;
    }

    /** A decoded header: the entry name and its data size. */
    public record Entry(String name, long size) {
    }

    /**
     * Decodes a header, checking its checksum.
     *
     * @param source the blob name and offset, for messages
     */
    public static Entry decode(byte[] h, int offset, String source) throws RafsFormatException {
        if (offset < 0 || offset + SIZE > h.length) {
            throw new RafsFormatException(source + ": tar header is past the end of the data");
        }
        long stored = parseOctal(h, offset + 148, 8, source, "checksum");
        long sum = 0;
        for (int i = 0; i < SIZE; i++) {
            int b = (i >= 148 && i < 156) ? ' ' : h[offset + i] & 0xff;
            sum += b;
        }
        if (stored != sum) {
            throw new RafsFormatException(source + ": tar header checksum " + stored
                    + " does not match the computed " + sum);
        }
        int end = 0;
        while (end < 100 && h[offset + end] != 0) {
            end++;
        }
        String name = new String(h, offset, end, StandardCharsets.US_ASCII);
        long size = parseOctal(h, offset + 124, 12, source, "size");
        return new Entry(name, size);
    }

    private static long parseOctal(byte[] h, int offset, int width, String source, String field)
            throws RafsFormatException {
        long value = 0;
        boolean digits = false;
        for (int i = 0; i < width; i++) {
            int c = h[offset + i] & 0xff;
            if (c == 0 || (c == ' ' && digits)) {
                break;
            }
            if (c == ' ') {
                continue;
            }
            if (c < '0' || c > '7') {
                throw new RafsFormatException(source + ": tar header field " + field
                        + " has a non-octal byte 0x" + Integer.toHexString(c));
            }
            value = value * 8 + (c - '0');
            digits = true;
        }
        return value;
    }
}
