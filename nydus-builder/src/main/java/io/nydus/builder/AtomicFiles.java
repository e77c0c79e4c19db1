package io.nydus.builder;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Collection;

/** Writes files under a temporary name in the same directory and renames them into place. */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    public static void write(Path target, byte[] data) throws IOException {
        Path temp = createTempBeside(target);
        try {
            writeAll(temp, data, target);
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
        requireReplaceable(target);
        Path dir = target.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
            return ExitCleanup.deleteAtExit(
                    Files.createTempFile(dir, "." + target.getFileName() + "-", ".tmp"));
        } catch (IOException e) {
            throw new IOException("cannot write " + target + ": " + reason(e), e);
        }
    }

    /**
     * Rejects an output {@code target} that a finished file must not be renamed onto. A
     * directory cannot be replaced, and a device, FIFO or socket would become a regular file
     * instead of receiving the output. A directory that cannot get new files cannot take the
     * temporary file either. Commands call this before their work, so that such an output
     * fails them early.
     *
     * @throws IOException naming {@code target} when it is one of those
     */
    public static void requireReplaceable(Path target) throws IOException {
        // NOTE: a symbolic link is followed for this check only, so a link to a regular file
        // is itself replaced by the output and the file it named stays as it was.
        requireWritableDirectory(target);
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(target, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return;
        } catch (FileSystemException e) {
            throw new IOException("cannot write " + target + ": " + reason(e), e);
        }
        if (attributes.isDirectory()) {
            throw new IOException("cannot write " + target + ": it is a directory; give the"
                    + " name of a file");
        }
        if (attributes.isOther()) {
            throw new IOException("cannot write " + target + ": it is a device, FIFO or"
                    + " socket, which the output would replace; give the name of a regular"
                    + " file");
        }
    }

    /**
     * Rejects a {@code target} whose directory, or the nearest existing directory above it,
     * cannot get new files, such as one on a read-only file system, so that a command fails
     * before its work instead of when it writes the output at the end.
     */
    private static void requireWritableDirectory(Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        while (dir != null && !Files.exists(dir)) {
            dir = dir.getParent();
        }
        if (dir != null && Files.isDirectory(dir) && !Files.isWritable(dir)) {
            throw new IOException("cannot write " + target + ": the directory " + dir
                    + " is not writable (read-only file system or no permission)");
        }
    }

    /**
     * Rejects an output {@code target} that is the same file as one of {@code inputs}, because
     * renaming the finished output onto it would replace an input of the command. Inputs that
     * do not exist, and null entries, are ignored.
     *
     * @throws IOException naming {@code target} and the input it would replace
     */
    public static void requireNotInput(Path target, Collection<Path> inputs) throws IOException {
        // The output is not followed: a symbolic link given as the output is itself replaced,
        // so the file it names stays as it was. Inputs are followed, as reading them does.
        Object targetKey = fileKey(target, LinkOption.NOFOLLOW_LINKS);
        if (targetKey == null) {
            return;
        }
        for (Path input : inputs) {
            if (input != null && targetKey.equals(fileKey(input))) {
                throw new IOException("cannot write " + target + ": it is the input " + input
                        + ", which the output would replace; give another output file");
            }
        }
    }

    /**
     * Rejects two outputs of one command that name the same file, because the output renamed
     * last would replace the other. Null outputs are ignored.
     *
     * @throws IOException naming both outputs
     */
    public static void requireDistinctOutputs(Path first, Path second) throws IOException {
        if (first == null || second == null) {
            return;
        }
        boolean same = first.toAbsolutePath().normalize()
                .equals(second.toAbsolutePath().normalize());
        Object firstKey = fileKey(first, LinkOption.NOFOLLOW_LINKS);
        if (!same && firstKey != null) {
            same = firstKey.equals(fileKey(second, LinkOption.NOFOLLOW_LINKS));
        }
        if (same) {
            throw new IOException("cannot write " + second + ": it is also the output "
                    + first + ", and one would replace the other; give each output its own"
                    + " file");
        }
    }

    /** Returns the file's identity (device and inode), or null when it cannot be read. */
    private static Object fileKey(Path file, LinkOption... options) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, options).fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Makes {@code temp} readable by all and renames it onto {@code target}.
     *
     * @throws IOException naming {@code target}, not the temporary file, when that fails
     */
    public static void moveIntoPlace(Path temp, Path target) throws IOException {
        setReadable(temp);
        try {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
        } catch (FileSystemException e) {
            requireReplaceable(target);
            throw new IOException("cannot write " + target + ": " + reason(e), e);
        }
        ExitCleanup.unregister(temp);
    }

    /** Gives a file made by {@code createTempFile} the usual 0644 mode. */
    public static void setReadable(Path file) throws IOException {
        Files.setPosixFilePermissions(file,
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    }

    /** Returns the failure {@code e} of a write to {@code target} as an error that names it. */
    static IOException writeFailure(Path target, IOException e) {
        return new IOException("cannot write " + target + ": " + reason(e), e);
    }

    /** Writes {@code data} to {@code file}, naming {@code target} when that fails. */
    static void writeAll(Path file, byte[] data, Path target) throws IOException {
        try {
            Files.write(file, data);
        } catch (IOException e) {
            throw writeFailure(target, e);
        }
    }

    /**
     * Returns why a file system call failed, in words. It leaves out the path that the call
     * named, and names only a file in the way of a directory to be made.
     */
    static String reason(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such directory, or the file system does not allow new files";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        // Files.createDirectories throws this with the file in the way as its only text.
        if (e instanceof FileAlreadyExistsException f && f.getReason() == null) {
            return f.getFile() + " exists and is not a directory";
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
