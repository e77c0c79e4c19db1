package io.nydus.fuse;

/**
 * The answer to a lookup: the inode found and how long the kernel may cache it.
 *
 * @param attr the inode's attributes; {@code attr.inode()} is the node id
 * @param timeoutSeconds how long the kernel may cache the name and the attributes
 */
public record Entry(Attr attr, double timeoutSeconds) {

    public Entry {
        if (attr == null || timeoutSeconds < 0) {
            throw new IllegalArgumentException("entry needs attributes and a timeout >= 0");
        }
    }
}
