package io.nydus.tar;

/** The compression of a tar stream. */
public enum Compression {
    /** A plain tar stream. */
    NONE,
    /** One or more gzip members (RFC 1952) in a row. */
    GZIP,
    /** One or more zstd frames (RFC 8878) in a row, skippable frames included. */
    ZSTD
}
