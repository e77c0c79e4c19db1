package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Builds the file tree breadth first from the root nid, without recursion. Dirents that point to
 * the same nid share one {@link Inode}; a directory may be reached only once, which rules out
 * cycles and directory hardlinks.
 */
final class TreeDecoder {
    private static final int MAX_PRESIZE = 1 << 22;

    private final MetaBuffer b;
    private final InodeDecoder inodes;
    private final DirentDecoder dirents;
    private final Map<Long, Inode> sharedInodes;
    private final Map<Long, Node> directories;
    private final Map<Long, Node> firstNodes;
    private final Map<Node, OnDiskInode> onDisk;

    private record Pending(Node node, OnDiskInode inode, long parentNid, int depth) {
    }

    TreeDecoder(MetaBuffer b, SuperBlockInfo sb, InodeDecoder inodes) {
        this.b = b;
        this.inodes = inodes;
        this.dirents = new DirentDecoder(b, sb, inodes);
        // Sized from the superblock's inode count, which only a corrupt bootstrap gets wrong,
        // and never beyond what the file can hold, so that the maps do not grow step by step.
        int expected = (int) Math.clamp(Math.min(sb.inodeCount(), b.size() / 32), 0,
                MAX_PRESIZE);
        this.sharedInodes = HashMap.newHashMap(expected);
        this.directories = HashMap.newHashMap(expected / 8);
        this.firstNodes = HashMap.newHashMap(expected);
        this.onDisk = new IdentityHashMap<>(expected);
    }

    Node decode(long rootNid) throws RafsFormatException {
        OnDiskInode rootInode = inodes.read(rootNid);
        if (inodes.type(rootInode) != FileType.DIRECTORY) {
            throw b.error(InodeDecoder.describe(rootNid), rootInode.offset(), String.format(
                    "the root inode has mode 0%o, expected a directory", rootInode.mode()));
        }
        Node root = Node.root(inodes.toInode(rootInode));
        record(root, rootInode);
        directories.put(rootNid, root);
        Deque<Pending> queue = new ArrayDeque<>();
        queue.add(new Pending(root, rootInode, rootNid, 0));
        while (!queue.isEmpty()) {
            Pending dir = queue.poll();
            for (DirentDecoder.Dirent d : dirents.decode(dir.inode(), dir.parentNid())) {
                addChild(dir, d, queue);
            }
        }
        return root;
    }

    /** Returns the on-disk inode of every node, keyed by node identity. */
    Map<Node, OnDiskInode> onDisk() {
        return onDisk;
    }

    /** Returns the first node (in breadth-first order) that uses {@code nid}, or null. */
    Node firstNode(long nid) {
        return firstNodes.get(nid);
    }

    private void addChild(Pending dir, DirentDecoder.Dirent d, Deque<Pending> queue)
            throws RafsFormatException {
        Node reached = directories.get(d.nid());
        if (reached != null) {
            throw b.error("directory data of " + InodeDecoder.describe(dir.inode().nid()),
                    d.offset(), "entry '" + Node.display(d.name()) + "' in " + dir.node().path()
                            + " points to directory nid " + d.nid() + ", which is already "
                            + reached.path() + " (a cycle or a directory hardlink)");
        }
        Node existing = firstNodes.get(d.nid());
        OnDiskInode raw = existing != null ? onDisk.get(existing) : inodes.read(d.nid());
        FileType type = inodes.type(raw);
        checkDirentType(dir, d, type);
        checkDepth(dir, d);
        Node child;
        if (type == FileType.DIRECTORY) {
            child = Node.of(d.name(), inodes.toInode(raw));
            directories.put(d.nid(), child);
            queue.add(new Pending(child, raw, dir.inode().nid(),
                    dir.depth() + 1));
        } else {
            Inode inode = sharedInodes.get(d.nid());
            if (inode == null) {
                inode = inodes.toInode(raw);
                sharedInodes.put(d.nid(), inode);
            }
            child = Node.of(d.name(), inode);
        }
        dir.node().put(child);
        record(child, raw);
    }

    private void checkDirentType(Pending dir, DirentDecoder.Dirent d, FileType type)
            throws RafsFormatException {
        if (d.fileType() != 0 && d.fileType() != type.direntType()) {
            throw b.error("directory data of " + InodeDecoder.describe(dir.inode().nid()),
                    d.offset() + 10, "entry '" + Node.display(d.name()) + "' has e_file_type "
                            + d.fileType() + " but its inode nid " + d.nid() + " is a " + type);
        }
    }

    private void checkDepth(Pending dir, DirentDecoder.Dirent d) throws RafsFormatException {
        String problem = Node.depthProblem(dir.depth() + 1);
        if (problem != null) {
            throw b.error("directory data of " + InodeDecoder.describe(dir.inode().nid()),
                    d.offset(), "entry '" + Node.display(d.name()) + "' " + problem);
        }
    }

    private void record(Node node, OnDiskInode raw) {
        onDisk.put(node, raw);
        firstNodes.putIfAbsent(raw.nid(), node);
    }
}
