package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RetryAfterTest {

    private static final Instant NOW = Instant.parse("2026-03-01T10:00:00Z");

    @Test
    void secondsAreParsed() {
        assertEquals(Optional.of(Duration.ofSeconds(120)),
                RetryAfter.parse(Optional.of(" 120 "), NOW));
    }

    @Test
    void httpDateIsTheWaitFromNow() {
        assertEquals(Optional.of(Duration.ofSeconds(90)),
                RetryAfter.parse(Optional.of("Sun, 01 Mar 2026 10:01:30 GMT"), NOW));
    }

    @Test
    void pastHttpDateIsNoWait() {
        assertEquals(Optional.of(Duration.ZERO),
                RetryAfter.parse(Optional.of("Sun, 01 Mar 2026 09:00:00 GMT"), NOW));
    }

    @Test
    void hugeSecondsSaturateAtAYear() {
        Duration year = Duration.ofDays(365);
        assertEquals(Optional.of(year),
                RetryAfter.parse(Optional.of("99999999999999999999999"), NOW));
        assertEquals(Optional.of(year), RetryAfter.parse(Optional.of("9999999999"), NOW));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "soon", "-5", "1.5", "Sunday 10:00"})
    void invalidValueIsIgnored(String value) {
        assertEquals(Optional.empty(), RetryAfter.parse(Optional.of(value), NOW));
    }

    @Test
    void missingHeaderIsEmpty() {
        assertEquals(Optional.empty(), RetryAfter.parse(Optional.empty(), NOW));
    }
}
