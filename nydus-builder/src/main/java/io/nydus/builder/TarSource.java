package io.nydus.builder;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.tree.Xattrs;
import io.nydus.tar.Bytes;
import io.nydus.tar.TarEntry;
import io.nydus.tar.TarArchive;
import io.nydus.tar.TarFormatException;
import io.nydus.tar.TarPaths;
import io.nydus.tar.TarReader;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads an OCI layer tarball (plain, gzip or zstd) as a stream into a tree, chunking each file's
 * data as its entry goes by, so the layer is never unpacked to disk. Entries land inside the
 * root whatever their names contain; missing parent directories are made (0755, root, mtime 0); a
 * later entry of the same name replaces an earlier one, and a directory that replaces a
 * non-directory hides what the lower layers have below that name. Global PAX headers are
 * skipped, as containerd skips them when it unpacks a layer.
 */
final class TarSource {
    private static final Logger LOG = LoggerFactory.getLogger(TarSource.class);
    private final ChunkPipeline pipeline;
    private final Node lowerRoot;
    private final String sourceName;
    private final boolean deferLinks;
    private final WhiteoutSpec spec;
    private final String diffId;
    /** Records the chunks of a ZRAN build in place of the pipeline, or null. */
    private ZranChunker zran;
    /**
     * Directories that replaced a non-directory of the same name earlier in this tarball. That
     * entry replaced whatever the lower layers had there, so the directory hides their entries.
     */
    private final List<Node> replacingDirectories = new ArrayList<>();
    private LayerTree tree;

    /**
     * @param lowerRoot the tree below this layer, where hard links may point; may be null
     * @param sourceName the tarball's name, for messages
     * @param deferLinks whether a hard link to a path that neither this layer nor
     *     {@code lowerRoot} has becomes a {@link HardlinkMarker} for merge to resolve, instead
     *     of an error; only honoured when {@code lowerRoot} is null
     * @param spec how the layer marks deletions, which is also how this source marks a
     *     directory that hides the lower layers' entries
     */
    TarSource(ChunkPipeline pipeline, Node lowerRoot, String sourceName, boolean deferLinks,
            WhiteoutSpec spec, String diffId) {
        this.pipeline = pipeline;
        this.lowerRoot = lowerRoot;
        this.sourceName = sourceName;
        this.deferLinks = deferLinks && lowerRoot == null;
        this.spec = spec;
        this.diffId = diffId;
    }

    /**
     * Makes this source record where each chunk lies in the tar stream, for a ZRAN build,
     * instead of storing chunks through the pipeline.
     */
    TarSource zran(ZranChunker chunker) {
        this.zran = chunker;
        return this;
    }

    LayerTree read(InputStream input) throws IOException {
        tree = new LayerTree(Node.root(newDirectory()));
        try (TarReader reader = open(input).ignoreGlobalHeaders()) {
            TarEntry entry;
            while ((entry = reader.next()) != null) {
                addEntry(entry, reader);
            }
            if (reader.ignoredGlobalHeaders() > 0) {
                LOG.info("{}: ignored {} global PAX header(s), as containerd does", sourceName,
                        reader.ignoredGlobalHeaders());
            }
            if (diffId != null) {
                checkDiffId(reader.uncompressedSha256().orElseThrow());
            }
            replacingDirectories.forEach(this::markOpaque);
        } catch (TarFormatException e) {
            throw new TarFormatException(sourceName + ": " + e.getMessage(), e.offset(), e);
        }
        return tree;
    }

    /** Opens the tarball, hashing it only for a diff ID to check, as the hash costs CPU. */
    private TarReader open(InputStream input) throws IOException {
        return diffId == null ? TarArchive.open(input) : TarArchive.openHashing(input);
    }

    private void checkDiffId(String actual) throws IOException {
        if (!diffId.equals(actual)) {
            throw new IOException(sourceName + ": the uncompressed layer has digest sha256:"
                    + actual + ", but the image config lists diff ID sha256:" + diffId
                    + " for it");
        }
    }

    private void addEntry(TarEntry entry, TarReader reader) throws IOException {
        List<Bytes> path = TarPaths.normalize(entry.name());
        if (path.isEmpty()) {
            updateRoot(entry);
            return;
        }
        String deep = Node.depthProblem(path.size());
        if (deep != null) {
            throw error(entry, deep);
        }
        Node parent = parentDirectory(path, entry);
        byte[] name = path.getLast().toByteArray();
        Node existing = parent.child(name);
        if (entry.type() == io.nydus.tar.EntryType.DIRECTORY && existing != null
                && existing.isDirectory()) {
            existing.inode(checked(directoryInode(entry), entry));
            return;
        }
        Node node = Node.of(name, checked(inodeFor(entry, reader, name), entry));
        parent.remove(name);
        parent.put(node);
        if (existing != null && !existing.isDirectory() && node.isDirectory()) {
            replacingDirectories.add(node);
        }
    }

    /**
     * Marks {@code dir} opaque as {@link #spec} writes it, so that applying the layer removes
     * the lower layers' entries below it, as unpacking the tarball entry by entry does. Under
     * spec none the marker stays a file that the merge reads.
     */
    private void markOpaque(Node dir) {
        if (spec == WhiteoutSpec.OVERLAYFS) {
            dir.inode().xattrs().put(LayerApplier.OVERLAY_OPAQUE, new byte[] {'y'});
        } else if (dir.child(LayerApplier.OPAQUE_MARKER) == null) {
            dir.put(Node.of(LayerApplier.OPAQUE_MARKER,
                    new Inode(FileType.REGULAR).permissions(0644)));
        }
    }

    private void updateRoot(TarEntry entry) throws IOException {
        if (entry.type() != io.nydus.tar.EntryType.DIRECTORY) {
            throw error(entry, "names the image root but is a " + entry.type());
        }
        tree.root().inode(checked(directoryInode(entry), entry));
    }

    /** Rejects an inode that a bootstrap cannot store while the entry is still known. */
    private Inode checked(Inode inode, TarEntry entry) throws IOException {
        String problem = InodeLimits.problem(inode);
        if (problem != null) {
            throw error(entry, problem);
        }
        return inode;
    }

    /**
     * Walks to the entry's parent, making missing directories on the way. A made-up directory
     * that lands on a lower one, below a parent bootstrap or in a later merge, leaves the lower
     * one's owner, mode, times and xattrs as an OCI unpack does. Upstream's builder puts the
     * made-up directory's metadata in its place.
     */
    private Node parentDirectory(List<Bytes> path, TarEntry entry) throws IOException {
        Node dir = tree.root();
        for (int i = 0; i < path.size() - 1; i++) {
            byte[] component = path.get(i).toByteArray();
            Node next = dir.child(component);
            if (next == null) {
                next = Node.of(component, newDirectory());
                dir.put(next);
            } else if (!next.isDirectory()) {
                throw error(entry, "has a parent '" + next.path() + "' that is a "
                        + next.inode().type() + ", not a directory");
            }
            dir = next;
        }
        return dir;
    }

    /**
     * Returns a directory that the layer does not list, marked so that a lower layer's
     * directory stays in its place and so that one containing only whiteouts is left out.
     */
    private Inode newDirectory() {
        return ImplicitDirectory.mark(new Inode(FileType.DIRECTORY).permissions(0755));
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
            List<Chunk> chunks = zran != null ? zran.addFile(entry, content, path)
                    : pipeline.addFile(content, entry.size(), path);
            tree.pendingChunks(inode, chunks);
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
     * Returns the inode of a hard link, which is its target's inode whatever the type. A
     * whiteout stored as a hard link is still only a name, so its target is not looked up. In
     * a per-layer build the target may lie in a lower layer that this build cannot see, so the
     * link becomes a {@link HardlinkMarker}.
     */
    private Inode hardlinkInode(TarEntry entry, byte[] name) throws IOException {
        if (isWhiteoutName(name)) {
            return metadata(new Inode(FileType.REGULAR), entry);
        }
        List<Bytes> target = TarPaths.normalize(entry.linkName());
        Node node = lookup(tree.root(), target);
        if (node == null && lowerRoot != null) {
            node = ScopedSymlinks.find(lowerRoot, target.stream().map(Bytes::toByteArray)
                    .toList());
        }
        if (node == null && deferLinks) {
            return HardlinkMarker.mark(metadata(new Inode(FileType.REGULAR), entry),
                    absolutePath(target));
        }
        if (node == null) {
            throw error(entry, "is a hard link to '" + entry.linkName()
                    + "', which no earlier entry or lower layer has; build layers that are"
                    + " merged later with --whiteout-spec none, or pass --parent-bootstrap");
        }
        Inode inode = node.inode();
        if (inode.type() == FileType.DIRECTORY) {
            throw error(entry, "is a hard link to directory '" + entry.linkName() + "'");
        }
        return inode;
    }

    private static boolean isWhiteoutName(byte[] name) {
        byte[] prefix = LayerApplier.WHITEOUT_PREFIX;
        return name.length > prefix.length
                && java.util.Arrays.equals(name, 0, prefix.length, prefix, 0, prefix.length);
    }

    private static byte[] absolutePath(List<Bytes> components) {
        java.io.ByteArrayOutputStream path = new java.io.ByteArrayOutputStream();
        for (Bytes component : components) {
            path.write('/');
            path.writeBytes(component.toByteArray());
        }
        return path.toByteArray();
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
                byte[] name = x.getKey().toByteArray();
                if (HardlinkMarker.isReserved(name)) {
                    throw error(entry, "carries the xattr " + Node.display(name)
                            + ", which this builder reserves for hard links across layers");
                }
                if (ImplicitDirectory.isReserved(name)) {
                    throw error(entry, "carries the xattr " + Node.display(name)
                            + ", which this builder reserves for directories a layer does not"
                            + " list");
                }
                xattrs.put(name, x.getValue().toByteArray());
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
