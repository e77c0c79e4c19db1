package io.nydus.builder;

import io.nydus.posix.BytePath;
import io.nydus.posix.Devices;
import io.nydus.posix.Fd;
import io.nydus.posix.FileTrees;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.PosixException;
import io.nydus.posix.Timespec;
import io.nydus.posix.Xattrs;
import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.Bootstrap;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Recreates an image's tree below an output directory. Every entry is created relative to an
 * open directory descriptor, and directories are opened with O_NOFOLLOW, so a symlink in the
 * image is created but never followed. Metadata goes on in the order that keeps it: data, then
 * owner (which clears setuid bits and file capabilities), then permissions, then xattrs, then
 * the modification time. A directory gets its metadata after all its entries, so the deepest
 * directories are finished first and no later write changes a finished directory's mtime.
 */
final class DirectoryUnpacker {
    private static final Logger LOG = LoggerFactory.getLogger(DirectoryUnpacker.class);
    private static final int OPEN_DIRECTORY = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY
            | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
    private static final int CREATE_FILE = OpenFlags.O_WRONLY | OpenFlags.O_CREAT
            | OpenFlags.O_EXCL | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
    private static final byte[] USER_PREFIX = "user.".getBytes(StandardCharsets.US_ASCII);

    private final Bootstrap image;
    private final BlobSet blobs;
    /** The first name written for each non-directory inode, relative to the output root. */
    private final Map<Inode, BytePath> firstNames = new IdentityHashMap<>();
    private Fd root;
    /** The final output directory, named in messages. */
    private Path output;
    private long entries;
    private long regularFiles;
    private long dataBytes;
    private long skipped;

    DirectoryUnpacker(Bootstrap image, BlobSet blobs) {
        this.image = image;
        this.blobs = blobs;
    }

    /**
     * Unpacks into a temporary directory beside {@code outputDir} and renames it into place at
     * the end, so that a failed unpack leaves no partial tree.
     */
    Unpacker.Result unpack(Path outputDir) throws IOException {
        Path target = outputDir.toAbsolutePath();
        this.output = target;
        checkOutput(target);
        Path temp = target.resolveSibling("." + target.getFileName() + ".unpack-"
                + ProcessHandle.current().pid() + "-" + System.nanoTime());
        try {
            Posix.mkdir(BytePath.of(temp), 0700);
        } catch (PosixException e) {
            throw new IOException("cannot write " + outputDir + ": " + e.description(), e);
        }
        ExitCleanup.deleteAtExit(temp);
        try {
            Unpacker.Result result = unpackInto(temp);
            ExitCleanup.commit(() -> {
                Posix.rename(BytePath.of(temp), BytePath.of(target));
                ExitCleanup.unregister(temp);
            });
            LOG.info("unpacked {} entries ({} regular files, {} data bytes) to {}",
                    result.entries(), result.regularFiles(), result.dataBytes(), target);
            return result;
        } catch (PosixException e) {
            FileTrees.deleteRecursively(BytePath.of(temp));
            ExitCleanup.unregister(temp);
            throw inOutput(e, temp, target);
        } catch (IOException | RuntimeException e) {
            FileTrees.deleteRecursively(BytePath.of(temp));
            ExitCleanup.unregister(temp);
            throw e;
        }
    }

    /**
     * Returns {@code e} with the temporary directory's path replaced by the output's, so that
     * the error names a file below the output that the user gave, such as for a full disk.
     */
    private static IOException inOutput(PosixException e, Path temp, Path target) {
        return new IOException(e.getMessage().replace(temp.toString(), target.toString()), e);
    }

    private Unpacker.Result unpackInto(Path directory) throws IOException {
        try (Fd dir = Posix.openat(Fd.CWD, BytePath.of(directory), OPEN_DIRECTORY, 0)) {
            root = dir;
            Node top = image.root();
            writeTree(top, dir);
            finish(dir, top);
        }
        entries++;
        return new Unpacker.Result(entries, regularFiles, dataBytes, skipped);
    }

    /** Accepts a missing output or an empty directory, which the final rename replaces. */
    private static void checkOutput(Path dir) throws IOException {
        BytePath path = BytePath.of(dir);
        var stat = Posix.lstatIfExists(path);
        if (stat.isEmpty()) {
            Files.createDirectories(dir.getParent());
            return;
        }
        if (!stat.get().isDirectory()) {
            throw new IOException("output " + dir + " exists and is not a directory");
        }
        if (!Posix.readdir(path).isEmpty()) {
            throw new IOException("output directory " + dir + " is not empty, so give an"
                    + " empty or missing directory");
        }
    }

    /**
     * Writes everything below {@code top}, whose directory {@code topFd} is open, depth first.
     * The walk keeps its own stack instead of recursing, so that a deep tree does not overflow
     * the thread's stack. Each directory stays open until its entries are written, and then
     * gets its metadata.
     */
    private void writeTree(Node top, Fd topFd) throws IOException {
        Deque<OpenDirectory> open = new ArrayDeque<>();
        open.push(new OpenDirectory(top, topFd));
        try {
            while (!open.isEmpty()) {
                OpenDirectory current = open.peek();
                if (!current.children().hasNext()) {
                    open.pop();
                    if (current.node() != top) {
                        finishAndClose(current);
                    }
                    continue;
                }
                Node child = current.children().next();
                // A stopping JVM deletes the temporary tree, which must not grow meanwhile.
                ExitCleanup.requireRunning(output);
                checkName(child);
                entries++;
                Fd childDirectory = write(child, current.fd());
                if (childDirectory != null) {
                    open.push(new OpenDirectory(child, childDirectory));
                }
            }
        } finally {
            closeAbandoned(open, top);
        }
    }

    /** A directory being written: its node, its open descriptor and the entries still to go. */
    private record OpenDirectory(Node node, Fd fd, Iterator<Node> children) {
        OpenDirectory(Node node, Fd fd) {
            this(node, fd, node.children().iterator());
        }
    }

    private void finishAndClose(OpenDirectory directory) throws IOException {
        try (Fd fd = directory.fd()) {
            finish(fd, directory.node());
        }
    }

    /** Closes the directories that an error left open, all but the caller's {@code top}. */
    private static void closeAbandoned(Deque<OpenDirectory> open, Node top) {
        for (OpenDirectory directory : open) {
            if (directory.node() != top) {
                try {
                    directory.fd().close();
                } catch (PosixException e) {
                    LOG.warn("cannot close {} after a failed unpack: {}", directory.fd().path(),
                            e.getMessage());
                }
            }
        }
    }

    /** Rejects names that could leave the directory, as the bootstrap reader does too. */
    private static void checkName(Node node) throws RafsFormatException {
        try {
            Node.checkName(node.nameBytes());
        } catch (IllegalArgumentException e) {
            throw new RafsFormatException(node.path() + ": " + e.getMessage());
        }
    }

    /**
     * Writes one entry below {@code parent}. Returns a new directory open, for its entries
     * to be written, and null for every other type.
     */
    private Fd write(Node node, Fd parent) throws IOException {
        Inode inode = node.inode();
        BytePath name = BytePath.of(node.nameBytes());
        FileType type = inode.type();
        if (type == FileType.REGULAR) {
            regularFiles++;
        }
        BytePath first = firstNames.get(inode);
        if (first != null) {
            Posix.linkat(root, first, parent, name, 0);
            return null;
        }
        switch (type) {
            case DIRECTORY -> {
                Posix.mkdirat(parent, name, 0700);
                return Posix.openat(parent, name, OPEN_DIRECTORY, 0);
            }
            case REGULAR -> writeFile(node, parent, name);
            case SYMLINK -> {
                Posix.symlinkat(inode.symlinkTarget(), parent, name);
                finishAt(node, parent, name);
            }
            case CHAR_DEVICE, BLOCK_DEVICE, FIFO, SOCKET -> {
                long dev = type.isDevice()
                        ? Devices.makedev(inode.rdevMajor(), inode.rdevMinor()) : 0;
                Posix.mknodat(parent, name, type.modeBits() | 0600, dev);
                finishAt(node, parent, name);
            }
        }
        firstNames.put(inode, relativePath(node));
        return null;
    }

    private static BytePath relativePath(Node node) {
        byte[] path = node.pathBytes();
        return BytePath.of(Arrays.copyOfRange(path, 1, path.length));
    }

    private void writeFile(Node node, Fd parent, BytePath name) throws IOException {
        Inode inode = node.inode();
        try (Fd file = Posix.openat(parent, name, CREATE_FILE, 0600)) {
            FileData.read(node, image.chunkSize(), blobs, (offset, data) -> {
                if (!FileData.isZero(data)) {
                    file.pwriteAll(data, offset);
                }
            });
            file.ftruncate(inode.size());
            dataBytes += inode.size();
            finish(file, node);
        }
    }

    /** Sets owner, permissions, xattrs and mtime of an open file or directory. */
    private void finish(Fd fd, Node node) throws IOException {
        Inode inode = node.inode();
        fd.fchown(inode.uid(), inode.gid());
        fd.fchmod(inode.permissions());
        for (byte[][] xattr : xattrs(inode)) {
            Xattrs.set(fd, xattr[0], xattr[1], 0);
        }
        Timespec mtime = mtime(inode);
        fd.futimens(mtime, mtime);
    }

    /** Sets the metadata of a symlink or special file, which cannot be opened for writing. */
    private void finishAt(Node node, Fd parent, BytePath name) throws IOException {
        Inode inode = node.inode();
        Posix.fchownat(parent, name, inode.uid(), inode.gid(), Posix.AT_SYMLINK_NOFOLLOW);
        boolean symlink = inode.type() == FileType.SYMLINK;
        if (!symlink) {
            Posix.fchmodat(parent, name, inode.permissions(), Posix.AT_SYMLINK_NOFOLLOW);
        }
        // Linux has no lsetxattrat. The descriptor's /proc link pins the directory, and
        // lsetxattr does not follow the final name, so the call stays on this entry.
        BytePath viaProc = BytePath.of("/proc/self/fd/" + parent.number()).resolve(name);
        for (byte[][] xattr : xattrs(inode)) {
            if (symlink && startsWith(xattr[0], USER_PREFIX)) {
                LOG.warn("{}: skipped xattr {}, because Linux allows no user.* xattrs on"
                        + " symlinks", output + node.path(), BytePath.escape(xattr[0]));
                skipped++;
                continue;
            }
            try {
                Xattrs.set(viaProc, xattr[0], xattr[1], 0);
            } catch (PosixException e) {
                throw new IOException(output + node.path() + ": cannot set xattr "
                        + BytePath.escape(xattr[0]) + ": " + e.getMessage(), e);
            }
        }
        Timespec mtime = mtime(inode);
        Posix.utimensat(parent, name, mtime, mtime, Posix.AT_SYMLINK_NOFOLLOW);
    }

    private static Timespec mtime(Inode inode) {
        return new Timespec(inode.mtimeSeconds(), inode.mtimeNanos());
    }

    /** Returns the xattrs as name and value pairs, in name order. */
    private static List<byte[][]> xattrs(Inode inode) {
        List<byte[][]> list = new ArrayList<>(inode.xattrs().size());
        inode.xattrs().forEach((key, value) -> list.add(new byte[][] {key, value}));
        return list;
    }

    private static boolean startsWith(byte[] value, byte[] prefix) {
        return value.length >= prefix.length
                && Arrays.equals(value, 0, prefix.length, prefix, 0, prefix.length);
    }
}
