package io.nydus.daemon;

import java.util.Locale;

/**
 * The FUSE file operations that an image's metrics count, in upstream nydusd's order. The
 * ordinal is the index into {@code fop_hits}, {@code fop_errors} and
 * {@code fop_cumulative_latency_total} of {@code /api/v1/metrics}, which nydusctl and
 * nydus-snapshotter read by position, so new constants go at the end only.
 */
public enum FileOperation {
    GETATTR,
    READLINK,
    OPEN,
    RELEASE,
    READ,
    STATFS,
    GETXATTR,
    LISTXATTR,
    OPENDIR,
    LOOKUP,
    READDIR,
    READDIRPLUS,
    ACCESS,
    FORGET,
    BATCH_FORGET;

    /** Returns the name in lower case, as in labels and summaries: {@code batch_forget}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
