package io.nydus.tar;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Writes tar archives byte by byte for cases no tar program writes on request: odd field
 * encodings, unknown typeflags, corrupt checksums, hostile names and PAX records.
 */
final class TarBuilder {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** A header block being filled in; every field starts as GNU tar writes it for a file. */
    static final class Header {
        final byte[] block = new byte[512];
        private boolean fixedChecksum;

        Header(String name) {
            this(name.getBytes(StandardCharsets.UTF_8));
        }

        Header(byte[] name) {
            field(0, name, 100);
            octal(100, 8, 0644);
            octal(108, 8, 0);
            octal(116, 8, 0);
            octal(124, 12, 0);
            octal(136, 12, 1_600_000_000L);
            block[156] = '0';
            field(257, "ustar\0".getBytes(StandardCharsets.US_ASCII), 6);
            field(263, "00".getBytes(StandardCharsets.US_ASCII), 2);
        }

        Header type(char type) {
            block[156] = (byte) type;
            return this;
        }

        Header size(long size) {
            return octal(124, 12, size);
        }

        Header mode(int mode) {
            return octal(100, 8, mode);
        }

        Header uid(long uid) {
            return octal(108, 8, uid);
        }

        Header mtime(long mtime) {
            return octal(136, 12, mtime);
        }

        Header linkName(String target) {
            return field(157, target.getBytes(StandardCharsets.UTF_8), 100);
        }

        Header devices(long major, long minor) {
            octal(329, 8, major);
            return octal(337, 8, minor);
        }

        Header prefix(String prefix) {
            return field(345, prefix.getBytes(StandardCharsets.UTF_8), 155);
        }

        /** Writes the old GNU magic "ustar  \0". */
        Header gnuMagic() {
            return field(257, "ustar  \0".getBytes(StandardCharsets.US_ASCII), 8);
        }

        /** Clears the magic, as v7 tar writes it. */
        Header v7() {
            Arrays.fill(block, 257, 512, (byte) 0);
            return this;
        }

        /** Writes {@code value} as octal digits and a NUL into the field. */
        Header octal(int offset, int length, long value) {
            String digits = Long.toOctalString(value);
            String padded = "0".repeat(Math.max(0, length - 1 - digits.length())) + digits;
            return field(offset, (padded + "\0").getBytes(StandardCharsets.US_ASCII), length);
        }

        /** Writes {@code value} in GNU base-256: the marker bit and big-endian two's complement. */
        Header base256(int offset, int length, long value) {
            for (int i = length - 1; i >= 0; i--) {
                block[offset + i] = (byte) value;
                value >>= 8;
            }
            block[offset] |= (byte) 0x80;
            return this;
        }

        /** Writes raw bytes into a field, padded with NULs. */
        Header field(int offset, byte[] value, int length) {
            if (value.length > length) {
                throw new IllegalArgumentException("value of " + value.length + " bytes for a "
                        + length + "-byte field");
            }
            Arrays.fill(block, offset, offset + length, (byte) 0);
            System.arraycopy(value, 0, block, offset, value.length);
            return this;
        }

        Header text(int offset, String value, int length) {
            return field(offset, value.getBytes(StandardCharsets.ISO_8859_1), length);
        }

        /** Writes a checksum field as given, without computing it. */
        Header checksum(String value) {
            text(148, value, 8);
            fixedChecksum = true;
            return this;
        }

        byte[] toBytes() {
            byte[] bytes = block.clone();
            if (!fixedChecksum) {
                Arrays.fill(bytes, 148, 156, (byte) ' ');
                long sum = 0;
                for (byte b : bytes) {
                    sum += b & 0xff;
                }
                String digits = String.format("%06o", sum);
                System.arraycopy((digits + "\0 ").getBytes(StandardCharsets.US_ASCII), 0, bytes,
                        148, 8);
            }
            return bytes;
        }
    }

    /** Adds a header and its data, padded to a whole block. */
    TarBuilder add(Header header, byte[] data) {
        out.writeBytes(header.toBytes());
        out.writeBytes(data);
        out.writeBytes(new byte[(512 - data.length % 512) % 512]);
        return this;
    }

    /** Adds a file with {@code content}. */
    TarBuilder file(String name, String content) {
        byte[] data = content.getBytes(StandardCharsets.UTF_8);
        return add(new Header(name).size(data.length), data);
    }

    /** Adds a PAX header of type {@code type} ('x' or 'g') with the records. */
    TarBuilder pax(char type, byte[]... records) {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (byte[] record : records) {
            data.writeBytes(record);
        }
        return add(new Header("PaxHeaders/entry").type(type).size(data.size()), data.toByteArray());
    }

    /** Adds a GNU long name ('L') or long link ('K') header. */
    TarBuilder longName(char type, byte[] name) {
        byte[] data = Arrays.copyOf(name, name.length + 1);
        return add(new Header("././@LongLink").type(type).gnuMagic().size(data.length), data);
    }

    /** Adds raw bytes. */
    TarBuilder raw(byte[] bytes) {
        out.writeBytes(bytes);
        return this;
    }

    /** Adds the two zero blocks that end an archive. */
    TarBuilder end() {
        out.writeBytes(new byte[1024]);
        return this;
    }

    byte[] toBytes() {
        return out.toByteArray();
    }

    /** Returns one PAX record "LENGTH KEY=VALUE\n" with the length computed. */
    static byte[] record(String key, byte[] value) {
        byte[] keyBytes = key.getBytes(StandardCharsets.ISO_8859_1);
        int body = 1 + keyBytes.length + 1 + value.length + 1;
        int length = body + String.valueOf(body).length();
        if (String.valueOf(length).length() != String.valueOf(body).length()) {
            length++;
        }
        ByteArrayOutputStream record = new ByteArrayOutputStream();
        record.writeBytes((length + " ").getBytes(StandardCharsets.US_ASCII));
        record.writeBytes(keyBytes);
        record.write('=');
        record.writeBytes(value);
        record.write('\n');
        return record.toByteArray();
    }

    static byte[] record(String key, String value) {
        return record(key, value.getBytes(StandardCharsets.UTF_8));
    }
}
