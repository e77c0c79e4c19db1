package io.nydus.builder;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.tree.Xattrs;
import io.nydus.tar.Bytes;
import io.nydus.tar.TarEntry;
import io.nydus.tar.TarArchive;
import io.nydus.tar.TarPaths;
import io.nydus.tar.TarReader;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;

/**
 * Reads an OCI layer tarball (plain, gzip or zstd) as a stream into a tree, chunking each file's
 * data as its entry goes by, so the layer is never unpacked to disk. Entries land inside the
 * root whatever their names say; missing parent directories are made (0755, root, mtime 0); a
 * later entry of the same name replaces an earlier one.
 */
final class TarSource {
    private final ChunkPipeline pipeline;
    private final Node lowerRoot;
    private final String sourceName;
    private LayerTree tree;

    /**
     * @param lowerRoot the tree below this layer, where hard links may point; may be null
     * @param sourceName the tarball's name, for messages
     */
    TarSource(ChunkPipeline pipeline, Node lowerRoot, String sourceName) {
        this.pipeline = pipeline;
        this.lowerRoot = lowerRoot;
        this.sourceName = sourceName;
    }

    LayerTree read(InputStream input) throws IOException {
        tree = new LayerTree(Node.root(new Inode(FileType.DIRECTORY).permissions(0755)));
        try (TarReader reader = TarArchive.open(input)) {
            TarEntry entry;
            while ((entry = reader.next()) != null) {
                addEntry(entry, reader);
            }
        }
        return tree;
    }

    private void addEntry(TarEntry entry, TarReader reader) throws IOException {
        List<Bytes> path = TarPaths.normalize(entry.name());
        if (path.isEmpty()) {
            updateRoot(entry);
            return;
        }
        Node parent = parentDirectory(path, entry);
        byte[] name = path.getLast().toByteArray();
        Node existing = parent.child(name);
        if (entry.type() == io.nydus.tar.EntryType.DIRECTORY && existing != null
                && existing.isDirectory()) {
            existing.inode(directoryInode(entry));
            return;
        }
        Node node = Node.of(name, inodeFor(entry, reader, name));
        parent.remove(name);
        parent.put(node);
    }

    private void updateRoot(TarEntry entry) throws IOException {
        if (entry.type() != io.nydus.tar.EntryType.DIRECTORY) {
            throw error(entry, "names the image root but is a " + entry.type());
        }
        tree.root().inode(directoryInode(entry));
    }

    /** Walks to the entry's parent, making missing directories on the way. */
    private Node parentDirectory(List<Bytes> path, TarEntry entry) throws IOException {
        Node dir = tree.root();
        for (int i = 0; i < path.size() - 1; i++) {
            byte[] component = path.get(i).toByteArray();
            Node next = dir.child(component);
            if (next == null) {
                next = Node.of(component, new Inode(FileType.DIRECTORY).permissions(0755));
                dir.put(next);
            } else if (!next.isDirectory()) {
                throw error(entry, "has a parent '" + next.path() + "' that is a "
                        + next.inode().type() + ", not a directory");
            }
            dir = next;
        }
        return dir;
    }

    private Inode inodeFor(TarEntry entry, TarReader reader, byte[] name) throws IOException {
        return switch (entry.type()) {
            case DIRECTORY -> directoryInode(entry);
            case FILE -> fileInode(entry, reader);
            case SYMLINK -> symlinkInode(entry);
            case HARDLINK -> hardlinkInode(entry, name);
            case CHAR_DEVICE -> metadata(new Inode(FileType.CHAR_DEVICE), entry)
                    .rdev(entry.devMajor(), entry.devMinor());
            case BLOCK_DEVICE -> metadata(new Inode(FileType.BLOCK_DEVICE), entry)
                    .rdev(entry.devMajor(), entry.devMinor());
            case FIFO -> metadata(new Inode(FileType.FIFO), entry);
        };
    }

    private Inode directoryInode(TarEntry entry) throws IOException {
        return metadata(new Inode(FileType.DIRECTORY), entry);
    }

    private Inode fileInode(TarEntry entry, TarReader reader) throws IOException {
        Inode inode = metadata(new Inode(FileType.REGULAR), entry).size(entry.size());
        String path = sourceName + ": " + entry.describe();
        try (InputStream content = reader.content()) {
            tree.pendingChunks(inode, pipeline.addFile(content, entry.size(), path));
        }
        return inode;
    }

    private Inode symlinkInode(TarEntry entry) throws IOException {
        byte[] target = entry.linkName().toByteArray();
        if (target.length > Inode.MAX_SYMLINK) {
            throw error(entry, "has a symlink target of " + target.length
                    + " bytes, Linux allows at most " + Inode.MAX_SYMLINK);
        }
        return metadata(new Inode(FileType.SYMLINK), entry).symlinkTarget(target);
    }

    /**
     * A hard link shares its target's inode. A whiteout stored as a hard link is still only a
     * name, so its target is not looked up.
     */
    private Inode hardlinkInode(TarEntry entry, byte[] name) throws IOException {
        if (isWhiteoutName(name)) {
            return metadata(new Inode(FileType.REGULAR), entry);
        }
        List<Bytes> target = TarPaths.normalize(entry.linkName());
        Node node = lookup(tree.root(), target);
        if (node == null && lowerRoot != null) {
            node = lookup(lowerRoot, target);
        }
        if (node == null) {
            throw error(entry, "is a hard link to '" + entry.linkName()
                    + "', which no earlier entry or lower layer has");
        }
        Inode inode = node.inode();
        return switch (inode.type()) {
            case REGULAR -> inode;
            case DIRECTORY -> throw error(entry, "is a hard link to directory '"
                    + entry.linkName() + "'");
            default -> inode.copy();
        };
    }

    private static boolean isWhiteoutName(byte[] name) {
        byte[] prefix = LayerApplier.WHITEOUT_PREFIX;
        return name.length > prefix.length
                && java.util.Arrays.equals(name, 0, prefix.length, prefix, 0, prefix.length);
    }

    private static Node lookup(Node root, List<Bytes> path) {
        Node node = root;
        for (Bytes component : path) {
            node = node.child(component.toByteArray());
            if (node == null) {
                return null;
            }
        }
        return node;
    }

    private Inode metadata(Inode inode, TarEntry entry) throws IOException {
        try {
            inode.permissions(entry.mode()).owner(entry.uid(), entry.gid())
                    .mtime(entry.mtimeSeconds(), entry.mtimeNanos());
            Xattrs xattrs = new Xattrs();
            for (Map.Entry<Bytes, Bytes> x : entry.xattrs().entrySet()) {
                xattrs.put(x.getKey().toByteArray(), x.getValue().toByteArray());
            }
            return inode.xattrs(xattrs);
        } catch (IllegalArgumentException e) {
            throw error(entry, e.getMessage());
        }
    }

    private IOException error(TarEntry entry, String problem) {
        return new IOException(sourceName + ": " + entry.describe() + " " + problem);
    }
}
