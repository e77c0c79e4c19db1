package io.nydus.daemon;

/**
 * Options of a RAFS mount: the configuration's {@code enable_xattr}, {@code iostats_files},
 * {@code access_pattern} and {@code latest_read_files}, and how long the kernel may cache names
 * and attributes.
 *
 * @param enableXattr whether xattrs are served
 * @param iostatsFiles whether reads are counted per file
 * @param accessPattern whether the first access and read count of each file are recorded
 * @param latestReadFiles whether the files read are recorded until the API returns them
 * @param entryTimeoutSeconds the kernel's cache time for entries and attributes
 */
public record RafsOptions(boolean enableXattr, boolean iostatsFiles, boolean accessPattern,
        boolean latestReadFiles, double entryTimeoutSeconds) {

    /** The image never changes under a mount, so the kernel may keep what it looked up. */
    public static final double DEFAULT_TIMEOUT_SECONDS = 3600;

    public RafsOptions {
        if (!(entryTimeoutSeconds >= 0)) {
            throw new IllegalArgumentException("entry timeout " + entryTimeoutSeconds
                    + " must be at least 0 seconds");
        }
    }

    public static RafsOptions defaults() {
        return new RafsOptions(true, false, false, false, DEFAULT_TIMEOUT_SECONDS);
    }
}
