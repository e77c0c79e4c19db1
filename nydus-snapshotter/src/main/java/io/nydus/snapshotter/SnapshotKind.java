package io.nydus.snapshotter;

/** The kinds of snapshot in containerd's model. */
public enum SnapshotKind {
    /** A read-only snapshot of a parent, made by View. */
    VIEW,
    /** A writable snapshot, made by Prepare. */
    ACTIVE,
    /** A read-only snapshot that Commit made from an active one; it can be a parent. */
    COMMITTED
}
