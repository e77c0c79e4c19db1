/**
 * A read-only FUSE server that speaks the kernel's protocol (7.28 to 7.38) on {@code /dev/fuse}
 * through the FFM API, with names, link targets and xattrs as bytes.
 *
 * <p>{@link io.nydus.fuse.FuseSession#mount} mounts a {@link io.nydus.fuse.FuseFileSystem} and
 * starts worker threads. Each worker reads a request into its own native buffer, calls the file
 * system and writes the reply with one write(2); read data goes straight into the reply buffer.
 * Writing requests get EROFS and unknown opcodes ENOSYS.
 */
package io.nydus.fuse;
