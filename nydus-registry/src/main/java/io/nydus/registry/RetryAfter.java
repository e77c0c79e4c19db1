package io.nydus.registry;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Optional;

/**
 * The {@code Retry-After} header of a 429 or 503 response (RFC 9110): a number of seconds or
 * an HTTP date after which the server expects the request again.
 */
public final class RetryAfter {

    private RetryAfter() {
    }

    /**
     * Parses {@code value}, the header's text, into the wait that it requests from {@code now}.
     * A date in the past is a wait of zero.
     *
     * @return the wait, or empty if the header is missing or neither form
     */
    public static Optional<Duration> parse(Optional<String> value, Instant now) {
        if (value.isEmpty()) {
            return Optional.empty();
        }
        String text = value.get().strip();
        if (!text.isEmpty() && text.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return Optional.of(seconds(text));
        }
        try {
            Instant at = ZonedDateTime.parse(text, DateTimeFormatter.RFC_1123_DATE_TIME)
                    .toInstant();
            return Optional.of(at.isAfter(now) ? Duration.between(now, at) : Duration.ZERO);
        } catch (DateTimeParseException e) {
            return Optional.empty();
        }
    }

    /** Returns {@code digits} seconds, saturated at a year so that a huge value stays valid. */
    private static Duration seconds(String digits) {
        long yearSeconds = Duration.ofDays(365).toSeconds();
        if (digits.length() > 10) {
            return Duration.ofSeconds(yearSeconds);
        }
        return Duration.ofSeconds(Math.min(Long.parseLong(digits), yearSeconds));
    }
}
