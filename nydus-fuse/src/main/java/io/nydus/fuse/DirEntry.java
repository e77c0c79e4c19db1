package io.nydus.fuse;

/**
 * One directory entry handed to a {@link DirSink}.
 *
 * @param name the entry's name as bytes
 * @param inode its inode number
 * @param type file type bits of its mode ({@code mode & 0170000})
 * @param nextOffset the position that continues the listing after this entry
 */
public record DirEntry(byte[] name, long inode, int type, long nextOffset) {

    public DirEntry {
        if (name == null || name.length == 0 || name.length > 255) {
            throw new IllegalArgumentException("directory entry of inode " + inode
                    + " has a name of 1..255 bytes");
        }
    }
}
