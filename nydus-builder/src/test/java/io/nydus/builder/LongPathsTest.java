package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.posix.BytePath;
import java.util.List;
import org.junit.jupiter.api.Test;

class LongPathsTest {

    @Test
    void shortPathIsOneStep() {
        BytePath path = BytePath.of("/a/b/c");

        assertEquals(List.of(path), LongPaths.steps(path));
    }

    @Test
    void longPathSplitsAtSlashes() {
        StringBuilder text = new StringBuilder();
        for (int level = 0; level < 40; level++) {
            text.append('/').append(String.format("%03d", level)).append("x".repeat(250));
        }
        BytePath path = BytePath.of(text.toString());

        List<BytePath> steps = LongPaths.steps(path);

        assertEquals(3, steps.size(), "16 components of 254 bytes fit in one step");
        for (BytePath step : steps) {
            assertTrue(step.length() <= LongPaths.MAX_LENGTH, step.length() + " bytes");
        }
        assertTrue(steps.getFirst().isAbsolute(), "first step keeps the leading slash");
        assertFalse(steps.get(1).isAbsolute(), "later steps are relative");
        BytePath joined = steps.getFirst();
        for (BytePath step : steps.subList(1, steps.size())) {
            joined = joined.resolve(step);
        }
        assertEquals(path, joined);
    }
}
