package io.nydus.rafs.tree;

/** File types a RAFS image holds, with their `st_mode` type bits and EROFS dirent codes. */
public enum FileType {
    REGULAR(0100000, 1),
    DIRECTORY(0040000, 2),
    CHAR_DEVICE(0020000, 3),
    BLOCK_DEVICE(0060000, 4),
    FIFO(0010000, 5),
    SOCKET(0140000, 6),
    SYMLINK(0120000, 7);

    /** Mask of the type bits in `st_mode`. */
    public static final int S_IFMT = 0170000;

    private final int modeBits;
    private final int direntType;

    FileType(int modeBits, int direntType) {
        this.modeBits = modeBits;
        this.direntType = direntType;
    }

    /** Returns the type bits of `st_mode` (S_IFREG, S_IFDIR...). */
    public int modeBits() {
        return modeBits;
    }

    /** Returns the EROFS dirent `file_type` code. */
    public int direntType() {
        return direntType;
    }

    public boolean isDevice() {
        return this == CHAR_DEVICE || this == BLOCK_DEVICE;
    }

    /** Returns the type whose bits {@code mode & S_IFMT} names, or null for unknown bits. */
    public static FileType fromMode(int mode) {
        int bits = mode & S_IFMT;
        for (FileType t : values()) {
            if (t.modeBits == bits) {
                return t;
            }
        }
        return null;
    }
}
