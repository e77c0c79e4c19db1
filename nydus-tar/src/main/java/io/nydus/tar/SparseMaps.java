package io.nydus.tar;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reading of the GNU sparse file maps, which list the data segments of a file stored without
 * its holes. The archive stores the segments' bytes one after the other.
 *
 * <ul>
 *   <li>Old GNU ({@code 'S'} type): four (offset, numbytes) pairs of 12-byte numeric fields at 386
 *       in the header, then 512-byte extension blocks of 21 pairs each while the "is extended"
 *       byte (482 in the header, 504 in an extension) is set. The logical size is at 483.
 *   <li>PAX 0.0: repeated {@code GNU.sparse.offset} and {@code GNU.sparse.numbytes} records, and
 *       the logical size in {@code GNU.sparse.size}.
 *   <li>PAX 0.1: {@code GNU.sparse.map} with "offset,numbytes,..." and {@code GNU.sparse.size}.
 *   <li>PAX 1.0 ({@code GNU.sparse.major=1}, {@code minor=0}): the map at the start of the entry's
 *       data as decimal lines (count, then offset and numbytes per segment) padded to a whole
 *       block, and the logical size in {@code GNU.sparse.realsize}.
 * </ul>
 */
final class SparseMaps {

    /**
     * The maximum number of segments of one file, so that a corrupt map cannot exhaust memory.
     * The segment objects then take about 40 MiB (an estimate for a 64-bit JVM).
     */
    static final int MAX_SEGMENTS = 1 << 20;

    private static final int OLD_GNU_MAP_OFFSET = 386;
    private static final int OLD_GNU_MAP_PAIRS = 4;
    private static final int OLD_GNU_EXTENDED_FLAG = 482;
    private static final int EXTENSION_PAIRS = 21;
    private static final int EXTENSION_FLAG = 504;
    private static final int NUMBER_FIELD = 12;
    /** The maximum digits of a number in a 1.0 map: 19 digits cover every non-negative long. */
    private static final int MAX_MAP_DIGITS = 19;

    /** Raw (offset, length) pairs as read, before validation. */
    static final class Pairs {
        private long[] values = new long[16];
        private int count;

        void add(long offset, long length, EntryContext context) throws TarFormatException {
            if (count == MAX_SEGMENTS) {
                throw context.error("sparse map has more than " + MAX_SEGMENTS + " segments");
            }
            if (2 * count == values.length) {
                values = Arrays.copyOf(values, values.length * 2);
            }
            values[2 * count] = offset;
            values[2 * count + 1] = length;
            count++;
        }

        int count() {
            return count;
        }
    }

    private SparseMaps() {}

    /**
     * Reads an old GNU sparse map from the header and the extension blocks that follow it.
     *
     * @throws TarFormatException if a field is invalid or the stream ends inside the map
     */
    static Pairs readOldGnu(HeaderBlock header, TarInput input, EntryContext context)
            throws IOException {
        Pairs pairs = new Pairs();
        byte[] block = header.bytes();
        boolean extended = readOldGnuPairs(block, OLD_GNU_MAP_OFFSET, OLD_GNU_MAP_PAIRS, pairs,
                context) && block[OLD_GNU_EXTENDED_FLAG] != 0;
        byte[] extension = new byte[HeaderBlock.SIZE];
        while (extended) {
            long offset = input.offset();
            int count = input.readFully(extension, 0, extension.length);
            if (count < extension.length) {
                throw context.truncated(offset + count, "sparse map extension block incomplete");
            }
            extended = readOldGnuPairs(extension, 0, EXTENSION_PAIRS, pairs, context)
                    && extension[EXTENSION_FLAG] != 0;
        }
        return pairs;
    }

    /** Reads up to {@code max} pairs; returns false if an empty pair ended the list early. */
    private static boolean readOldGnuPairs(byte[] block, int start, int max, Pairs pairs,
            EntryContext context) throws TarFormatException {
        for (int i = 0; i < max; i++) {
            int field = start + i * 2 * NUMBER_FIELD;
            if (block[field] == 0 && block[field + NUMBER_FIELD] == 0) {
                return false;
            }
            long offset = HeaderBlock.numeric(block, field, NUMBER_FIELD, "sparse offset",
                    context);
            long length = HeaderBlock.numeric(block, field + NUMBER_FIELD, NUMBER_FIELD,
                    "sparse numbytes", context);
            pairs.add(offset, length, context);
        }
        return true;
    }

    /**
     * Reads a PAX 0.0 or 0.1 map from the records.
     *
     * @throws TarFormatException if a value is invalid or the pairs do not match
     */
    static Pairs readPax0(PaxAttributes attributes, EntryContext context)
            throws TarFormatException {
        Pairs pairs = new Pairs();
        if (attributes.sparseMap != null) {
            String[] numbers = new String(attributes.sparseMap.array(),
                    java.nio.charset.StandardCharsets.ISO_8859_1).split(",", -1);
            if (numbers.length % 2 != 0) {
                throw context.error("GNU.sparse.map has an odd count of numbers: "
                        + EntryContext.quote(attributes.sparseMap));
            }
            for (int i = 0; i < numbers.length; i += 2) {
                long offset = decimal(numbers[i], "GNU.sparse.map", context);
                long length = decimal(numbers[i + 1], "GNU.sparse.map", context);
                pairs.add(offset, length, context);
            }
        } else {
            List<Bytes> offsets = attributes.sparseOffsets;
            List<Bytes> lengths = attributes.sparseNumBytes;
            if (offsets.size() != lengths.size()) {
                throw context.error("PAX header has " + offsets.size() + " GNU.sparse.offset but "
                        + lengths.size() + " GNU.sparse.numbytes records");
            }
            for (int i = 0; i < offsets.size(); i++) {
                long offset = PaxRecords.parseDecimal(offsets.get(i), "GNU.sparse.offset", context);
                long length = PaxRecords.parseDecimal(lengths.get(i), "GNU.sparse.numbytes",
                        context);
                pairs.add(offset, length, context);
            }
        }
        if (attributes.sparseNumBlocks != null) {
            long declared = PaxRecords.parseDecimal(attributes.sparseNumBlocks,
                    "GNU.sparse.numblocks", context);
            if (declared != pairs.count()) {
                throw context.error("GNU.sparse.numblocks is " + declared + " but the map has "
                        + pairs.count() + " segments");
            }
        }
        return pairs;
    }

    /**
     * Reads a PAX 1.0 map from the start of the entry's data, whole blocks at a time.
     *
     * @param storedSize the entry's stored bytes, map included
     * @return the pairs and, in {@link Pax1Map#mapBytes}, the bytes the map took
     * @throws TarFormatException if the map is invalid, longer than the data, or truncated
     */
    static Pax1Map readPax1(TarInput input, long storedSize, EntryContext context)
            throws IOException {
        MapText text = new MapText(input, storedSize, context);
        long count = text.nextNumber();
        if (count > MAX_SEGMENTS) {
            throw context.error("sparse map has " + count + " segments, more than "
                    + MAX_SEGMENTS);
        }
        Pairs pairs = new Pairs();
        for (long i = 0; i < count; i++) {
            long offset = text.nextNumber();
            long length = text.nextNumber();
            pairs.add(offset, length, context);
        }
        return new Pax1Map(pairs, text.consumedBytes());
    }

    /** A PAX 1.0 map and the whole blocks it took from the entry's data. */
    record Pax1Map(Pairs pairs, long mapBytes) {}

    /**
     * Checks the pairs and returns the segments with data.
     *
     * @param realSize the logical file size
     * @param dataSize the stored bytes of segment data, which must equal the sum of the lengths
     * @throws TarFormatException if segments overlap, are out of order, end after the file size
     *     or do not add up to the stored size
     */
    static List<SparseSegment> validate(Pairs pairs, long realSize, long dataSize,
            EntryContext context) throws TarFormatException {
        List<SparseSegment> segments = new ArrayList<>();
        long end = 0;
        long total = 0;
        for (int i = 0; i < pairs.count; i++) {
            long offset = pairs.values[2 * i];
            long length = pairs.values[2 * i + 1];
            if (offset < end || length > realSize || offset > realSize - length) {
                throw context.error("sparse segment " + i + " (offset " + offset + ", length "
                        + length + ") overlaps the one before or ends after the file size "
                        + realSize);
            }
            end = offset + length;
            total += length;
            if (length > 0) {
                segments.add(new SparseSegment(offset, length));
            }
        }
        if (total != dataSize) {
            throw context.error("sparse map segments hold " + total + " bytes but the entry stores "
                    + dataSize);
        }
        return segments;
    }

    private static long decimal(String text, String key, EntryContext context)
            throws TarFormatException {
        return PaxRecords.parseDecimal(Bytes.ofUtf8(text), key, context);
    }

    /** The decimal lines of a PAX 1.0 map, read block by block from the entry's data. */
    private static final class MapText {
        private final TarInput input;
        private final long storedSize;
        private final EntryContext context;
        private final byte[] block = new byte[HeaderBlock.SIZE];
        private int position = HeaderBlock.SIZE;
        private long consumed;

        MapText(TarInput input, long storedSize, EntryContext context) {
            this.input = input;
            this.storedSize = storedSize;
            this.context = context;
        }

        long nextNumber() throws IOException {
            long value = 0;
            int digits = 0;
            while (true) {
                byte b = nextByte();
                if (b == '\n' && digits > 0) {
                    return value;
                }
                if (b < '0' || b > '9' || digits == MAX_MAP_DIGITS) {
                    throw context.error("invalid GNU sparse 1.0 map at byte "
                            + (consumed - HeaderBlock.SIZE + position - 1)
                            + " of the entry data: expected a decimal number and a newline");
                }
                value = value * 10 + (b - '0');
                digits++;
                if (value < 0) {
                    throw context.error("number in GNU sparse 1.0 map overflows 2^63");
                }
            }
        }

        long consumedBytes() {
            return consumed;
        }

        private byte nextByte() throws IOException {
            if (position == block.length) {
                if (consumed + block.length > storedSize) {
                    throw context.error("GNU sparse 1.0 map is longer than the entry's "
                            + storedSize + " bytes of data");
                }
                long offset = input.offset();
                int count = input.readFully(block, 0, block.length);
                if (count < block.length) {
                    throw context.truncated(offset + count, "GNU sparse 1.0 map incomplete");
                }
                consumed += block.length;
                position = 0;
            }
            return block[position++];
        }
    }
}
