package io.nydus.nydusify;

import io.nydus.posix.BytePath;
import io.nydus.posix.Devices;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import io.nydus.posix.Xattrs;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobFeatures;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.Bootstrap;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Compares a mounted source tree, as {@link OverlayReference} gives it, with the tree of a
 * target bootstrap, entry by entry: type, mode, owner, size of regular files, mtime, device
 * number, symlink target, xattrs other than overlayfs' own {@code trusted.overlay.*}, and the
 * SHA-256 of file content. The target's content is read from its blob files, which checks
 * every chunk's digest again. Hard link grouping is not compared: overlayfs breaks a link
 * group when it copies one of its names up into a higher layer.
 */
final class MountedTreeDiff implements AutoCloseable {
    private static final int READ_BUFFER = 1 << 20;
    private static final int OPEN_FILE = OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW
            | OpenFlags.O_CLOEXEC;

    private final Bootstrap target;
    private final Path blobDir;
    private final BlobReader[] readers;
    private final Map<Inode, String> targetDigests = new IdentityHashMap<>();
    private final List<String> differences = new ArrayList<>();
    private long entries;

    private MountedTreeDiff(Bootstrap target, Path blobDir) {
        this.target = target;
        this.blobDir = blobDir;
        this.readers = new BlobReader[target.blobs().size()];
    }

    /**
     * Compares the tree below {@code sourceRoot} with {@code target}, whose blobs are the
     * files in {@code blobDir} named by blob id.
     *
     * @throws IOException if the source tree cannot be read
     */
    static TreeDiff.Result compare(BytePath sourceRoot, Bootstrap target, Path blobDir)
            throws IOException {
        try (MountedTreeDiff diff = new MountedTreeDiff(target, blobDir)) {
            diff.compareTrees(sourceRoot, target.root());
            return new TreeDiff.Result(List.copyOf(diff.differences), diff.entries);
        }
    }

    /** A directory of both trees whose children are being compared. */
    private record Level(BytePath source, Node node, Map<String, Node> targetChildren,
            Set<String> sourceNames, Iterator<String> names) {
    }

    /**
     * Compares the trees depth first, children in name order. A stack of the directories
     * replaces recursion, because a tree may be thousands of levels deep.
     */
    private void compareTrees(BytePath sourceRoot, Node targetRoot) throws IOException {
        Deque<Level> levels = new ArrayDeque<>();
        if (compareEntry(sourceRoot, targetRoot)) {
            levels.push(level(sourceRoot, targetRoot));
        }
        while (!levels.isEmpty()) {
            Level level = levels.peek();
            if (!level.names().hasNext()) {
                levels.pop();
                continue;
            }
            String name = level.names().next();
            byte[] bytes = name.getBytes(StandardCharsets.ISO_8859_1);
            Node child = level.targetChildren().get(name);
            if (child == null) {
                differences.add(childPath(level.node(), bytes) + ": missing from target");
            } else if (!level.sourceNames().contains(name)) {
                entries++;
                differences.add(child.path() + ": not in source");
            } else {
                BytePath source = level.source().resolve(bytes);
                if (compareEntry(source, child)) {
                    levels.push(level(source, child));
                }
            }
        }
    }

    /** Compares one entry and returns whether both are directories, whose children come next. */
    private boolean compareEntry(BytePath source, Node node) throws IOException {
        entries++;
        String path = node.path();
        Stat stat = Posix.lstat(source);
        Inode inode = node.inode();
        FileType sourceType = FileType.fromMode(stat.mode());
        if (sourceType != inode.type()) {
            add(path, "type", sourceType, inode.type());
            return false;
        }
        compareAttributes(path, stat, inode);
        if (sourceType == FileType.SYMLINK) {
            compareBytes(path, "symlink target", Posix.readlink(source),
                    inode.symlinkTarget());
        }
        compareXattrs(path, source, inode);
        if (sourceType == FileType.REGULAR && stat.size() == inode.size()) {
            compareContent(path, source, inode);
        }
        return sourceType == FileType.DIRECTORY;
    }

    private void compareAttributes(String path, Stat stat, Inode inode) {
        compare(path, "mode", TreeDiff.octal(stat.mode()), TreeDiff.octal(inode.mode()));
        compare(path, "uid", stat.uid(), inode.uid());
        compare(path, "gid", stat.gid(), inode.gid());
        if (inode.type() == FileType.REGULAR) {
            compare(path, "size", stat.size(), inode.size());
        }
        compare(path, "mtime seconds", stat.mtime().seconds(), inode.mtimeSeconds());
        compare(path, "mtime nanoseconds", stat.mtime().nanos(), inode.mtimeNanos());
        if (inode.type().isDevice()) {
            compare(path, "rdev", Devices.major(stat.rdev()) + ":" + Devices.minor(stat.rdev()),
                    inode.rdevMajor() + ":" + inode.rdevMinor());
        }
    }

    /** Reads the names of both directories, to be compared in name order. */
    private static Level level(BytePath source, Node node) throws IOException {
        Map<String, Node> targetChildren = new TreeMap<>();
        for (Node child : node.children()) {
            targetChildren.put(key(child.nameBytes()), child);
        }
        TreeSet<String> sourceNames = new TreeSet<>();
        for (byte[] name : Posix.readdir(source)) {
            sourceNames.add(key(name));
        }
        TreeSet<String> names = new TreeSet<>(targetChildren.keySet());
        names.addAll(sourceNames);
        return new Level(source, node, targetChildren, sourceNames, names.iterator());
    }

    private void compareXattrs(String path, BytePath source, Inode inode) throws IOException {
        Map<String, byte[]> expected = new TreeMap<>();
        for (byte[] name : Xattrs.list(source)) {
            if (!OverlayLayerUnpacker.isOverlayXattr(name)) {
                Xattrs.get(source, name).ifPresent(value -> expected.put(key(name), value));
            }
        }
        Map<String, byte[]> actual = new TreeMap<>();
        if (inode.xattrs() != null) {
            inode.xattrs().forEach((name, value) -> {
                if (!OverlayLayerUnpacker.isOverlayXattr(name)) {
                    actual.put(key(name), value);
                }
            });
        }
        TreeSet<String> names = new TreeSet<>(expected.keySet());
        names.addAll(actual.keySet());
        for (String name : names) {
            compareBytes(path, "xattr " + Node.display(name.getBytes(
                    StandardCharsets.ISO_8859_1)), expected.get(name), actual.get(name));
        }
    }

    private void compareContent(String path, BytePath source, Inode inode) throws IOException {
        String expected = sourceDigest(source);
        String actual;
        try {
            actual = targetDigest(inode);
        } catch (IOException e) {
            compareChunkDigests(path, source, inode, e);
            return;
        }
        compare(path, "content", expected, actual);
    }

    /**
     * Compares the source file with the target's chunk digests, for a target whose data
     * cannot be read, so that a wrong bootstrap still shows where it differs.
     */
    private void compareChunkDigests(String path, BytePath source, Inode inode,
            IOException readFailure) throws IOException {
        byte[] buffer = new byte[target.chunkSize()];
        List<Chunk> chunks = inode.chunks();
        try (Fd in = Posix.open(source, OPEN_FILE)) {
            for (int i = 0; i < chunks.size(); i++) {
                int length = readFully(in, buffer);
                byte[] digest = target.digester().digest(buffer, 0, length);
                if (!chunks.get(i).digest().matches(digest)) {
                    add(path, "content", "chunk " + i + " digest "
                            + HexFormat.of().formatHex(digest), "digest " + chunks.get(i)
                            .digest());
                    return;
                }
            }
        }
        differences.add(path + ": content unreadable from the target blobs: "
                + readFailure.getMessage());
    }

    private static int readFully(Fd in, byte[] buffer) throws IOException {
        int filled = 0;
        int read;
        while (filled < buffer.length
                && (read = in.read(buffer, filled, buffer.length - filled)) > 0) {
            filled += read;
        }
        return filled;
    }

    private static String sourceDigest(BytePath source) throws IOException {
        MessageDigest sha256 = sha256();
        byte[] buffer = new byte[READ_BUFFER];
        try (Fd in = Posix.open(source, OPEN_FILE)) {
            int read;
            while ((read = in.read(buffer, 0, buffer.length)) > 0) {
                sha256.update(buffer, 0, read);
            }
        }
        return "sha256:" + HexFormat.of().formatHex(sha256.digest());
    }

    /** Returns the SHA-256 of the file's chunks, read once for each group of hard links. */
    private String targetDigest(Inode inode) throws IOException {
        String known = targetDigests.get(inode);
        if (known != null) {
            return known;
        }
        MessageDigest sha256 = sha256();
        for (Chunk chunk : inode.chunks()) {
            sha256.update(reader(chunk.blobIndex()).readChunk(chunk));
        }
        String digest = "sha256:" + HexFormat.of().formatHex(sha256.digest());
        targetDigests.put(inode, digest);
        return digest;
    }

    private BlobReader reader(int blobIndex) throws IOException {
        if (readers[blobIndex] == null) {
            BlobInfo info = target.blobs().get(blobIndex);
            readers[blobIndex] = info.has(BlobFeatures.ZRAN)
                    ? BlobReader.openZran(blobDir.resolve(info.blobId()),
                            blobDir.resolve(info.metaDigest()), info)
                    : BlobReader.open(blobDir.resolve(info.blobId()), info);
        }
        return readers[blobIndex];
    }

    @Override
    public void close() throws IOException {
        for (BlobReader reader : readers) {
            if (reader != null) {
                reader.close();
            }
        }
    }

    private void compareBytes(String path, String field, byte[] source, byte[] target) {
        if (!Arrays.equals(source, target)) {
            add(path, field, TreeDiff.bytesText(source), TreeDiff.bytesText(target));
        }
    }

    private void compare(String path, String field, Object source, Object target) {
        if (!source.equals(target)) {
            add(path, field, source, target);
        }
    }

    private void add(String path, String field, Object source, Object target) {
        differences.add(TreeDiff.difference(path, field, source, target));
    }

    private static String childPath(Node parent, byte[] name) {
        String parentPath = parent.path();
        return (parentPath.endsWith("/") ? parentPath : parentPath + "/") + Node.display(name);
    }

    /** Returns a key that keeps names distinct and sorts them by their bytes. */
    private static String key(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
