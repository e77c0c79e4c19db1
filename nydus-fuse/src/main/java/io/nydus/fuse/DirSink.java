package io.nydus.fuse;

/** Collects the entries of one readdir or readdirplus reply. */
public interface DirSink {

    /**
     * Whether this reply also carries attributes (readdirplus). When it does, the file system
     * passes the entry's {@link Entry} to {@link #add(DirEntry, Entry)}; each counts as a lookup
     * for forget, except for "." and "..".
     */
    boolean wantsAttributes();

    /**
     * Adds one entry; {@code entry} is null unless {@link #wantsAttributes()}. Returns false when
     * the reply is full and the entry was not added, which ends the listing for this request.
     */
    boolean add(DirEntry dirEntry, Entry entry);
}
