package io.nydus.tar;

/**
 * The kind of file a tar entry describes. Tar has no type for sockets, and GNU sparse files and
 * contiguous files ({@code '7'}) are read as {@link #FILE}.
 */
public enum EntryType {
    /** A regular file, typeflag {@code '0'}, NUL, {@code '7'} or GNU sparse {@code 'S'}. */
    FILE,
    /** A hard link to the earlier entry {@link TarEntry#linkName()}, typeflag {@code '1'}. */
    HARDLINK,
    /** A symbolic link with target {@link TarEntry#linkName()}, typeflag {@code '2'}. */
    SYMLINK,
    /** A character device, typeflag {@code '3'}. */
    CHAR_DEVICE,
    /** A block device, typeflag {@code '4'}. */
    BLOCK_DEVICE,
    /** A directory, typeflag {@code '5'}, or the NUL typeflag on a name ending in '/'. */
    DIRECTORY,
    /** A named pipe, typeflag {@code '6'}. */
    FIFO
}
