package io.nydus.registry;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Durations written as Go's tools write them, such as {@code 5s}, {@code 1m30s} or
 * {@code 500ms}: upstream's snapshotter configuration and nydusify's options take this form.
 * Whole numbers with the units ms, s, m and h are accepted, and so is a bare {@code 0}.
 */
public final class GoDuration {
    private static final Pattern PART = Pattern.compile("(\\d+)(ms|s|m|h)");

    private GoDuration() {
    }

    /**
     * Parses {@code text}.
     *
     * @throws IllegalArgumentException naming {@code text} if it is not such a duration
     */
    public static Duration parse(String text) {
        if (text.equals("0")) {
            return Duration.ZERO;
        }
        Matcher matcher = PART.matcher(text);
        Duration total = Duration.ZERO;
        int end = 0;
        while (matcher.find() && matcher.start() == end) {
            long amount = parseAmount(matcher.group(1), text);
            total = total.plus(switch (matcher.group(2)) {
                case "ms" -> Duration.ofMillis(amount);
                case "s" -> Duration.ofSeconds(amount);
                case "m" -> Duration.ofMinutes(amount);
                default -> Duration.ofHours(amount);
            });
            end = matcher.end();
        }
        if (end == 0 || end != text.length()) {
            throw invalid(text);
        }
        return total;
    }

    private static long parseAmount(String digits, String text) {
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw invalid(text);
        }
    }

    private static IllegalArgumentException invalid(String text) {
        return new IllegalArgumentException("invalid duration '" + text
                + "': expected a number and unit such as 500ms, 30s, 10m or 24h");
    }
}
