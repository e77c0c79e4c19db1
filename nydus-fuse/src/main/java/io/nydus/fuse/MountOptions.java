package io.nydus.fuse;

/**
 * Options of {@link FuseSession#mount}.
 *
 * @param fsName the mount's source, shown as the first field of {@code /proc/mounts}
 * @param subtype the file system type shown after "fuse.", or empty for plain "fuse"
 * @param workers threads that read requests and write replies, 1 to 64
 * @param readAheadKib the read-ahead of the mount's backing device in KiB, set after mounting
 */
public record MountOptions(String fsName, String subtype, int workers, int readAheadKib) {

    public static final int DEFAULT_WORKERS = 4;
    public static final int DEFAULT_READ_AHEAD_KIB = 1024;
    /**
     * The maximum number of workers a session starts. Each uses about 1.2 MiB of request
     * buffers.
     */
    public static final int MAX_WORKERS = 64;

    public MountOptions {
        if (fsName == null || fsName.isEmpty() || fsName.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("fsName must be non-empty text without NUL, got "
                    + fsName);
        }
        if (subtype == null || !subtype.matches("[A-Za-z0-9_.+-]*")) {
            throw new IllegalArgumentException("subtype must consist of letters, digits and"
                    + " _.+-, got " + subtype);
        }
        if (workers < 1 || workers > MAX_WORKERS) {
            throw new IllegalArgumentException("workers must be 1.." + MAX_WORKERS + ", got "
                    + workers);
        }
        if (readAheadKib < 0) {
            throw new IllegalArgumentException("readAheadKib must not be negative, got "
                    + readAheadKib);
        }
    }

    /** Returns options with source "nydusd", type "fuse.nydusd" and the default workers. */
    public static MountOptions defaults() {
        return new MountOptions("nydusd", "nydusd", DEFAULT_WORKERS, DEFAULT_READ_AHEAD_KIB);
    }

    /** Returns these options with {@code workers} threads. */
    public MountOptions withWorkers(int workers) {
        return new MountOptions(fsName, subtype, workers, readAheadKib);
    }

    /** Returns these options with another source and subtype. */
    public MountOptions withName(String fsName, String subtype) {
        return new MountOptions(fsName, subtype, workers, readAheadKib);
    }

    /** Returns the type passed to mount(2): "fuse" or "fuse." and the subtype. */
    String mountType() {
        return subtype.isEmpty() ? "fuse" : "fuse." + subtype;
    }
}
