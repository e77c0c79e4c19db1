package io.nydus.builder;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens paths of any length. Linux rejects a path of PATH_MAX (4096) bytes or more in one call
 * with ENAMETOOLONG, but a directory tree may contain deeper entries. So a longer path is
 * opened in steps, and each step opens at most {@link #MAX_LENGTH} bytes of it below the
 * directory that the step before opened.
 */
final class LongPaths {
    /** The longest path that one call takes: PATH_MAX less the terminating NUL. */
    static final int MAX_LENGTH = 4095;
    private static final int OPEN_STEP = OpenFlags.O_PATH | OpenFlags.O_DIRECTORY
            | OpenFlags.O_CLOEXEC;

    private LongPaths() {
    }

    /**
     * Opens {@code path} with {@code flags} as {@link Posix#open} does. Symlinks in the
     * directories on the way are followed as one call would follow them, and {@code flags}
     * decide for the last component.
     */
    static Fd open(BytePath path, int flags) throws PosixException {
        if (path.length() <= MAX_LENGTH) {
            return Posix.open(path, flags);
        }
        List<BytePath> steps = steps(path);
        Fd dir = Fd.CWD;
        try {
            for (BytePath step : steps.subList(0, steps.size() - 1)) {
                Fd previous = dir;
                dir = Posix.openat(previous, step, OPEN_STEP, 0);
                // After the swap, the finally block closes the new descriptor if this fails.
                closeUnlessCwd(previous);
            }
            return Posix.openat(dir, steps.getLast(), flags, 0600);
        } finally {
            closeUnlessCwd(dir);
        }
    }

    /**
     * Splits {@code path} at slashes into pieces of at most {@link #MAX_LENGTH} bytes. The
     * first piece keeps the leading slash of an absolute path, and the others are relative.
     */
    static List<BytePath> steps(BytePath path) {
        List<BytePath> steps = new ArrayList<>();
        ByteArrayOutputStream step = new ByteArrayOutputStream();
        if (path.isAbsolute()) {
            step.write('/');
        }
        boolean empty = true;
        for (byte[] name : path.components()) {
            int separator = empty ? 0 : 1;
            if (step.size() + separator + name.length > MAX_LENGTH) {
                steps.add(BytePath.of(step.toByteArray()));
                step.reset();
                empty = true;
            }
            if (!empty) {
                step.write('/');
            }
            step.writeBytes(name);
            empty = false;
        }
        steps.add(BytePath.of(step.toByteArray()));
        return steps;
    }

    private static void closeUnlessCwd(Fd fd) throws PosixException {
        if (fd != Fd.CWD) {
            fd.close();
        }
    }
}
