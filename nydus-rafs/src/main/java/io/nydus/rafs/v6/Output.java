package io.nydus.rafs.v6;

import java.util.Arrays;

/** A growable byte array written at absolute positions; unwritten bytes stay zero. */
final class Output {
    private byte[] data = new byte[64 * 1024];
    private long size;

    long size() {
        return size;
    }

    /** Extends the logical size to at least {@code newSize}, zero-filled. */
    void reserve(long newSize) {
        if (newSize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("bootstrap of " + newSize
                    + " bytes is larger than 2 GiB");
        }
        if (newSize > data.length) {
            data = Arrays.copyOf(data, (int) Math.min(Integer.MAX_VALUE - 8,
                    Math.max(newSize, (long) data.length * 2)));
        }
        size = Math.max(size, newSize);
    }

    void put(long offset, byte[] bytes) {
        put(offset, bytes, 0, bytes.length);
    }

    void put(long offset, byte[] bytes, int from, int length) {
        reserve(offset + length);
        System.arraycopy(bytes, from, data, (int) offset, length);
    }

    byte[] toByteArray() {
        return Arrays.copyOf(data, (int) size);
    }
}
