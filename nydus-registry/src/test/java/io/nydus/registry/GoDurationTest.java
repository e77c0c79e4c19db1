package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class GoDurationTest {

    @Test
    void unitsAndSumsParse() {
        assertEquals(Duration.ofMillis(500), GoDuration.parse("500ms"));
        assertEquals(Duration.ofSeconds(5), GoDuration.parse("5s"));
        assertEquals(Duration.ofSeconds(90), GoDuration.parse("1m30s"));
        assertEquals(Duration.ofHours(24), GoDuration.parse("24h"));
        assertEquals(Duration.ZERO, GoDuration.parse("0"));
        assertEquals(Duration.ofMillis(1500), GoDuration.parse("1.5s"));
        assertEquals(Duration.ofMinutes(90), GoDuration.parse("1.5h"));
        assertEquals(Duration.ofMillis(500), GoDuration.parse(".5s"));
        assertEquals(Duration.ofNanos(2_300), GoDuration.parse("2us300ns"));
        assertEquals(Duration.ofNanos(7_000), GoDuration.parse("7µs"));
    }

    @Test
    void malformedDurationsAreNamed() {
        for (String text : new String[] {"", "5", "soon", "5 s", "1.5", "-5s", "5s5", ".s",
                "99999999999999999999h"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> GoDuration.parse(text),
                    text);
            assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
        }
    }
}
