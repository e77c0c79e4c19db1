package io.nydus.posix;

/** The file types of the {@code S_IFMT} bits of a mode. */
public enum FileType {
    REGULAR(0100000, "regular file"),
    DIRECTORY(0040000, "directory"),
    SYMLINK(0120000, "symbolic link"),
    CHAR_DEVICE(0020000, "character device"),
    BLOCK_DEVICE(0060000, "block device"),
    FIFO(0010000, "fifo"),
    SOCKET(0140000, "socket");

    /** The mask of the file type bits in a mode. */
    public static final int S_IFMT = 0170000;

    private final int bits;
    private final String description;

    FileType(int bits, String description) {
        this.bits = bits;
        this.description = description;
    }

    /** Returns the {@code S_IF*} bits of this type, such as 0100000 for a regular file. */
    public int bits() {
        return bits;
    }

    /** Returns {@code bits() | permissions}, the mode for {@link Posix#mknod}. */
    public int mode(int permissions) {
        if ((permissions & ~07777) != 0) {
            throw new IllegalArgumentException(
                    "permissions must fit in 07777, got 0" + Integer.toOctalString(permissions));
        }
        return bits | permissions;
    }

    /**
     * Returns the type in the {@code S_IFMT} bits of {@code mode}.
     *
     * @throws IllegalArgumentException if the bits name no Linux file type
     */
    public static FileType of(int mode) {
        int typeBits = mode & S_IFMT;
        for (FileType type : values()) {
            if (type.bits == typeBits) {
                return type;
            }
        }
        throw new IllegalArgumentException(
                "mode 0" + Integer.toOctalString(mode) + " has unknown file type bits");
    }

    /** Returns the type in words, such as "regular file". */
    @Override
    public String toString() {
        return description;
    }
}
