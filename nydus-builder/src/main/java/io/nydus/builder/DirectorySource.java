package io.nydus.builder;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.NoSuchEntryException;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import io.nydus.posix.Xattrs;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a directory tree with byte-exact names, link targets and xattrs. Metadata is read
 * first and file data afterwards: files named by the prefetch list first, then the rest in tree
 * order, so prefetched data sits together at the start of the blob.
 */
final class DirectorySource {
    private static final Logger LOG = LoggerFactory.getLogger(DirectorySource.class);
    private static final int OPEN_DIRECTORY = OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY
            | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
    private final ChunkPipeline pipeline;
    private final PrefetchList prefetch;
    private final Map<String, Inode> hardlinks = new HashMap<>();
    private final List<Node> files = new ArrayList<>();
    private final Map<Node, BytePath> sources = new IdentityHashMap<>();
    private final Set<String> outputs = new HashSet<>();

    /**
     * Creates a source that leaves out {@code outputs}, the files that the build writes, when
     * they lie in the tree, so that an image of a directory does not hold its own output.
     */
    DirectorySource(ChunkPipeline pipeline, PrefetchList prefetch, List<Path> outputs)
            throws IOException {
        this.pipeline = pipeline;
        this.prefetch = prefetch;
        for (Path output : outputs) {
            if (Files.exists(output, LinkOption.NOFOLLOW_LINKS)) {
                Stat st = Posix.lstat(BytePath.of(output.toAbsolutePath()));
                this.outputs.add(fileKey(st));
            }
        }
    }

    private static String fileKey(Stat st) {
        return st.dev() + ":" + st.ino();
    }

    LayerTree read(Path directory) throws IOException {
        BytePath rootPath = BytePath.of(directory.toAbsolutePath());
        Stat rootStat;
        try {
            rootStat = Posix.lstat(rootPath);
        } catch (NoSuchEntryException e) {
            // Named as the user gave it, as a missing tarball source is.
            throw new NoSuchFileException(directory.toString());
        }
        if (!rootStat.isDirectory()) {
            throw new IOException(directory + " is not a directory");
        }
        Inode rootInode = metadata(new Inode(FileType.DIRECTORY), rootStat, rootPath, rootPath);
        // The directory builder upstream zeroes the root's mtime; doing the same keeps the
        // bootstrap identical to upstream's for the same tree.
        rootInode.mtime(0, 0);
        LayerTree tree = new LayerTree(Node.root(rootInode));
        walk(tree.root(), rootPath);
        chunkFiles(tree);
        return tree;
    }

    /** A directory whose entries are still to be read, {@code depth} names below the root. */
    private record PendingDirectory(Node node, BytePath path, int depth) {
    }

    /**
     * Reads the tree below {@code root} directory by directory, in depth-first preorder. A
     * stack replaces recursion, because a tree may be thousands of levels deep.
     */
    private void walk(Node root, BytePath rootPath) throws IOException {
        Deque<PendingDirectory> pending = new ArrayDeque<>();
        pending.push(new PendingDirectory(root, rootPath, 1));
        while (!pending.isEmpty()) {
            PendingDirectory dir = pending.pop();
            List<Node> subdirectories = readEntries(dir.node(), dir.path(), dir.depth());
            for (Node sub : subdirectories.reversed()) {
                pending.push(new PendingDirectory(sub, sources.remove(sub), dir.depth() + 1));
            }
        }
    }

    /**
     * Reads the entries of the directory {@code path} into {@code dir} and returns its
     * subdirectories. Entries are read relative to the directory's descriptor, which is closed
     * before the walk goes deeper, so the walk keeps one directory open at a time. The entries
     * lie {@code depth} names below the root.
     */
    private List<Node> readEntries(Node dir, BytePath path, int depth) throws IOException {
        List<Node> subdirectories = new ArrayList<>();
        try (Fd fd = LongPaths.open(path, OPEN_DIRECTORY)) {
            List<byte[]> names = Posix.readdir(fd);
            checkDepth(path, names, depth);
            names.sort(java.util.Arrays::compareUnsigned);
            for (byte[] name : names) {
                BytePath childPath = path.resolve(name);
                Inode inode = inodeFor(new Entry(fd, name, childPath));
                if (inode == null) {
                    continue;
                }
                Node child = Node.of(name, inode);
                dir.put(child);
                if (child.isDirectory()) {
                    subdirectories.add(child);
                    sources.put(child, childPath);
                }
            }
        }
        return subdirectories;
    }

    private static void checkDepth(BytePath dir, List<byte[]> names, int depth)
            throws IOException {
        String problem = Node.depthProblem(depth);
        if (problem != null && !names.isEmpty()) {
            throw new IOException(dir.resolve(names.getFirst()) + " " + problem);
        }
    }

    /**
     * A directory entry: its name below the open directory {@code dir}, and its full
     * {@code path}, which messages show and which may be longer than one call takes.
     */
    private record Entry(Fd dir, byte[] name, BytePath path) {
        BytePath relative() {
            return BytePath.of(name);
        }

        /**
         * Returns a path to the entry for the l*xattr calls. That is the full path when it fits
         * in one call, else the name below the directory's /proc/self/fd link. Those calls
         * resolve the link to the open directory and do not follow the final name.
         */
        BytePath xattrPath() {
            if (path.length() <= LongPaths.MAX_LENGTH) {
                return path;
            }
            return BytePath.of("/proc/self/fd/" + dir.number()).resolve(name);
        }
    }

    /** Returns the entry's inode, or null for an output of the build. */
    private Inode inodeFor(Entry entry) throws IOException {
        Inode inode = readInode(entry);
        if (inode == null) {
            return null;
        }
        String problem = InodeLimits.problem(inode);
        if (problem != null) {
            throw new IOException(entry.path() + " " + problem);
        }
        return inode;
    }

    private Inode readInode(Entry entry) throws IOException {
        Stat st = Posix.fstatat(entry.dir(), entry.relative(), Posix.AT_SYMLINK_NOFOLLOW);
        FileType type = switch (st.type()) {
            case REGULAR -> FileType.REGULAR;
            case DIRECTORY -> FileType.DIRECTORY;
            case SYMLINK -> FileType.SYMLINK;
            case CHAR_DEVICE -> FileType.CHAR_DEVICE;
            case BLOCK_DEVICE -> FileType.BLOCK_DEVICE;
            case FIFO -> FileType.FIFO;
            case SOCKET -> FileType.SOCKET;
        };
        String key = fileKey(st);
        if (outputs.contains(key)) {
            LOG.info("leaving out {}: the build writes it", entry.path());
            return null;
        }
        // Every non-directory type can have hardlinks; their names share one inode.
        boolean linked = type != FileType.DIRECTORY && st.nlink() > 1;
        if (linked && hardlinks.containsKey(key)) {
            return hardlinks.get(key);
        }
        Inode inode = newInode(type, st, entry);
        if (linked) {
            hardlinks.put(key, inode);
        }
        return inode;
    }

    private Inode newInode(FileType type, Stat st, Entry entry) throws IOException {
        BytePath path = entry.path();
        BytePath xattrPath = entry.xattrPath();
        return switch (type) {
            case REGULAR -> regular(st, path, xattrPath);
            case SYMLINK -> metadata(new Inode(type), st, path, xattrPath).symlinkTarget(
                    checkedTarget(Posix.readlinkat(entry.dir(), entry.relative()), path));
            case CHAR_DEVICE, BLOCK_DEVICE -> metadata(new Inode(type), st, path, xattrPath)
                    .rdev(st.rdevMajor(), st.rdevMinor());
            default -> metadata(new Inode(type), st, path, xattrPath);
        };
    }

    private static byte[] checkedTarget(byte[] target, BytePath path) throws IOException {
        if (target.length == 0 || target.length > Inode.MAX_SYMLINK) {
            throw new IOException(path + ": symlink target of " + target.length
                    + " bytes is outside 1.." + Inode.MAX_SYMLINK);
        }
        return target;
    }

    private Inode regular(Stat st, BytePath path, BytePath xattrPath) throws IOException {
        Inode inode = metadata(new Inode(FileType.REGULAR), st, path, xattrPath)
                .size(st.size());
        Node placeholder = Node.of(new byte[] {'f'}, inode);
        files.add(placeholder);
        sources.put(placeholder, path);
        return inode;
    }

    /**
     * Copies owner, permissions, mtime and xattrs onto {@code inode}. The xattrs are read
     * through {@code xattrPath}, and messages name {@code path}.
     */
    private static Inode metadata(Inode inode, Stat st, BytePath path, BytePath xattrPath)
            throws IOException {
        try {
            inode.permissions(st.permissions()).owner(st.uid(), st.gid())
                    .mtime(st.mtime().seconds(), st.mtime().nanos());
            io.nydus.rafs.tree.Xattrs xattrs = new io.nydus.rafs.tree.Xattrs();
            for (byte[] name : Xattrs.list(xattrPath)) {
                var value = Xattrs.get(xattrPath, name);
                if (value.isPresent()) {
                    xattrs.put(name, value.get());
                }
            }
            return inode.xattrs(xattrs);
        } catch (IllegalArgumentException e) {
            throw new IOException(path + ": " + e.getMessage(), e);
        }
    }

    /** Chunks every regular file once, prefetched files first. */
    private void chunkFiles(LayerTree tree) throws IOException {
        Map<Inode, Node> byInode = new IdentityHashMap<>();
        for (Node f : files) {
            byInode.put(f.inode(), f);
        }
        List<Inode> prefetched = new ArrayList<>();
        collectPrefetched(prefetch.resolve(tree.root()), prefetched);
        Set<Inode> done = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Inode inode : prefetched) {
            if (done.add(inode)) {
                chunkFile(tree, byInode.get(inode));
            }
        }
        for (Node f : files) {
            if (done.add(f.inode())) {
                chunkFile(tree, f);
            }
        }
    }

    private static void collectPrefetched(List<Node> roots, List<Inode> out) {
        for (Node root : roots) {
            addIfRegular(root, out);
            for (Node node : root.descendants()) {
                addIfRegular(node, out);
            }
        }
    }

    private static void addIfRegular(Node node, List<Inode> out) {
        if (node.inode().type() == FileType.REGULAR) {
            out.add(node.inode());
        }
    }

    private void chunkFile(LayerTree tree, Node placeholder) throws IOException {
        BytePath path = sources.get(placeholder);
        Inode inode = placeholder.inode();
        try (Fd fd = LongPaths.open(path, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW
                | OpenFlags.O_CLOEXEC);
                InputStream in = new FdInputStream(fd)) {
            tree.pendingChunks(inode, pipeline.addFile(in, inode.size(), path.toString()));
        }
    }
}
