package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ContentRangeTest {

    @Test
    void rangeWithSizeIsParsed() {
        assertEquals(Optional.of(new ContentRange(100, 199)),
                ContentRange.parse("bytes 100-199/5000"));
    }

    @Test
    void rangeWithUnknownSizeIsParsed() {
        assertEquals(Optional.of(new ContentRange(0, 0)), ContentRange.parse(" bytes 0-0/* "));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "bytes", "bytes 5-4/10", "bytes */10", "items 0-1/2",
        "bytes 0-1", "bytes -1-2/3"})
    void invalidRangeIsEmpty(String value) {
        assertEquals(Optional.empty(), ContentRange.parse(value));
    }

    @Test
    void matchingRangePasses() {
        assertEquals(Optional.empty(),
                ContentRange.mismatch(Optional.of("bytes 10-19/100"), 10, 19));
    }

    @Test
    void missingHeaderPasses() {
        assertEquals(Optional.empty(), ContentRange.mismatch(Optional.empty(), 10, 19));
    }

    @Test
    void shiftedRangeIsNamed() {
        Optional<String> mismatch = ContentRange.mismatch(Optional.of("bytes 11-20/100"), 10, 19);

        assertTrue(mismatch.isPresent());
        assertTrue(mismatch.get().contains("bytes 11-20/100"), mismatch.get());
        assertTrue(mismatch.get().contains("requested bytes 10-19"), mismatch.get());
    }

    @Test
    void unparsableRangeIsNamed() {
        Optional<String> mismatch = ContentRange.mismatch(Optional.of("bytes nonsense"), 0, 9);

        assertTrue(mismatch.isPresent());
        assertTrue(mismatch.get().contains("bytes nonsense"), mismatch.get());
    }
}
