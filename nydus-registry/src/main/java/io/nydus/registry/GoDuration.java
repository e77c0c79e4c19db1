package io.nydus.registry;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Durations written as Go's tools write them, such as {@code 5s}, {@code 1m30s}, {@code 1.5h}
 * or {@code 500ms}: upstream's snapshotter configuration and nydusify's options take this form.
 * Numbers may have a fraction, the units are ns, us (or µs), ms, s, m and h, and a bare
 * {@code 0} is zero. Negative durations are rejected.
 */
public final class GoDuration {
    private static final Pattern PART =
            Pattern.compile("(\\d+(?:\\.\\d*)?|\\.\\d+)(ns|us|µs|ms|s|m|h)");
    private static final Map<String, Long> NANOS_PER_UNIT = Map.of("ns", 1L, "us", 1_000L,
            "µs", 1_000L, "ms", 1_000_000L, "s", 1_000_000_000L, "m", 60_000_000_000L,
            "h", 3_600_000_000_000L);

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
        BigDecimal nanos = BigDecimal.ZERO;
        int end = 0;
        while (matcher.find() && matcher.start() == end) {
            BigDecimal amount = new BigDecimal(matcher.group(1).startsWith(".")
                    ? "0" + matcher.group(1) : matcher.group(1));
            nanos = nanos.add(amount.multiply(BigDecimal.valueOf(
                    NANOS_PER_UNIT.get(matcher.group(2)))));
            end = matcher.end();
        }
        if (end == 0 || end != text.length()) {
            throw invalid(text);
        }
        try {
            // A fraction of a nanosecond is dropped, as Go's parser does.
            return Duration.ofNanos(nanos.toBigInteger().longValueExact());
        } catch (ArithmeticException e) {
            throw invalid(text);
        }
    }

    private static IllegalArgumentException invalid(String text) {
        return new IllegalArgumentException("invalid duration '" + text
                + "': expected a number and unit such as 500ms, 1.5s, 10m or 24h");
    }
}
