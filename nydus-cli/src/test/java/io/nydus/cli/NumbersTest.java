package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class NumbersTest {

    @Test
    void bytesTakeDecimalAndBinaryUnits() {
        assertEquals(0, Numbers.parseBytes("--size", "0MB"));
        assertEquals(4096, Numbers.parseBytes("--size", "4096"));
        assertEquals(16_000_000, Numbers.parseBytes("--size", "16MB"));
        assertEquals(16_000_000, Numbers.parseBytes("--size", "16 mb"));
        assertEquals(64L << 20, Numbers.parseBytes("--size", "64MiB"));
        assertEquals(1500, Numbers.parseBytes("--size", "1.5k"));
        assertEquals(2L << 40, Numbers.parseBytes("--size", "2TiB"));
    }

    @Test
    void malformedBytesNameOptionAndValue() {
        for (String text : new String[] {"", "MB", "-1MB", "16XB", "1e6"}) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Numbers.parseBytes("--push-chunk-size", text), text);
            assertTrue(e.getMessage().startsWith("--push-chunk-size '" + text + "'"),
                    e.getMessage());
        }
    }

    @Test
    void bytesBeyondLongAreRejected() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Numbers.parseBytes("--size", "99999999999TiB"));
        assertTrue(e.getMessage().contains("too large"), e.getMessage());
    }
}
