package io.nydus.builder.robustness;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes ustar archives byte by byte, so tests can store names and fields that the tar command
 * would never write ({@code ../x}, absolute names, out-of-range device numbers, any xattr name
 * in a PAX header).
 */
final class TarWriter {
    static final int BLOCK = 512;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final Map<String, String> nextPax = new LinkedHashMap<>();

    /** Adds a PAX record to the next entry, such as {@code SCHILY.xattr.user.a}. */
    TarWriter pax(String key, String value) {
        nextPax.put(key, value);
        return this;
    }

    TarWriter directory(String name) {
        return entry(name, '5', 0755, new byte[0], "", 0, 0);
    }

    TarWriter file(String name, byte[] content) {
        return entry(name, '0', 0644, content, "", 0, 0);
    }

    TarWriter symlink(String name, String target) {
        return entry(name, '2', 0777, new byte[0], target, 0, 0);
    }

    TarWriter hardlink(String name, String target) {
        return entry(name, '1', 0644, new byte[0], target, 0, 0);
    }

    TarWriter charDevice(String name, long major, long minor) {
        return entry(name, '3', 0600, new byte[0], "", major, minor);
    }

    /** Returns the archive with its two zero end blocks. */
    byte[] finish() {
        out.writeBytes(new byte[2 * BLOCK]);
        return out.toByteArray();
    }

    private TarWriter entry(String name, char type, int mode, byte[] content, String link,
            long major, long minor) {
        if (!nextPax.isEmpty()) {
            byte[] records = paxRecords();
            out.writeBytes(header("PaxHeaders/" + type, 'x', 0644, records.length, "", 0, 0));
            writePadded(records);
            nextPax.clear();
        }
        out.writeBytes(header(name, type, mode, content.length, link, major, minor));
        writePadded(content);
        return this;
    }

    private void writePadded(byte[] data) {
        out.writeBytes(data);
        out.writeBytes(new byte[padding(data.length)]);
    }

    static int padding(long size) {
        return (int) ((BLOCK - size % BLOCK) % BLOCK);
    }

    private byte[] paxRecords() {
        ByteArrayOutputStream records = new ByteArrayOutputStream();
        for (Map.Entry<String, String> e : nextPax.entrySet()) {
            String body = " " + e.getKey() + "=" + e.getValue() + "\n";
            int bodyLength = body.getBytes(StandardCharsets.UTF_8).length;
            int length = bodyLength + String.valueOf(bodyLength).length();
            if (String.valueOf(length).length() != String.valueOf(bodyLength).length()) {
                length++;
            }
            records.writeBytes((length + body).getBytes(StandardCharsets.UTF_8));
        }
        return records.toByteArray();
    }

    /**
     * Encodes one ustar header. Names go in the 100-byte name field only, so the tests keep
     * their names that short.
     */
    static byte[] header(String name, char type, int mode, long size, String link, long major,
            long minor) {
        byte[] h = new byte[BLOCK];
        put(h, 0, 100, name.getBytes(StandardCharsets.UTF_8));
        octal(h, 100, 8, mode);
        octal(h, 108, 8, 0);
        octal(h, 116, 8, 0);
        octal(h, 124, 12, size);
        octal(h, 136, 12, 1_700_000_000L);
        h[156] = (byte) type;
        put(h, 157, 100, link.getBytes(StandardCharsets.UTF_8));
        put(h, 257, 6, "ustar\0".getBytes(StandardCharsets.US_ASCII));
        put(h, 263, 2, "00".getBytes(StandardCharsets.US_ASCII));
        octal(h, 329, 8, major);
        octal(h, 337, 8, minor);
        java.util.Arrays.fill(h, 148, 156, (byte) ' ');
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xFF;
        }
        octal(h, 148, 8, sum);
        return h;
    }

    private static void put(byte[] h, int at, int width, byte[] value) {
        if (value.length > width) {
            throw new IllegalArgumentException("'" + new String(value, StandardCharsets.UTF_8)
                    + "' does not fit a " + width + "-byte tar field");
        }
        System.arraycopy(value, 0, h, at, value.length);
    }

    /** Writes {@code value} as zero-padded octal digits and a NUL, which must fit the field. */
    private static void octal(byte[] h, int at, int width, long value) {
        String digits = Long.toOctalString(value);
        if (digits.length() > width - 1) {
            throw new IllegalArgumentException(value + " does not fit a " + width
                    + "-byte octal tar field");
        }
        String padded = "0".repeat(width - 1 - digits.length()) + digits;
        put(h, at, width, padded.getBytes(StandardCharsets.US_ASCII));
    }
}
