package io.nydus.cli;

/** Parses numeric option values given in decimal or with a 0x prefix. */
final class Numbers {
    private Numbers() {
    }

    static int parseSize(String option, String text) {
        String t = text.trim().toLowerCase(java.util.Locale.ROOT);
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
}
