package io.nydus.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class CommandsTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @Test
    void capturesStdoutBytes() throws IOException {
        CommandResult result = Commands.run(List.of("printf", "a\\377b"), TIMEOUT);
        assertEquals(0, result.exitCode());
        assertArrayEquals(new byte[] {'a', (byte) 0xff, 'b'}, result.stdout());
    }

    @Test
    void passesStdin() throws IOException {
        byte[] input = "line one\nline two\n".getBytes(StandardCharsets.UTF_8);
        CommandResult result = Commands.run(List.of("wc", "-l"), TIMEOUT, input);
        assertEquals("2", result.stdoutText().strip());
    }

    @Test
    void failureNamesCommandAndStderr() {
        CommandException e = assertThrows(CommandException.class, () -> Commands.run(
                List.of("sh", "-c", "echo broken >&2; exit 3"), TIMEOUT));
        assertEquals("sh -c 'echo broken >&2; exit 3' failed with exit code 3: broken",
                e.getMessage());
        assertEquals(3, e.result().exitCode());
        assertEquals("broken\n", e.result().stderrText());
    }

    @Test
    void allowingFailureReturnsExitCode() throws IOException {
        CommandResult result = Commands.runAllowingFailure(List.of("false"), TIMEOUT,
                new byte[0]);
        assertEquals(1, result.exitCode());
    }

    @Test
    void timeoutKillsCommand() {
        CommandException e = assertThrows(CommandException.class, () -> Commands.run(
                List.of("sleep", "600"), Duration.ofMillis(200)));
        assertTrue(e.getMessage().startsWith("sleep 600 timed out after"), e.getMessage());
        assertNull(e.result());
    }

    @Test
    void missingProgramFailsToStart() {
        assertThrows(IOException.class, () -> Commands.run(
                List.of("/nonexistent/program"), TIMEOUT));
    }
}
