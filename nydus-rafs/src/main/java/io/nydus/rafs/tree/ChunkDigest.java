package io.nydus.rafs.tree;

import java.util.Arrays;
import java.util.HexFormat;

/** A 32-byte chunk digest (BLAKE3 or SHA-256 of the uncompressed chunk), compared by value. */
public final class ChunkDigest implements Comparable<ChunkDigest> {
    public static final int SIZE = 32;

    private final byte[] bytes;
    private final int hash;

    private ChunkDigest(byte[] bytes) {
        this.bytes = bytes;
        this.hash = Arrays.hashCode(bytes);
    }

    /** Wraps a copy of 32 bytes at {@code offset}. */
    public static ChunkDigest of(byte[] source, int offset) {
        if (offset < 0 || offset + SIZE > source.length) {
            throw new IllegalArgumentException("a chunk digest needs " + SIZE + " bytes at offset "
                    + offset + " of a " + source.length + "-byte array");
        }
        return new ChunkDigest(Arrays.copyOfRange(source, offset, offset + SIZE));
    }

    public static ChunkDigest of(byte[] digest) {
        if (digest.length != SIZE) {
            throw new IllegalArgumentException(
                    "a chunk digest has " + SIZE + " bytes, got " + digest.length);
        }
        return new ChunkDigest(digest.clone());
    }

    public static ChunkDigest parseHex(String hex) {
        return of(HexFormat.of().parseHex(hex));
    }

    /** Returns a copy of the digest bytes. */
    public byte[] toByteArray() {
        return bytes.clone();
    }

    /** Copies the digest into {@code target} at {@code offset}. */
    public void copyTo(byte[] target, int offset) {
        System.arraycopy(bytes, 0, target, offset, SIZE);
    }

    /** Returns true when every byte is zero, which some tables use for "no digest". */
    public boolean isZero() {
        for (byte b : bytes) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    public boolean matches(byte[] digest) {
        return Arrays.equals(bytes, digest);
    }

    @Override
    public int compareTo(ChunkDigest other) {
        return Arrays.compareUnsigned(bytes, other.bytes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChunkDigest other && hash == other.hash
                && Arrays.equals(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return HexFormat.of().formatHex(bytes);
    }
}
