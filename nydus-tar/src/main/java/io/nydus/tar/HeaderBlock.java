package io.nydus.tar;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * One 512-byte tar header block and its fields, in the v7, POSIX ustar, star and old GNU layouts.
 *
 * <p>Numeric fields hold octal digits padded with spaces or NULs, or the GNU base-256 form: a
 * first byte with the top bit set, then a big-endian two's complement number (0x80 for positive,
 * 0xff for negative values).
 */
final class HeaderBlock {

    static final int SIZE = 512;

    /** A numeric header field: its name in messages, offset and length in the block. */
    enum Field {
        MODE("mode", 100, 8),
        UID("uid", 108, 8),
        GID("gid", 116, 8),
        SIZE("size", 124, 12),
        MTIME("mtime", 136, 12),
        CHECKSUM("checksum", 148, 8),
        DEV_MAJOR("devmajor", 329, 8),
        DEV_MINOR("devminor", 337, 8),
        /** The logical size of an old GNU sparse file. */
        REAL_SIZE("realsize", 483, 12);

        final String label;
        final int offset;
        final int length;

        Field(String label, int offset, int length) {
            this.label = label;
            this.offset = offset;
            this.length = length;
        }
    }

    /** The header layouts, identified by the magic at offset 257. */
    enum Format {
        /** No magic: only name, mode, ids, size, mtime, checksum, type and link name. */
        V7,
        /** POSIX ustar ("ustar\0" "00"), with a 155-byte name prefix at 345. */
        USTAR,
        /** Star: ustar magic and "tar\0" at 508, with a 131-byte prefix. */
        STAR,
        /** Old GNU ("ustar  \0"): no prefix, sparse map and realsize at 386 to 495. */
        GNU
    }

    private static final int NAME_OFFSET = 0;
    private static final int NAME_LENGTH = 100;
    private static final int TYPE_OFFSET = 156;
    private static final int LINK_NAME_OFFSET = 157;
    private static final int LINK_NAME_LENGTH = 100;
    private static final int MAGIC_OFFSET = 257;
    private static final int PREFIX_OFFSET = 345;
    private static final int PREFIX_LENGTH = 155;
    private static final int STAR_PREFIX_LENGTH = 131;

    private final byte[] block;
    private final Format format;

    private HeaderBlock(byte[] block) {
        this.block = block;
        this.format = detectFormat(block);
    }

    /**
     * Returns the header in {@code block} (copied) after checking its checksum.
     *
     * @throws TarFormatException if the checksum field is invalid or does not match
     */
    static HeaderBlock parse(byte[] block, EntryContext context) throws TarFormatException {
        HeaderBlock header = new HeaderBlock(block.clone());
        header.verifyChecksum(context);
        return header;
    }

    static boolean isZero(byte[] block) {
        for (byte b : block) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    Format format() {
        return format;
    }

    byte typeFlag() {
        return block[TYPE_OFFSET];
    }

    /** Returns the name field, with the ustar or star prefix and a '/' before it if present. */
    Bytes name() {
        Bytes name = text(NAME_OFFSET, NAME_LENGTH);
        int prefixLength = switch (format) {
            case USTAR -> PREFIX_LENGTH;
            case STAR -> STAR_PREFIX_LENGTH;
            case V7, GNU -> 0;
        };
        Bytes prefix = text(PREFIX_OFFSET, prefixLength);
        if (prefix.isEmpty()) {
            return name;
        }
        byte[] joined = Arrays.copyOf(prefix.array(), prefix.length() + 1 + name.length());
        joined[prefix.length()] = '/';
        System.arraycopy(name.array(), 0, joined, prefix.length() + 1, name.length());
        return Bytes.wrap(joined);
    }

    Bytes linkName() {
        return text(LINK_NAME_OFFSET, LINK_NAME_LENGTH);
    }

    /** Returns whether the layout has device number fields, which v7 headers lack. */
    boolean hasDeviceFields() {
        return format != Format.V7;
    }

    /**
     * Returns the value of a numeric field.
     *
     * @throws TarFormatException if the field is neither octal nor base-256, or overflows
     */
    long numeric(Field field, EntryContext context) throws TarFormatException {
        return numeric(block, field.offset, field.length, field.label, context);
    }

    /** Returns the raw block, which callers read but never change. */
    byte[] bytes() {
        return block;
    }

    /**
     * Parses the numeric field at {@code offset} of {@code block}, in octal or base-256.
     *
     * @throws TarFormatException naming {@code label} if the field is invalid
     */
    static long numeric(byte[] block, int offset, int length, String label, EntryContext context)
            throws TarFormatException {
        if ((block[offset] & 0x80) != 0) {
            return base256(block, offset, length, label, context);
        }
        int start = offset;
        int end = offset + length;
        while (start < end && (block[start] == ' ' || block[start] == 0)) {
            start++;
        }
        while (end > start && (block[end - 1] == ' ' || block[end - 1] == 0)) {
            end--;
        }
        long value = 0;
        for (int i = start; i < end; i++) {
            int digit = block[i] - '0';
            if (digit < 0 || digit > 7) {
                throw context.error("invalid octal in field " + label + ": "
                        + EntryContext.quote(Bytes.of(block, start, end - start)));
            }
            // 12 octal digits are 36 bits, so a 12-byte field cannot overflow a long.
            value = (value << 3) | digit;
        }
        return value;
    }

    private static long base256(byte[] block, int offset, int length, String label,
            EntryContext context) throws TarFormatException {
        int first = block[offset] & 0xff;
        boolean negative = (first & 0x40) != 0;
        // The marker bit is replaced by the sign, so the first byte joins the number.
        long value = (byte) (negative ? first : first & 0x7f);
        for (int i = offset + 1; i < offset + length; i++) {
            long top = value >> 55;
            if (top != 0 && top != -1) {
                throw context.error("base-256 number in field " + label + " overflows 64 bits: "
                        + HexFormat.of().formatHex(block, offset, offset + length));
            }
            value = (value << 8) | (block[i] & 0xff);
        }
        return value;
    }

    private void verifyChecksum(EntryContext context) throws TarFormatException {
        Field field = Field.CHECKSUM;
        Bytes storedText = Bytes.of(block, field.offset, field.length);
        long stored;
        try {
            stored = numeric(field, context);
        } catch (TarFormatException e) {
            throw context.error("invalid header checksum: field " + EntryContext.quote(storedText)
                    + " is not a number (not a tar header, or a corrupt one)");
        }
        long unsigned = 0;
        long signed = 0;
        for (int i = 0; i < SIZE; i++) {
            boolean inChecksum = i >= Field.CHECKSUM.offset
                    && i < Field.CHECKSUM.offset + Field.CHECKSUM.length;
            byte b = inChecksum ? (byte) ' ' : block[i];
            unsigned += b & 0xff;
            signed += b;
        }
        // Some old writers summed signed chars; both sums are accepted, as GNU tar does.
        if (stored != unsigned && stored != signed) {
            throw context.error("invalid header checksum: stored " + stored + ", computed "
                    + unsigned + " (not a tar header, or a corrupt one)");
        }
    }

    private Bytes text(int offset, int length) {
        int end = offset;
        while (end < offset + length && block[end] != 0) {
            end++;
        }
        return Bytes.of(block, offset, end - offset);
    }

    private static Format detectFormat(byte[] block) {
        if (matches(block, MAGIC_OFFSET, "ustar\0")) {
            return matches(block, 508, "tar\0") ? Format.STAR : Format.USTAR;
        }
        if (matches(block, MAGIC_OFFSET, "ustar  \0")) {
            return Format.GNU;
        }
        return Format.V7;
    }

    private static boolean matches(byte[] block, int offset, String ascii) {
        for (int i = 0; i < ascii.length(); i++) {
            if (block[offset + i] != ascii.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
