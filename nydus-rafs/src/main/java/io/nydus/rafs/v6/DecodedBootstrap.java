package io.nydus.rafs.v6;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A bootstrap read by {@link BootstrapReader} together with what it looked like on disk: the raw
 * superblock values, the device table, the chunk info table and each node's inode.
 */
public final class DecodedBootstrap {
    private final String source;
    private final Bootstrap bootstrap;
    private final SuperBlockInfo superBlock;
    private final List<DeviceSlot> devices;
    private final List<Chunk> chunkTable;
    private final Map<Node, OnDiskInode> inodes;

    DecodedBootstrap(String source, Bootstrap bootstrap, SuperBlockInfo superBlock,
            List<DeviceSlot> devices, List<Chunk> chunkTable, Map<Node, OnDiskInode> inodes) {
        this.source = source;
        this.bootstrap = bootstrap;
        this.superBlock = superBlock;
        this.devices = List.copyOf(devices);
        this.chunkTable = List.copyOf(chunkTable);
        // The reader hands over a map it no longer changes; copying 100,000 entries would
        // add to every mount of a large image.
        this.inodes = Collections.unmodifiableMap(inodes);
    }

    /** Returns the name of the file or buffer this was read from. */
    public String source() {
        return source;
    }

    public Bootstrap bootstrap() {
        return bootstrap;
    }

    public SuperBlockInfo superBlock() {
        return superBlock;
    }

    /** Returns the device table slots in blob index order. */
    public List<DeviceSlot> devices() {
        return devices;
    }

    /** Returns the chunk info table's entries in table order. */
    public List<Chunk> chunkTable() {
        return chunkTable;
    }

    /**
     * Returns the on-disk inode of every node in the tree, keyed by node identity. Hardlinked
     * nodes share an entry's value when the image stores them as one inode.
     */
    public Map<Node, OnDiskInode> inodes() {
        return inodes;
    }

    /**
     * Returns the on-disk inode of {@code node}.
     *
     * @throws IllegalArgumentException if the node is not part of this bootstrap's tree
     */
    public OnDiskInode inode(Node node) {
        OnDiskInode inode = inodes.get(node);
        if (inode == null) {
            throw new IllegalArgumentException(node.path() + " is not a node read from "
                    + source);
        }
        return inode;
    }

    /** Returns the nid of {@code node}, which nydusd uses as its inode number. */
    public long nid(Node node) {
        return inode(node).nid();
    }
}
