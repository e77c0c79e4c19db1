package io.nydus.snapshotter;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writer of the snapshotter's state files, so that a crash or a power loss leaves either the
 * old content or the new one. The bytes go to a synced temporary file beside the target, which
 * is renamed over the target, and the rename is synced with the directory.
 */
final class StateFiles {
    private StateFiles() {
    }

    /**
     * Replaces {@code file} with {@code bytes}. A thread that the server's shutdown interrupted
     * still writes it, because file channels fail on an interrupt, and a change left unsaved,
     * such as the rollback of a failed Prepare, would outlive the restart.
     */
    static void write(Path file, byte[] bytes) throws IOException {
        boolean interrupted = Thread.interrupted();
        try {
            Path temp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.write(temp, bytes);
            force(temp, StandardOpenOption.WRITE);
            Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            force(file.toAbsolutePath().getParent(), StandardOpenOption.READ);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void force(Path path, StandardOpenOption mode) throws IOException {
        try (FileChannel channel = FileChannel.open(path, mode)) {
            channel.force(true);
        }
    }
}
