package io.nydus.tar;

import java.util.ArrayList;
import java.util.List;

/**
 * Parsing of PAX extended header records ("LENGTH KEY=VALUE\n") and of their numeric values.
 *
 * <p>Records are split by their decimal length, never at newlines, because values such as
 * binary xattrs and ACL texts contain newline and NUL bytes. Keys and values stay raw bytes.
 */
final class PaxRecords {

    /** One record. An empty value clears the key, except for xattrs, whose value may be empty. */
    record Record(Bytes key, Bytes value) {}

    /** The maximum number of decimal digits in a record length, enough for 16 MiB of data. */
    private static final int MAX_LENGTH_DIGITS = 9;

    private PaxRecords() {}

    /**
     * Splits the data of a PAX header into records, in order. NUL bytes after the last record are
     * accepted as padding.
     *
     * @throws TarFormatException naming the byte position if a record is malformed
     */
    static List<Record> parse(byte[] data, EntryContext context) throws TarFormatException {
        List<Record> records = new ArrayList<>();
        int position = 0;
        while (position < data.length) {
            if (data[position] == 0) {
                requireNulPadding(data, position, context);
                break;
            }
            position = parseRecord(data, position, records, context);
        }
        return records;
    }

    private static int parseRecord(byte[] data, int start, List<Record> records,
            EntryContext context) throws TarFormatException {
        int position = start;
        long length = 0;
        while (position < data.length && data[position] >= '0' && data[position] <= '9') {
            if (position - start >= MAX_LENGTH_DIGITS) {
                throw invalid(start, "record length has too many digits", context);
            }
            length = length * 10 + (data[position] - '0');
            position++;
        }
        if (position == start || position >= data.length || data[position] != ' ') {
            throw invalid(start, "record does not start with a decimal length and a space",
                    context);
        }
        long end = start + length;
        if (length <= position + 1 - start || end > data.length) {
            throw invalid(start, "record length " + length + " does not fit the "
                    + (data.length - start) + " bytes left", context);
        }
        if (data[(int) end - 1] != '\n') {
            throw invalid(start, "record of length " + length + " does not end with a newline",
                    context);
        }
        int keyStart = position + 1;
        int equals = keyStart;
        while (equals < end - 1 && data[equals] != '=') {
            equals++;
        }
        if (equals == end - 1 || equals == keyStart) {
            throw invalid(start, "record has no KEY=VALUE", context);
        }
        Bytes key = Bytes.of(data, keyStart, equals - keyStart);
        Bytes value = Bytes.of(data, equals + 1, (int) end - 1 - (equals + 1));
        records.add(new Record(key, value));
        return (int) end;
    }

    private static void requireNulPadding(byte[] data, int start, EntryContext context)
            throws TarFormatException {
        for (int i = start; i < data.length; i++) {
            if (data[i] != 0) {
                throw invalid(i, "data after NUL padding", context);
            }
        }
    }

    private static TarFormatException invalid(int position, String problem,
            EntryContext context) {
        return context.error("invalid PAX record at byte " + position + " of the PAX header: "
                + problem);
    }

    /**
     * Parses a non-negative decimal integer such as {@code size} or {@code uid}.
     *
     * @throws TarFormatException naming {@code key} and the value if it is not one
     */
    static long parseDecimal(Bytes value, String key, EntryContext context)
            throws TarFormatException {
        byte[] digits = value.array();
        if (digits.length == 0 || digits.length > 19) {
            throw invalidValue(value, key, "a decimal number", context);
        }
        long result = 0;
        for (byte b : digits) {
            if (b < '0' || b > '9') {
                throw invalidValue(value, key, "a decimal number", context);
            }
            result = result * 10 + (b - '0');
        }
        if (result < 0) {
            throw invalidValue(value, key, "a number below 2^63", context);
        }
        return result;
    }

    /**
     * Parses a PAX time such as {@code 1665584430.393557573} or {@code -123.5} as a decimal
     * number of seconds, exactly, into whole seconds rounded down and nanoseconds. Digits after
     * the ninth fractional one are dropped, rounding towards negative infinity.
     *
     * @return {seconds, nanoseconds}
     * @throws TarFormatException naming {@code key} and the value if it is not such a number
     */
    static long[] parseTime(Bytes value, String key, EntryContext context)
            throws TarFormatException {
        byte[] text = value.array();
        int position = 0;
        boolean negative = false;
        if (position < text.length && (text[position] == '-' || text[position] == '+')) {
            negative = text[position] == '-';
            position++;
        }
        int integerStart = position;
        long seconds = 0;
        while (position < text.length && text[position] >= '0' && text[position] <= '9') {
            if (position - integerStart >= 18) {
                throw invalidValue(value, key, "a time of at most 18 integer digits", context);
            }
            seconds = seconds * 10 + (text[position] - '0');
            position++;
        }
        int integerDigits = position - integerStart;
        long nanos = 0;
        boolean droppedDigits = false;
        int fractionDigits = 0;
        if (position < text.length && text[position] == '.') {
            position++;
            for (; position < text.length && text[position] >= '0' && text[position] <= '9';
                    position++) {
                if (fractionDigits < 9) {
                    nanos = nanos * 10 + (text[position] - '0');
                } else if (text[position] != '0') {
                    droppedDigits = true;
                }
                fractionDigits++;
            }
        }
        if (position != text.length || integerDigits + fractionDigits == 0) {
            throw invalidValue(value, key, "a decimal time in seconds", context);
        }
        for (int i = fractionDigits; i < 9; i++) {
            nanos *= 10;
        }
        if (!negative) {
            return new long[] {seconds, nanos};
        }
        // -(seconds + fraction) rounded down to whole nanoseconds.
        long negativeNanos = nanos + (droppedDigits ? 1 : 0);
        if (negativeNanos == 0) {
            return new long[] {-seconds, 0};
        }
        return new long[] {-seconds - 1, 1_000_000_000L - negativeNanos};
    }

    private static TarFormatException invalidValue(Bytes value, String key, String expected,
            EntryContext context) {
        return context.error("invalid PAX record " + key + ": " + EntryContext.quote(value)
                + " is not " + expected);
    }
}
