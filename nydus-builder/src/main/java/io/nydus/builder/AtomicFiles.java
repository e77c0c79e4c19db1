package io.nydus.builder;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Writes files under a temporary name in the same directory and renames them into place. */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    public static void write(Path target, byte[] data) throws IOException {
        Path temp = createTempBeside(target);
        try {
            Files.write(temp, data);
            moveIntoPlace(temp, target);
        } finally {
            ExitCleanup.delete(temp);
        }
    }

    /**
     * Creates an empty temporary file in {@code target}'s directory, making the directory if
     * needed, so that the finished file can be renamed onto {@code target}. A JVM that stops
     * before the file is renamed or deleted with {@link ExitCleanup#delete} deletes it.
     *
     * @throws IOException naming {@code target}, not the temporary file, when that fails
     */
    public static Path createTempBeside(Path target) throws IOException {
        ExitCleanup.requireRunning(target);
        Path dir = target.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
            return ExitCleanup.deleteAtExit(
                    Files.createTempFile(dir, "." + target.getFileName() + "-", ".tmp"));
        } catch (IOException e) {
            throw new IOException("cannot write " + target + ": " + reason(e), e);
        }
    }

    /** Makes {@code temp} readable by all and renames it onto {@code target}. */
    public static void moveIntoPlace(Path temp, Path target) throws IOException {
        setReadable(temp);
        Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
        ExitCleanup.unregister(temp);
    }

    /** Gives a file made by {@code createTempFile} the usual 0644 mode. */
    public static void setReadable(Path file) throws IOException {
        Files.setPosixFilePermissions(file,
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    }

    /** Returns why a file system call failed, in words, without the path it names. */
    static String reason(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such directory, or the file system does not allow new files";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
