package io.nydus.tar;

/**
 * A range of a file that contains data. The bytes between segments are holes that read as zeros.
 *
 * @param offset the offset of the first byte in the file
 * @param length the number of bytes, at least 1
 */
public record SparseSegment(long offset, long length) {

    public SparseSegment {
        if (offset < 0) {
            throw new IllegalArgumentException("negative sparse segment offset: " + offset);
        }
        if (length <= 0) {
            throw new IllegalArgumentException("sparse segment length must be positive: " + length);
        }
        if (offset > Long.MAX_VALUE - length) {
            throw new IllegalArgumentException(
                    "sparse segment " + offset + "+" + length + " ends beyond 2^63-1");
        }
    }

    /** Returns the offset just past the last byte. */
    public long end() {
        return offset + length;
    }
}
