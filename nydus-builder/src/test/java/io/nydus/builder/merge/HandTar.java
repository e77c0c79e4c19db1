package io.nydus.builder.merge;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Date;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

/**
 * Writes a layer tarball entry by entry, for entries that GNU tar does not make from a real
 * directory: a hard link whose target is in a lower layer, a whiteout stored as a hard link, a
 * whiteout whose directory the tarball does not list, an entry below a lower layer's symlink,
 * or one path given twice.
 * Every entry belongs to user root and has the same modification time, and to group root
 * unless a directory is given another group.
 */
final class HandTar implements AutoCloseable {
    private static final Date MTIME = new Date(1_700_000_000_000L);

    private final TarArchiveOutputStream out;

    HandTar(Path file) throws IOException {
        out = new TarArchiveOutputStream(Files.newOutputStream(file));
        out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
        out.setAddPaxHeadersForNonAsciiNames(true);
    }

    HandTar directory(String name) throws IOException {
        return directory(name, 0755, 0);
    }

    /** Adds a directory with the given permission bits and group. */
    HandTar directory(String name, int permissions, int gid) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name.endsWith("/") ? name : name + "/");
        e.setMode(040000 | permissions);
        e.setGroupId(gid);
        return put(e, null);
    }

    HandTar file(String name, String content) throws IOException {
        return file(name, content, null, null);
    }

    /** Adds a regular file, with one xattr as a PAX {@code SCHILY.xattr} record if given. */
    HandTar file(String name, String content, String xattrName, String xattrValue)
            throws IOException {
        byte[] data = content.getBytes(StandardCharsets.UTF_8);
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setMode(0100644);
        e.setSize(data.length);
        if (xattrName != null) {
            e.addPaxHeader("SCHILY.xattr." + xattrName, xattrValue);
        }
        return put(e, data);
    }

    HandTar hardlink(String name, String target) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_LINK);
        e.setLinkName(target);
        e.setMode(0100644);
        return put(e, null);
    }

    HandTar symlink(String name, String target) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_SYMLINK);
        e.setLinkName(target);
        e.setMode(0120777);
        return put(e, null);
    }

    HandTar fifo(String name) throws IOException {
        TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_FIFO);
        e.setMode(010644);
        return put(e, null);
    }

    private HandTar put(TarArchiveEntry e, byte[] data) throws IOException {
        e.setModTime(MTIME);
        e.setUserId(0);
        out.putArchiveEntry(e);
        if (data != null) {
            out.write(data);
        }
        out.closeArchiveEntry();
        return this;
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
