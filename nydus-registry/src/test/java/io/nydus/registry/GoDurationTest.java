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
    }

    @Test
    void malformedDurationsAreNamed() {
        for (String text : new String[] {"", "5", "soon", "5 s", "1.5h", "-5s", "5s5",
                "99999999999999999999s"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> GoDuration.parse(text),
                    text);
            assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
        }
    }
}
