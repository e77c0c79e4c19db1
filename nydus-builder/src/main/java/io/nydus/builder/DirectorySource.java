package io.nydus.builder;

import io.nydus.posix.BytePath;
import io.nydus.posix.Fd;
import io.nydus.posix.OpenFlags;
import io.nydus.posix.Posix;
import io.nydus.posix.Stat;
import io.nydus.posix.Xattrs;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a directory tree with byte-exact names, link targets and xattrs. Metadata is read
 * first and file data afterwards: files named by the prefetch list first, then the rest in tree
 * order, so prefetched data sits together at the start of the blob.
 */
final class DirectorySource {
    private final ChunkPipeline pipeline;
    private final PrefetchList prefetch;
    private final Map<String, Inode> hardlinks = new HashMap<>();
    private final List<Node> files = new ArrayList<>();
    private final Map<Node, BytePath> sources = new IdentityHashMap<>();

    DirectorySource(ChunkPipeline pipeline, PrefetchList prefetch) {
        this.pipeline = pipeline;
        this.prefetch = prefetch;
    }

    LayerTree read(Path directory) throws IOException {
        BytePath rootPath = BytePath.of(directory.toAbsolutePath());
        Stat rootStat = Posix.lstat(rootPath);
        if (!rootStat.isDirectory()) {
            throw new IOException(directory + " is not a directory");
        }
        Inode rootInode = metadata(new Inode(FileType.DIRECTORY), rootStat, rootPath);
        // The directory builder upstream zeroes the root's mtime; doing the same keeps the
        // bootstrap identical to upstream's for the same tree.
        rootInode.mtime(0, 0);
        LayerTree tree = new LayerTree(Node.root(rootInode));
        walk(tree.root(), rootPath);
        chunkFiles(tree);
        return tree;
    }

    private void walk(Node dir, BytePath path) throws IOException {
        List<byte[]> names = Posix.readdir(path);
        names.sort(java.util.Arrays::compareUnsigned);
        List<Node> subdirectories = new ArrayList<>();
        for (byte[] name : names) {
            BytePath childPath = path.resolve(name);
            Node child = Node.of(name, inodeFor(childPath));
            dir.put(child);
            if (child.isDirectory()) {
                subdirectories.add(child);
                sources.put(child, childPath);
            }
        }
        for (Node sub : subdirectories) {
            walk(sub, sources.remove(sub));
        }
    }

    private Inode inodeFor(BytePath path) throws IOException {
        Inode inode = readInode(path);
        String problem = InodeLimits.problem(inode);
        if (problem != null) {
            throw new IOException(path + " " + problem);
        }
        return inode;
    }

    private Inode readInode(BytePath path) throws IOException {
        Stat st = Posix.lstat(path);
        FileType type = switch (st.type()) {
            case REGULAR -> FileType.REGULAR;
            case DIRECTORY -> FileType.DIRECTORY;
            case SYMLINK -> FileType.SYMLINK;
            case CHAR_DEVICE -> FileType.CHAR_DEVICE;
            case BLOCK_DEVICE -> FileType.BLOCK_DEVICE;
            case FIFO -> FileType.FIFO;
            case SOCKET -> FileType.SOCKET;
        };
        // Every non-directory type can have hardlinks; their names share one inode.
        String key = st.dev() + ":" + st.ino();
        boolean linked = type != FileType.DIRECTORY && st.nlink() > 1;
        if (linked && hardlinks.containsKey(key)) {
            return hardlinks.get(key);
        }
        Inode inode = newInode(type, st, path);
        if (linked) {
            hardlinks.put(key, inode);
        }
        return inode;
    }

    private Inode newInode(FileType type, Stat st, BytePath path) throws IOException {
        return switch (type) {
            case REGULAR -> regular(st, path);
            case SYMLINK -> metadata(new Inode(type), st, path)
                    .symlinkTarget(checkedTarget(Posix.readlink(path), path));
            case CHAR_DEVICE, BLOCK_DEVICE -> metadata(new Inode(type), st, path)
                    .rdev(st.rdevMajor(), st.rdevMinor());
            default -> metadata(new Inode(type), st, path);
        };
    }

    private static byte[] checkedTarget(byte[] target, BytePath path) throws IOException {
        if (target.length == 0 || target.length > Inode.MAX_SYMLINK) {
            throw new IOException(path + ": symlink target of " + target.length
                    + " bytes is outside 1.." + Inode.MAX_SYMLINK);
        }
        return target;
    }

    private Inode regular(Stat st, BytePath path) throws IOException {
        Inode inode = metadata(new Inode(FileType.REGULAR), st, path).size(st.size());
        Node placeholder = Node.of(new byte[] {'f'}, inode);
        files.add(placeholder);
        sources.put(placeholder, path);
        return inode;
    }

    private static Inode metadata(Inode inode, Stat st, BytePath path) throws IOException {
        try {
            inode.permissions(st.permissions()).owner(st.uid(), st.gid())
                    .mtime(st.mtime().seconds(), st.mtime().nanos());
            io.nydus.rafs.tree.Xattrs xattrs = new io.nydus.rafs.tree.Xattrs();
            for (byte[] name : Xattrs.list(path)) {
                var value = Xattrs.get(path, name);
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
        for (Node n : roots) {
            if (n.inode().type() == FileType.REGULAR) {
                out.add(n.inode());
            }
            if (n.isDirectory()) {
                collectPrefetched(new ArrayList<>(n.children()), out);
            }
        }
    }

    private void chunkFile(LayerTree tree, Node placeholder) throws IOException {
        BytePath path = sources.get(placeholder);
        Inode inode = placeholder.inode();
        try (Fd fd = Posix.open(path, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW
                | OpenFlags.O_CLOEXEC);
                InputStream in = new FdInputStream(fd)) {
            tree.pendingChunks(inode, pipeline.addFile(in, inode.size(), path.toString()));
        }
    }
}
