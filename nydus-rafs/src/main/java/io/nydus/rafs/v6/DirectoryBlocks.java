package io.nydus.rafs.v6;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Node;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * EROFS directory data: blocks that each hold 12-byte dirents followed by their names, sorted by
 * the unsigned bytes of the names, `.` and `..` included. An entry never straddles a block.
 */
final class DirectoryBlocks {
    private static final byte[] DOT = {'.'};
    private static final byte[] DOT_DOT = {'.', '.'};

    private DirectoryBlocks() {
    }

    private record Entry(byte[] name, Node target, int fileType) {
    }

    /** Returns the directory's `i_size`: full blocks plus the bytes used in the last one. */
    static long size(Node dir, int blockSize) {
        long size = 0;
        for (Entry e : entries(dir)) {
            long length = OnDisk.DIRENT_SIZE + e.name.length;
            if (size % blockSize + length > blockSize) {
                size = OnDisk.alignUp(size, blockSize);
            }
            size += length;
        }
        return size;
    }

    /** Encodes the directory's data, {@link #size} bytes long. */
    static byte[] encode(Node dir, int blockSize, ToLongFunction<Node> nid) {
        byte[] data = new byte[(int) size(dir, blockSize)];
        List<Entry> block = new ArrayList<>();
        int blockStart = 0;
        int used = 0;
        for (Entry e : entries(dir)) {
            int length = OnDisk.DIRENT_SIZE + e.name.length;
            if (used + length > blockSize) {
                writeBlock(data, blockStart, block, nid);
                blockStart += blockSize;
                used = 0;
                block.clear();
            }
            block.add(e);
            used += length;
        }
        if (!block.isEmpty()) {
            writeBlock(data, blockStart, block, nid);
        }
        return data;
    }

    private static void writeBlock(byte[] data, int start, List<Entry> block,
            ToLongFunction<Node> nid) {
        int nameOffset = OnDisk.DIRENT_SIZE * block.size();
        for (int i = 0; i < block.size(); i++) {
            Entry e = block.get(i);
            int at = start + i * OnDisk.DIRENT_SIZE;
            Le.putLong(data, at, nid.applyAsLong(e.target));
            Le.putShort(data, at + 8, nameOffset);
            data[at + 10] = (byte) e.fileType;
            System.arraycopy(e.name, 0, data, start + nameOffset, e.name.length);
            nameOffset += e.name.length;
        }
    }

    private static List<Entry> entries(Node dir) {
        int dirType = FileType.DIRECTORY.direntType();
        List<Entry> list = new ArrayList<>(dir.childCount() + 2);
        list.add(new Entry(DOT, dir, dirType));
        list.add(new Entry(DOT_DOT, dir.parent() == null ? dir : dir.parent(), dirType));
        for (Node child : dir.children()) {
            list.add(new Entry(child.nameBytes(), child, child.inode().type().direntType()));
        }
        list.sort((a, b) -> Arrays.compareUnsigned(a.name, b.name));
        return list;
    }
}
