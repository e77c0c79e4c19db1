package io.nydus.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.nydusify.LayerResult;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Digest;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@link ProgressDisplay} drawn into a buffer with a clock the test moves. */
class ProgressDisplayTest {
    private static final String LAYER_A = "1/2 sha256:" + "a".repeat(64);
    private static final String LAYER_B = "2/2 sha256:" + "b".repeat(64);

    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    private long now;
    private final ProgressDisplay display = new ProgressDisplay(
            new PrintStream(buffer, true, StandardCharsets.UTF_8), () -> now);

    @Test
    void linesRedrawInPlace() {
        display.started(LAYER_A, 4 << 20);
        display.started(LAYER_B, 1024);

        String frame = lastFrame();
        assertTrue(output().contains("\u001b[1A"), output());
        List<String> lines = List.of(frame.split("\n"));
        assertEquals(2, lines.size(), frame);
        assertTrue(lines.get(0).contains("1/2 sha256:aaaaaaaaaaaa"), frame);
        assertTrue(lines.get(1).contains("2/2 sha256:bbbbbbbbbbbb"), frame);
    }

    @Test
    void byteEventsAreThrottled() {
        display.started(LAYER_A, 4 << 20);
        int drawn = output().length();

        display.pulled(LAYER_A, 1 << 20);
        assertEquals(drawn, output().length());

        now += ProgressDisplay.REDRAW_NANOS;
        display.pulled(LAYER_A, 2 << 20);
        assertTrue(output().length() > drawn);
        assertTrue(output().contains("pulled 2.0 MiB/4.0 MiB"), output());
    }

    @Test
    void finishedLayerShowsOutcome() {
        display.started(LAYER_A, 4 << 20);
        display.built(LAYER_A, 3 << 20);
        display.finished(LAYER_A, new LayerResult(new Digest("a".repeat(64)), 4 << 20,
                new Digest("c".repeat(64)), 3 << 20, BlobPushResult.EXISTED, 0, 5, false));

        String last = lastFrame();
        assertTrue(last.contains("1/2 sha256:aaaaaaaaaaaa  pulled 4.0 MiB/4.0 MiB"), last);
        assertTrue(last.contains("built 3.0 MiB  already in target"), last);
        assertFalse(last.contains("a".repeat(13)), last);
    }

    @Test
    void cachedLayerShowsBuildCache() {
        display.started(LAYER_A, 4 << 20);
        display.finished(LAYER_A, new LayerResult(new Digest("a".repeat(64)), 4 << 20,
                new Digest("c".repeat(64)), 3 << 20, BlobPushResult.MOUNTED, 0, 5, true));

        String last = lastFrame();
        assertTrue(last.contains("1/2 sha256:aaaaaaaaaaaa  from build cache 3.0 MiB  mounted"),
                last);
        assertFalse(last.contains("pulled"), last);
    }

    @Test
    void sizeUsesBinaryUnits() {
        assertEquals("512 B", ProgressDisplay.size(512));
        assertEquals("1.5 KiB", ProgressDisplay.size(1536));
        assertEquals("3.0 GiB", ProgressDisplay.size(3L << 30));
    }

    @Test
    void dumbTerminalIsPlain() {
        assertFalse(ProgressDisplay.isTerminal(Map.of("TERM", "dumb")));
        assertFalse(ProgressDisplay.isTerminal(Map.of()));
    }

    private String output() {
        return buffer.toString(StandardCharsets.UTF_8);
    }

    /** Returns the text after the last cursor-up movement: the frame on screen now. */
    private String lastFrame() {
        String text = output();
        Matcher up = Pattern.compile("\u001b\\[\\d+A").matcher(text);
        int end = 0;
        while (up.find()) {
            end = up.end();
        }
        return text.substring(end);
    }
}
