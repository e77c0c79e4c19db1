package io.nydus.cli;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.Stat;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The process's standard output and error when they are redirected into its own log file, as
 * the snapshotter starts nydusd. A rotation renames that file and then compresses and deletes
 * it. Whatever the process prints outside its logger (a thread dump, an uncaught exception, a
 * fatal JVM error) would be lost with it, so the streams are pointed at the new file.
 */
final class StandardStreams {

    private static final int[] DESCRIPTORS = {1, 2};
    private static final int OPEN_FLAGS = OpenFlags.O_WRONLY | OpenFlags.O_APPEND
            | OpenFlags.O_CREAT | OpenFlags.O_CLOEXEC;

    private StandardStreams() {
    }

    /**
     * Returns the standard descriptors (1 and 2) that refer to {@code file} now; none if the
     * file does not exist or a descriptor cannot be looked at.
     */
    static List<Integer> writingTo(Path file) {
        Optional<Stat> target = status(BytePath.of(file));
        if (target.isEmpty()) {
            return List.of();
        }
        List<Integer> sharing = new ArrayList<>();
        for (int descriptor : DESCRIPTORS) {
            status(BytePath.of("/proc/self/fd/" + descriptor))
                    .filter(stream -> sameFile(stream, target.get()))
                    .ifPresent(stream -> sharing.add(descriptor));
        }
        return List.copyOf(sharing);
    }

    /** Points each of {@code descriptors} at {@code file}, which is opened for appending. */
    static void redirect(List<Integer> descriptors, Path file) throws PosixException {
        try (Fd log = Posix.open(BytePath.of(file), OPEN_FLAGS, 0666)) {
            for (int descriptor : descriptors) {
                log.duplicateTo(descriptor);
            }
        }
    }

    private static Optional<Stat> status(BytePath path) {
        try {
            return Optional.of(Posix.stat(path));
        } catch (PosixException e) {
            return Optional.empty();
        }
    }

    private static boolean sameFile(Stat a, Stat b) {
        return a.dev() == b.dev() && a.ino() == b.ino();
    }
}
