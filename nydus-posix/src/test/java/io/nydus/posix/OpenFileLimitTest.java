package io.nydus.posix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class OpenFileLimitTest {

    @Test
    void currentMatchesProcLimits() throws Exception {
        OpenFileLimit limit = OpenFileLimit.current();

        List<String> fields = procOpenFilesLine();
        assertEquals(Long.parseLong(fields.get(0)), limit.soft());
        assertEquals(Long.parseLong(fields.get(1)), limit.hard());
    }

    @Test
    void lowerSoftLimitIsAppliedAndRestored() throws Exception {
        OpenFileLimit before = OpenFileLimit.current();
        long lower = Math.max(256, before.soft() / 2);
        try {
            new OpenFileLimit(lower, before.hard()).apply();

            assertEquals(new OpenFileLimit(lower, before.hard()), OpenFileLimit.current());
        } finally {
            before.apply();
        }
        assertEquals(before, OpenFileLimit.current());
    }

    @Test
    void limitAboveKernelMaximumFailsNamingIt() throws Exception {
        // Files.readString read only the first byte of /proc/sys files on the test machines.
        long nrOpen = Long.parseLong(
                Files.readAllLines(Path.of("/proc/sys/fs/nr_open")).getFirst().trim());
        OpenFileLimit tooHigh = new OpenFileLimit(nrOpen + 1, nrOpen + 1);

        PosixException e = assertThrows(PosixException.class, tooHigh::apply);

        assertTrue(e.getMessage().startsWith("setrlimit RLIMIT_NOFILE to soft " + (nrOpen + 1)),
                e.getMessage());
    }

    @Test
    void softAboveHardIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> new OpenFileLimit(10, 5));
    }

    /** Returns the soft and hard values of the "Max open files" line of /proc/self/limits. */
    private static List<String> procOpenFilesLine() throws Exception {
        String line = Files.readAllLines(Path.of("/proc/self/limits")).stream()
                .filter(l -> l.startsWith("Max open files"))
                .findFirst().orElseThrow();
        String[] words = line.substring("Max open files".length()).trim().split("\\s+");
        return List.of(words[0], words[1]);
    }
}
