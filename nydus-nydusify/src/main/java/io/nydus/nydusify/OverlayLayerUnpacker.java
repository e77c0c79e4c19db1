package io.nydus.nydusify;

import io.nydus.posix.BytePath;
import io.nydus.posix.Devices;
import io.nydus.posix.Fd;
import io.nydus.posix.FileTrees;
import io.nydus.posix.FileType;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import io.nydus.posix.Timespec;
import io.nydus.posix.Xattrs;
import io.nydus.tar.Bytes;
import io.nydus.tar.SparseSegment;
import io.nydus.tar.TarEntry;
import io.nydus.tar.TarPaths;
import io.nydus.tar.TarReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Unpacks one OCI layer tarball into a directory that overlayfs can stack as a lower layer.
 *
 * <p>OCI whiteouts become overlayfs ones: {@code .wh.NAME} becomes a 0:0 character device
 * named NAME, and {@code .wh..wh..opq} becomes the xattr {@code trusted.overlay.opaque=y} on
 * its directory. A whiteout deletes only what lower layers hold, so a name that this layer
 * already created stays. Such a directory is made opaque so that no lower entry shows
 * through, and so is a directory that replaces another entry of this layer.
 *
 * <p>Entries that the tarball leaves out are taken from the layers below, read through an
 * overlay mount of them ({@link LowerView}): a parent directory without an entry keeps the
 * lower directory's owner, mode, xattrs and mtime, and a hard link to a file of a lower layer
 * first copies that file into this layer, as overlayfs copies a file up before it links it.
 * A parent directory found in no layer gets mode 0755, owner 0:0 and mtime 0.
 *
 * <p>Paths are checked component by component without following symlinks, so no entry is
 * written outside the layer directory. Names, link targets and xattrs stay bytes.
 */
final class OverlayLayerUnpacker {
    static final String OVERLAY_XATTR_PREFIX = "trusted.overlay.";
    static final byte[] OPAQUE_XATTR = "trusted.overlay.opaque"
            .getBytes(StandardCharsets.UTF_8);
    static final byte[] OPAQUE_VALUE = {'y'};
    private static final Bytes WHITEOUT_PREFIX = Bytes.ofUtf8(".wh.");
    private static final Bytes OPAQUE_MARKER = Bytes.ofUtf8(".wh..wh..opq");
    private static final int IMPLICIT_MODE = 0755;
    private static final int COPY_BUFFER = 1 << 20;
    private static final int CREATE_FILE = OpenFlags.O_WRONLY | OpenFlags.O_CREAT
            | OpenFlags.O_EXCL | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
    private static final int READ_FILE = OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW
            | OpenFlags.O_CLOEXEC;

    /** The merged tree of the layers below the one being unpacked. */
    interface LowerView {
        /**
         * Returns the root of the merged lower layers, mounting them on first use, or null for
         * the bottom layer.
         */
        BytePath root() throws IOException;
    }

    private final BytePath layer;
    private final BytePath previousRoot;
    private final LowerView lower;
    private final String layerName;
    /** The whiteout devices that this layer made, which a later entry may replace. */
    private final Set<BytePath> whiteouts = new HashSet<>();
    /** The mtime of each directory, set last because every entry written changes it. */
    private final Map<BytePath, Timespec> directoryTimes = new LinkedHashMap<>();
    private TarEntry entry;

    /**
     * Creates an unpacker into the new directory {@code layer}.
     *
     * @param previousRoot the directory of the layer below, or null for the bottom layer. The
     *     layer keeps its root metadata unless its tarball has an entry for the root.
     * @param layerName the layer's digest and image, for messages
     */
    OverlayLayerUnpacker(BytePath layer, BytePath previousRoot, LowerView lower,
            String layerName) {
        this.layer = layer;
        this.previousRoot = previousRoot;
        this.lower = lower;
        this.layerName = layerName;
    }

    /** Unpacks every entry of {@code tar}. */
    void unpack(TarReader tar) throws IOException {
        createRoot();
        while ((entry = tar.next()) != null) {
            apply(tar);
        }
        entry = null;
        for (Map.Entry<BytePath, Timespec> directory : directoryTimes.entrySet()) {
            Optional<Stat> stat = Posix.lstatIfExists(directory.getKey());
            if (stat.isPresent() && stat.get().isDirectory()) {
                Posix.lutimens(directory.getKey(), directory.getValue(), directory.getValue());
            }
        }
    }

    private void createRoot() throws IOException {
        Posix.mkdir(layer, IMPLICIT_MODE);
        if (previousRoot == null) {
            Posix.chmod(layer, IMPLICIT_MODE);
            directoryTimes.put(layer, Timespec.ofSeconds(0));
        } else {
            copyMetadata(previousRoot, Posix.lstat(previousRoot), layer);
        }
    }

    private void apply(TarReader tar) throws IOException {
        List<Bytes> path = TarPaths.normalize(entry.name());
        if (path.isEmpty()) {
            if (entry.type() != io.nydus.tar.EntryType.DIRECTORY) {
                throw failure("the root entry is a " + entry.type() + ", not a directory");
            }
            setMetadata(layer);
            return;
        }
        if (path.getLast().startsWith(WHITEOUT_PREFIX)) {
            // A whiteout is only a name, even when it is stored as a hard link.
            whiteout(path);
            return;
        }
        switch (entry.type()) {
            case DIRECTORY -> directory(path);
            case HARDLINK -> hardLink(path);
            default -> leaf(path, tar.content());
        }
    }

    private void whiteout(List<Bytes> path) throws IOException {
        List<Bytes> parent = path.subList(0, path.size() - 1);
        boolean parentExists = isDirectory(layerStat(parent)) || isDirectory(lowerStat(parent));
        if (!parentExists) {
            return;
        }
        BytePath directory = ensureDirectory(parent);
        Bytes name = path.getLast();
        if (name.equals(OPAQUE_MARKER)) {
            Xattrs.set(directory, OPAQUE_XATTR, OPAQUE_VALUE, 0);
            return;
        }
        byte[] deleted = name.slice(WHITEOUT_PREFIX.length(), name.length()).toByteArray();
        if (deleted.length == 0 || isDotName(deleted)) {
            throw failure("the whiteout names no file");
        }
        BytePath target = directory.resolve(deleted);
        Optional<Stat> existing = Posix.lstatIfExists(target);
        if (existing.isPresent()) {
            if (existing.get().isDirectory()) {
                Xattrs.set(target, OPAQUE_XATTR, OPAQUE_VALUE, 0);
            }
            return;
        }
        Posix.mknod(target, FileType.CHAR_DEVICE.mode(0), 0);
        whiteouts.add(target);
    }

    private void directory(List<Bytes> path) throws IOException {
        ensureDirectory(path.subList(0, path.size() - 1));
        BytePath target = at(path);
        Optional<Stat> existing = Posix.lstatIfExists(target);
        if (existing.isPresent() && existing.get().isDirectory()) {
            setMetadata(target);
            return;
        }
        boolean replaced = remove(target, existing);
        Posix.mkdir(target, IMPLICIT_MODE);
        setMetadata(target);
        if (replaced) {
            Xattrs.set(target, OPAQUE_XATTR, OPAQUE_VALUE, 0);
        }
    }

    private void leaf(List<Bytes> path, InputStream content) throws IOException {
        ensureDirectory(path.subList(0, path.size() - 1));
        BytePath target = at(path);
        remove(target, Posix.lstatIfExists(target));
        int permissions = entry.mode();
        switch (entry.type()) {
            case FILE -> writeFile(target, content);
            case SYMLINK -> Posix.symlink(entry.linkName().toByteArray(), target);
            // NOTE: overlayfs takes a 0:0 character device for a whiteout, so the reference
            // hides one that a layer stores as a file, as a container on overlayfs would.
            case CHAR_DEVICE -> Posix.mknod(target, FileType.CHAR_DEVICE.mode(permissions),
                    Devices.makedev(entry.devMajor(), entry.devMinor()));
            case BLOCK_DEVICE -> Posix.mknod(target, FileType.BLOCK_DEVICE.mode(permissions),
                    Devices.makedev(entry.devMajor(), entry.devMinor()));
            case FIFO -> Posix.mknod(target, FileType.FIFO.mode(permissions), 0);
            default -> throw failure("unexpected entry type " + entry.type());
        }
        setMetadata(target);
    }

    private void hardLink(List<Bytes> path) throws IOException {
        List<Bytes> targetPath = TarPaths.normalize(entry.linkName());
        if (targetPath.isEmpty()) {
            throw failure("the hard link names the root directory");
        }
        BytePath link = at(path);
        BytePath target = at(targetPath);
        if (link.equals(target)) {
            return;
        }
        Optional<Stat> stat = layerStat(targetPath);
        if (whiteouts.contains(target)) {
            linkDeletedLowerFile(targetPath, path);
            return;
        }
        if (stat.isEmpty()) {
            ensureDirectory(targetPath.subList(0, targetPath.size() - 1));
            copyUp(targetPath, target);
        } else if (stat.get().isDirectory()) {
            throw failure("the hard link names the directory " + entry.linkName());
        }
        ensureDirectory(path.subList(0, path.size() - 1));
        remove(link, Posix.lstatIfExists(link));
        Posix.link(target, link);
    }

    /**
     * Links {@code path} to a copy of a lower file that this layer has deleted. Whiteouts
     * apply to lower layers only, so the link gets the lower file, and its name stays deleted.
     */
    private void linkDeletedLowerFile(List<Bytes> targetPath, List<Bytes> path)
            throws IOException {
        // A ".wh." name is never an entry of an unpacked layer, so it cannot clash.
        BytePath copy = layer.resolve(".wh..nydusify-copy-up");
        copyUp(targetPath, copy);
        ensureDirectory(path.subList(0, path.size() - 1));
        BytePath link = at(path);
        remove(link, Posix.lstatIfExists(link));
        Posix.link(copy, link);
        Posix.unlink(copy);
    }

    /**
     * Copies the lower layers' file at {@code path} to {@code target} in this layer, as
     * overlayfs copies a file up before it links it.
     */
    private void copyUp(List<Bytes> path, BytePath target) throws IOException {
        Optional<Stat> stat = lowerStat(path);
        if (stat.isEmpty() || stat.get().isDirectory()) {
            throw failure("hard link target " + entry.linkName() + " not found as a file in"
                    + " this layer or a lower one");
        }
        BytePath source = lower.root().resolve(TarPaths.join(path).toByteArray());
        remove(target, Posix.lstatIfExists(target));
        Stat lowerFile = stat.get();
        switch (lowerFile.type()) {
            case REGULAR -> copyFile(source, target);
            case SYMLINK -> Posix.symlink(Posix.readlink(source), target);
            default -> Posix.mknod(target, lowerFile.mode(), lowerFile.rdev());
        }
        copyMetadata(source, lowerFile, target);
    }

    /**
     * Returns this layer's directory at {@code path}, creating each missing one like an
     * unpack does for a parent that the tarball leaves out.
     */
    private BytePath ensureDirectory(List<Bytes> path) throws IOException {
        BytePath current = layer;
        for (int i = 1; i <= path.size(); i++) {
            current = current.resolve(path.get(i - 1).toByteArray());
            Optional<Stat> stat = Posix.lstatIfExists(current);
            if (stat.isPresent() && stat.get().isDirectory()) {
                continue;
            }
            if (stat.isPresent() && !whiteouts.contains(current)) {
                throw failure(TarPaths.join(path.subList(0, i)) + " is a "
                        + stat.get().type() + " in this layer, not a directory");
            }
            boolean replaced = remove(current, stat);
            Posix.mkdir(current, IMPLICIT_MODE);
            Optional<Stat> lowerDirectory = replaced ? Optional.empty()
                    : lowerStat(path.subList(0, i));
            if (isDirectory(lowerDirectory)) {
                BytePath source = lower.root().resolve(TarPaths.join(path.subList(0, i))
                        .toByteArray());
                copyMetadata(source, lowerDirectory.get(), current);
            } else {
                Posix.chmod(current, IMPLICIT_MODE);
                directoryTimes.put(current, Timespec.ofSeconds(0));
            }
            if (replaced) {
                Xattrs.set(current, OPAQUE_XATTR, OPAQUE_VALUE, 0);
            }
        }
        return current;
    }

    /** Deletes the entry at {@code path} that {@code stat} describes; false if there is none. */
    private boolean remove(BytePath path, Optional<Stat> stat) throws IOException {
        if (stat.isEmpty()) {
            return false;
        }
        if (stat.get().isDirectory()) {
            FileTrees.deleteRecursively(path);
        } else {
            Posix.unlink(path);
        }
        whiteouts.remove(path);
        return true;
    }

    /**
     * Writes the current entry's data segments and leaves its holes unwritten, so that a
     * large sparse file, such as a lastlog, takes only the disk space of its data.
     */
    private void writeFile(BytePath target, InputStream content) throws IOException {
        byte[] buffer = new byte[COPY_BUFFER];
        long position = 0;
        try (Fd out = Posix.open(target, CREATE_FILE, 0600)) {
            for (SparseSegment segment : entry.dataSegments()) {
                content.skipNBytes(segment.offset() - position);
                position = segment.offset();
                while (position < segment.end()) {
                    int length = (int) Math.min(buffer.length, segment.end() - position);
                    if (content.readNBytes(buffer, 0, length) < length) {
                        throw failure("the file data ends before " + entry.size() + " bytes");
                    }
                    for (int done = 0; done < length; ) {
                        done += out.pwrite(buffer, done, length - done, position + done);
                    }
                    position += length;
                }
            }
            out.ftruncate(entry.size());
        }
    }

    private static void copyFile(BytePath source, BytePath target) throws IOException {
        byte[] buffer = new byte[COPY_BUFFER];
        try (Fd in = Posix.open(source, READ_FILE); Fd out = Posix.open(target, CREATE_FILE,
                0600)) {
            int read;
            while ((read = in.read(buffer, 0, buffer.length)) > 0) {
                writeFully(out, buffer, read);
            }
        }
    }

    private static void writeFully(Fd out, byte[] buffer, int length) throws IOException {
        int written = 0;
        while (written < length) {
            written += out.write(buffer, written, length - written);
        }
    }

    /** Gives {@code path} the current entry's owner, mode, xattrs and mtime. */
    private void setMetadata(BytePath path) throws IOException {
        boolean symlink = entry.type() == io.nydus.tar.EntryType.SYMLINK;
        // The owner goes first because chown clears setuid bits and file capabilities.
        Posix.lchown(path, entry.uid(), entry.gid());
        if (!symlink) {
            Posix.chmod(path, entry.mode());
        }
        for (byte[] name : Xattrs.list(path)) {
            if (!isOverlayXattr(name)) {
                Xattrs.remove(path, name);
            }
        }
        for (Map.Entry<Bytes, Bytes> xattr : entry.xattrs().entrySet()) {
            byte[] name = xattr.getKey().toByteArray();
            // A layer cannot carry overlayfs' own xattrs into the reference.
            if (!isOverlayXattr(name)) {
                Xattrs.set(path, name, xattr.getValue().toByteArray(), 0);
            }
        }
        Timespec mtime = new Timespec(entry.mtimeSeconds(), entry.mtimeNanos());
        if (entry.type() == io.nydus.tar.EntryType.DIRECTORY) {
            directoryTimes.put(path, mtime);
        } else {
            Posix.lutimens(path, mtime, mtime);
        }
    }

    /** Gives {@code target} the owner, mode, xattrs and mtime of {@code source}. */
    private void copyMetadata(BytePath source, Stat stat, BytePath target) throws IOException {
        Posix.lchown(target, stat.uid(), stat.gid());
        if (!stat.isSymlink()) {
            Posix.chmod(target, stat.permissions());
        }
        for (byte[] name : Xattrs.list(source)) {
            Optional<byte[]> value = Xattrs.get(source, name);
            if (!isOverlayXattr(name) && value.isPresent()) {
                Xattrs.set(target, name, value.get(), 0);
            }
        }
        if (stat.isDirectory()) {
            directoryTimes.put(target, stat.mtime());
        } else {
            Posix.lutimens(target, stat.mtime(), stat.mtime());
        }
    }

    /** Returns what this layer has at {@code path}, if every parent is a real directory. */
    private Optional<Stat> layerStat(List<Bytes> path) throws IOException {
        return statBelow(layer, path);
    }

    /** Returns what the layers below have at {@code path}. */
    private Optional<Stat> lowerStat(List<Bytes> path) throws IOException {
        BytePath root = lower.root();
        return root == null ? Optional.empty() : statBelow(root, path);
    }

    private static Optional<Stat> statBelow(BytePath root, List<Bytes> path)
            throws IOException {
        BytePath current = root;
        Optional<Stat> stat = Optional.of(Posix.lstat(root));
        for (Bytes name : path) {
            if (!isDirectory(stat)) {
                return Optional.empty();
            }
            current = current.resolve(name.toByteArray());
            stat = Posix.lstatIfExists(current);
        }
        return stat;
    }

    private BytePath at(List<Bytes> path) {
        return path.isEmpty() ? layer : layer.resolve(TarPaths.join(path).toByteArray());
    }

    private static boolean isDirectory(Optional<Stat> stat) {
        return stat.isPresent() && stat.get().isDirectory();
    }

    private static boolean isDotName(byte[] name) {
        return (name.length == 1 && name[0] == '.')
                || (name.length == 2 && name[0] == '.' && name[1] == '.');
    }

    static boolean isOverlayXattr(byte[] name) {
        return new String(name, StandardCharsets.ISO_8859_1).startsWith(OVERLAY_XATTR_PREFIX);
    }

    private IOException failure(String problem) {
        String where = entry == null ? "" : " " + entry.describe();
        return new IOException("cannot unpack layer " + layerName + where + " for the overlay"
                + " reference: " + problem);
    }
}
