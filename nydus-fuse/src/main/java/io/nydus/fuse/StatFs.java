package io.nydus.fuse;

/**
 * File system figures for statfs.
 *
 * @param blocks total blocks of {@code blockSize} bytes
 * @param files total inodes
 * @param blockSize block size in bytes
 * @param nameMax longest name in bytes
 */
public record StatFs(long blocks, long files, int blockSize, int nameMax) {
}
