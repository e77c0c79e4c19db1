package io.nydus.cli;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses numeric option values: plain or 0x sizes, and sizes with a unit such as 16MB. */
final class Numbers {
    private static final Pattern BYTES = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]i?)?b?");
    private static final Map<String, Long> UNITS = Map.of("k", 1000L, "ki", 1L << 10,
            "m", 1000_000L, "mi", 1L << 20, "g", 1000_000_000L, "gi", 1L << 30,
            "t", 1000_000_000_000L, "ti", 1L << 40);

    private Numbers() {
    }

    static int parseSize(String option, String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        try {
            long value = t.startsWith("0x") ? Long.parseLong(t.substring(2), 16)
                    : Long.parseLong(t);
            if (value > Integer.MAX_VALUE || value < 0) {
                throw new NumberFormatException();
            }
            return (int) value;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " '" + text
                    + "' is not a number (decimal or 0x hex)");
        }
    }

    /**
     * Parses a byte count as upstream's Go tools write it: a number with an optional unit.
     * kB, MB, GB and TB are powers of 1000, and KiB, MiB, GiB and TiB powers of 1024. Units
     * are read in any case and with or without the B.
     *
     * @throws IllegalArgumentException naming {@code option} and {@code text} if it is not such
     *     a size or does not fit in a long
     */
    static long parseBytes(String option, String text) {
        Matcher matcher = BYTES.matcher(text.strip().toLowerCase(Locale.ROOT));
        if (!matcher.matches()) {
            throw new IllegalArgumentException(option + " '" + text + "' is not a size such as"
                    + " 1048576, 16MB or 64MiB");
        }
        long unit = matcher.group(2) == null ? 1 : UNITS.get(matcher.group(2));
        // A fraction of a byte is dropped, as upstream's parser does.
        BigDecimal bytes = new BigDecimal(matcher.group(1)).multiply(BigDecimal.valueOf(unit));
        try {
            return bytes.toBigInteger().longValueExact();
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(option + " '" + text + "' is too large", e);
        }
    }
}
