package io.nydus.nydusify;

import io.nydus.builder.AtomicFiles;
import io.nydus.builder.ExitCleanup;
import io.nydus.registry.Digest;
import io.nydus.registry.ManifestContent;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Date;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * An {@link ImageStore} over a tar archive of an OCI image layout, kept as a layout directory
 * under the work directory while the store is open. A source archive (plain or gzipped tar) is
 * unpacked when opened. A target archive is written from scratch when the store closes after
 * {@link #putImage}, under a temporary name renamed into place, so a failed run leaves any
 * earlier archive as it was.
 */
final class ArchiveStore extends LayoutStore {
    private final boolean target;
    private boolean imageWritten;

    private ArchiveStore(ImageLocation location, Path dir, boolean target) {
        super(location, dir);
        this.target = target;
    }

    /**
     * Unpacks the archive of {@code location} into a new directory under {@code workDir}.
     *
     * @throws IOException if the archive cannot be read, has an entry outside the layout or
     *     of a type other than file and directory, or contains no OCI image layout
     */
    static ArchiveStore openSource(ImageLocation location, Path workDir) throws IOException {
        Path dir = newDirectory(workDir);
        ArchiveStore store = new ArchiveStore(location, dir, false);
        try {
            store.unpack(location.path());
            store.checkLayout();
            return store;
        } catch (IOException | RuntimeException e) {
            SourceManifests.deleteTree(dir);
            throw e;
        }
    }

    /** Starts an empty layout under {@code workDir} that becomes the archive on close. */
    static ArchiveStore openTarget(ImageLocation location, Path workDir) throws IOException {
        Path parent = location.path().toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IOException("cannot write archive " + location.path() + ": directory "
                    + parent + " does not exist");
        }
        AtomicFiles.requireReplaceable(location.path());
        Path dir = newDirectory(workDir);
        ArchiveStore store = new ArchiveStore(location, dir, true);
        store.create();
        return store;
    }

    private static Path newDirectory(Path workDir) throws IOException {
        Files.createDirectories(workDir);
        return ExitCleanup.deleteAtExit(
                Files.createTempDirectory(workDir.toAbsolutePath(), "layout-"));
    }

    private void unpack(Path archive) throws IOException {
        try (InputStream file = new BufferedInputStream(Files.newInputStream(archive), 1 << 16);
                TarArchiveInputStream tar = new TarArchiveInputStream(decompressed(file))) {
            TarArchiveEntry entry;
            while ((entry = nextEntry(archive, tar)) != null) {
                Path path = entryPath(archive, entry.getName());
                if (entry.isDirectory()) {
                    Files.createDirectories(path);
                } else if (entry.isFile()) {
                    Files.createDirectories(path.getParent());
                    copyEntry(archive, entry, tar, path);
                } else {
                    throw new IOException("archive " + archive + ": entry " + entry.getName()
                            + " is neither a file nor a directory, which an OCI image layout"
                            + " does not contain");
                }
            }
        }
    }

    /** Returns the next entry, with a read error of the tar or gzip stream naming the archive. */
    private static TarArchiveEntry nextEntry(Path archive, TarArchiveInputStream tar)
            throws IOException {
        try {
            return tar.getNextEntry();
        } catch (IOException e) {
            throw new IOException("archive " + archive + ": " + e.getMessage()
                    + " (the archive is truncated or not a tar file)", e);
        }
    }

    private static void copyEntry(Path archive, TarArchiveEntry entry, InputStream tar,
            Path path) throws IOException {
        long copied;
        try {
            copied = Files.copy(tar, path, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new IOException("archive " + archive + ": entry " + entry.getName() + ": "
                    + e.getMessage(), e);
        }
        if (copied != entry.getSize()) {
            throw new IOException("archive " + archive + ": entry " + entry.getName() + " has "
                    + copied + " of its " + entry.getSize() + " bytes; the archive is"
                    + " truncated");
        }
    }

    /** Returns the stream, gunzipped if it starts with the gzip magic bytes. */
    private static InputStream decompressed(InputStream in) throws IOException {
        in.mark(2);
        int first = in.read();
        int second = in.read();
        in.reset();
        return first == 0x1f && second == 0x8b ? new GzipCompressorInputStream(in) : in;
    }

    private Path entryPath(Path archive, String name) throws IOException {
        Path root = directory().toAbsolutePath().normalize();
        Path path = root.resolve(name).normalize();
        if (name.startsWith("/") || !path.startsWith(root)) {
            throw new IOException("archive " + archive + ": entry " + name + " points outside"
                    + " the layout");
        }
        return path;
    }

    @Override
    public Digest putImage(ManifestContent content) throws IOException {
        Digest digest = super.putImage(content);
        imageWritten = true;
        return digest;
    }

    /** Writes a target archive if an image was stored, then deletes the layout directory. */
    @Override
    public void close() throws IOException {
        try {
            if (target && imageWritten) {
                writeArchive(location().path());
            }
        } finally {
            SourceManifests.deleteTree(directory());
        }
    }

    /**
     * Writes the layout as a tar with sorted entries, mtime 0 and owner 0:0, so the same
     * layout gives the same archive bytes.
     */
    private void writeArchive(Path archive) throws IOException {
        Path temp = AtomicFiles.createTempBeside(archive);
        try {
            try (OutputStream out = Files.newOutputStream(temp);
                    TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
                tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
                tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
                for (Path path : layoutFiles()) {
                    addEntry(tar, path);
                }
            }
            AtomicFiles.moveIntoPlace(temp, archive);
        } finally {
            ExitCleanup.delete(temp);
        }
    }

    private List<Path> layoutFiles() throws IOException {
        try (Stream<Path> paths = Files.walk(directory())) {
            return paths.filter(path -> !path.equals(directory())).sorted().toList();
        }
    }

    private void addEntry(TarArchiveOutputStream tar, Path path) throws IOException {
        String name = directory().relativize(path).toString();
        boolean isDirectory = Files.isDirectory(path);
        TarArchiveEntry entry = new TarArchiveEntry(isDirectory ? name + "/" : name);
        entry.setMode(isDirectory ? 040755 : 0100644);
        entry.setSize(isDirectory ? 0 : Files.size(path));
        entry.setModTime(new Date(0));
        entry.setUserId(0);
        entry.setGroupId(0);
        tar.putArchiveEntry(entry);
        if (!isDirectory) {
            Files.copy(path, tar);
        }
        tar.closeArchiveEntry();
    }
}
