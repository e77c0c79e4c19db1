package io.nydus.builder;

import io.nydus.posix.BytePath;
import io.nydus.posix.FileType;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;

/**
 * Writes an image's file tree back out, as a directory or as a PAX tar archive. File data is
 * read from the blobs and checked against each chunk's digest, so a corrupt blob fails the
 * unpack instead of producing wrong files.
 */
public final class Unpacker {
    private Unpacker() {
    }

    /**
     * Counts of what an unpack wrote.
     *
     * @param entries names written, the root included, hardlinks counted once per name
     * @param regularFiles regular file names written, hardlinks included
     * @param dataBytes file data bytes written, each hardlinked file counted once
     * @param skipped entries or attributes left out because the output cannot hold them
     */
    public record Result(long entries, long regularFiles, long dataBytes, long skipped) {
    }

    /**
     * Unpacks to {@code output}: a tar archive when its name ends with {@code .tar} or it is a
     * stream (see {@link #isStream}), else a directory, which must be empty or missing.
     */
    public static Result unpack(Path bootstrap, Path blobDir, Path output) throws IOException {
        return unpack(bootstrap, blobDir, null, output);
    }

    /**
     * Unpacks like {@link #unpack(Path, Path, Path)}, reading the blobs from {@code blobDir}
     * or, for an image of one blob, from the file {@code blobFile}; at most one is given.
     */
    public static Result unpack(Path bootstrap, Path blobDir, Path blobFile, Path output)
            throws IOException {
        Bootstrap image = BootstrapReader.read(bootstrap);
        Path name = output.getFileName();
        AtomicFiles.requireNotInput(output,
                BlobSet.inputFiles(bootstrap, blobDir, blobFile, image.blobs()));
        try (BlobSet blobs = new BlobSet(blobDir, blobFile, image.blobs())) {
            if (isStream(output)) {
                return new TarUnpacker(image, blobs).stream(output);
            }
            if (name != null && name.toString().endsWith(".tar")) {
                return new TarUnpacker(image, blobs).unpack(output);
            }
            return new DirectoryUnpacker(image, blobs).unpack(output);
        }
    }

    /**
     * Returns whether {@code output} is an existing FIFO or character device, such as a pipe
     * that another process reads, or names an open file of this process, such as
     * {@code /dev/stdout}. Unpack writes the tar archive into such an output in place, as
     * upstream's unpack does, because renaming a finished file onto it would replace the pipe
     * or the link instead of feeding its reader.
     */
    public static boolean isStream(Path output) throws IOException {
        if (namesDescriptor(output)) {
            return true;
        }
        FileType type;
        try {
            type = Posix.stat(BytePath.of(output)).type();
        } catch (PosixException e) {
            // A missing output, or one below a file, is no stream, and writing it fails with
            // the error that names it.
            return false;
        }
        return type == FileType.FIFO || type == FileType.CHAR_DEVICE;
    }

    /**
     * Returns whether {@code output} names an open file of this process, such as
     * {@code /dev/stdout}, which is whatever file standard output was redirected to, a
     * regular file included.
     */
    private static boolean namesDescriptor(Path output) {
        String path = output.toAbsolutePath().normalize().toString();
        return path.equals("/dev/stdout") || path.equals("/dev/stderr")
                || path.startsWith("/dev/fd/") || path.startsWith("/proc/self/fd/");
    }

    /**
     * Recreates the tree in the directory {@code output}, which must be empty or missing.
     * Entries are created relative to directory descriptors opened with O_NOFOLLOW, so
     * nothing is written outside {@code output}, whatever the image's symlinks point to.
     * Owners, devices and trusted.* xattrs need root. As another user the first such call
     * fails, and the unpack stops with that error and removes what it wrote.
     *
     * @param blobDir the directory holding the blobs, named by blob id; may be null for an
     *     image without file data
     */
    public static Result unpackToDirectory(Path bootstrap, Path blobDir, Path output)
            throws IOException {
        Bootstrap image = BootstrapReader.read(bootstrap);
        try (BlobSet blobs = new BlobSet(blobDir, image.blobs())) {
            return new DirectoryUnpacker(image, blobs).unpack(output);
        }
    }

    /**
     * Writes the tree of a bootstrap whose file data lies in one blob as a PAX tar archive to
     * the stream {@code output}, which is flushed but left open. This turns the bootstrap that
     * a per-layer build inlines in its blob back into the layer's tar: with the {@code none}
     * whiteout spec, whiteouts and opaque markers are plain files in that bootstrap, so they
     * come out as the same files. Entries are written as they are read, so memory does not
     * grow with the layer.
     *
     * @param blobFile the image's only blob, or null for an image without file data
     * @throws IOException if the bootstrap is invalid or a chunk fails its digest check, which
     *     names the blob and the chunk
     */
    public static Result writeTar(Path bootstrap, Path blobFile, OutputStream output)
            throws IOException {
        Bootstrap image = BootstrapReader.read(bootstrap);
        try (BlobSet blobs = new BlobSet(null, blobFile, image.blobs())) {
            return new TarUnpacker(image, blobs).write(output);
        }
    }

    /**
     * Writes the tree as a PAX tar archive to {@code output}, through a temporary file that is
     * renamed at the end. Sockets, which tar cannot hold, are left out with a warning. Files
     * with all-zero chunks become GNU sparse 1.0 entries, so holes take no archive space.
     */
    public static Result unpackToTar(Path bootstrap, Path blobDir, Path output)
            throws IOException {
        Bootstrap image = BootstrapReader.read(bootstrap);
        AtomicFiles.requireNotInput(output,
                BlobSet.inputFiles(bootstrap, blobDir, null, image.blobs()));
        try (BlobSet blobs = new BlobSet(blobDir, image.blobs())) {
            return new TarUnpacker(image, blobs).unpack(output);
        }
    }
}
