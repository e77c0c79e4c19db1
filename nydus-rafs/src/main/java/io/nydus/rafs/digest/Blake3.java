package io.nydus.rafs.digest;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * BLAKE3 in its plain (unkeyed) hash mode: 32-byte digests, or any number of output bytes
 * through {@link Hasher#digest(int)}.
 *
 * <p>Whole chunks are compressed in the lanes of the Vector API ({@code jdk.incubator.vector},
 * which the JVM must be started with through {@code --add-modules jdk.incubator.vector}), so
 * large inputs hash several times faster than with a block-at-a-time implementation. Without
 * that module, or with vectors of fewer than 8 {@code int} lanes (x86 without AVX2), the same
 * code runs on scalar compression alone. The system property {@code io.nydus.blake3.lanes}
 * picks 4, 8 or 16 lanes, or 0 for the scalar code. It is read once, at the first hash.
 *
 * <p>The static methods keep no shared mutable state, so any number of threads may call them
 * at once. A {@link Hasher} belongs to one thread at a time.
 */
public final class Blake3 {
    /** Length in bytes of the default digest. */
    public static final int DIGEST_LENGTH = 32;

    private Blake3() {
    }

    /** Returns the 32-byte BLAKE3 hash of {@code data}. */
    public static byte[] hash(byte[] data) {
        Objects.requireNonNull(data, "data");
        return hash(MemorySegment.ofArray(data));
    }

    /** Returns the 32-byte BLAKE3 hash of the {@code length} bytes at {@code offset}. */
    public static byte[] hash(byte[] data, int offset, int length) {
        Objects.requireNonNull(data, "data");
        checkRange(data.length, offset, length);
        return hash(MemorySegment.ofArray(data).asSlice(offset, length));
    }

    /**
     * Returns the 32-byte BLAKE3 hash of the bytes between the position and the limit of a heap
     * or direct buffer. The buffer's position stays where it was.
     */
    public static byte[] hash(ByteBuffer data) {
        Objects.requireNonNull(data, "data");
        return hash(MemorySegment.ofBuffer(data));
    }

    /** Returns the 32-byte BLAKE3 hash of all bytes of a heap or native memory segment. */
    public static byte[] hash(MemorySegment data) {
        Objects.requireNonNull(data, "data");
        long length = data.byteSize();
        byte[] digest = new byte[DIGEST_LENGTH];
        if (length <= Blake3Scalar.CHUNK_LENGTH) {
            Blake3Scalar.chunkOutput(data, 0, (int) length, 0).rootBytes(digest, 0, DIGEST_LENGTH);
            return digest;
        }
        Blake3Tree tree = Blake3Tree.forLength(length);
        long offset = 0;
        while (length - offset > Blake3Tree.BATCH_LENGTH) {
            tree.addBatch(data, offset);
            offset += Blake3Tree.BATCH_LENGTH;
        }
        tree.finish(data, offset, (int) (length - offset), true)
                .rootBytes(digest, 0, DIGEST_LENGTH);
        return digest;
    }

    /** Returns an incremental hasher with no input yet. */
    public static Hasher newHasher() {
        return new Hasher();
    }

    private static void checkRange(int arrayLength, int offset, int length) {
        if (offset < 0 || length < 0 || offset > arrayLength - length) {
            throw new IndexOutOfBoundsException("offset " + offset + " and length " + length
                    + " are out of bounds for an array of " + arrayLength + " bytes");
        }
    }

    /**
     * Incremental BLAKE3: takes input in pieces of any size and returns the same digest as one
     * {@link Blake3#hash} call over all of it. Its memory is fixed, about 50 KiB with 16 vector
     * lanes, whatever the input size. Not thread-safe.
     */
    public static final class Hasher {
        private final Blake3Tree tree = new Blake3Tree(Blake3Tree.SEGMENT_CHUNKS);
        private final byte[] pending = new byte[Blake3Tree.BATCH_LENGTH];
        private final MemorySegment pendingSegment = MemorySegment.ofArray(pending);
        /**
         * Bytes in {@code pending}. A full batch waits there until more input shows that it is
         * not the last.
         */
        private int pendingLength;

        private Hasher() {
        }

        /** Adds all bytes of {@code data}. */
        public Hasher update(byte[] data) {
            Objects.requireNonNull(data, "data");
            return update(MemorySegment.ofArray(data));
        }

        /** Adds {@code length} bytes of {@code data} at {@code offset}. */
        public Hasher update(byte[] data, int offset, int length) {
            Objects.requireNonNull(data, "data");
            checkRange(data.length, offset, length);
            return update(MemorySegment.ofArray(data).asSlice(offset, length));
        }

        /**
         * Adds the bytes between the position and the limit of a heap or direct buffer, and
         * moves the position to the limit.
         */
        public Hasher update(ByteBuffer data) {
            Objects.requireNonNull(data, "data");
            update(MemorySegment.ofBuffer(data));
            data.position(data.limit());
            return this;
        }

        /** Adds all bytes of a heap or native memory segment. */
        public Hasher update(MemorySegment data) {
            Objects.requireNonNull(data, "data");
            long offset = 0;
            long remaining = data.byteSize();
            while (remaining > 0) {
                if (pendingLength == pending.length) {
                    tree.addBatch(pendingSegment, 0);
                    pendingLength = 0;
                }
                // Whole batches go straight from the input, but the last byte always stays
                // behind so that the final chunk is still here when the digest is taken.
                if (pendingLength == 0) {
                    while (remaining > Blake3Tree.BATCH_LENGTH) {
                        tree.addBatch(data, offset);
                        offset += Blake3Tree.BATCH_LENGTH;
                        remaining -= Blake3Tree.BATCH_LENGTH;
                    }
                }
                int n = (int) Math.min(pending.length - pendingLength, remaining);
                MemorySegment.copy(data, offset, pendingSegment, pendingLength, n);
                pendingLength += n;
                offset += n;
                remaining -= n;
            }
            return this;
        }

        /**
         * Returns the 32-byte digest of everything added since creation or the last
         * {@link #reset()}. The hasher stays as it was, so more input may follow.
         */
        public byte[] digest() {
            return digest(DIGEST_LENGTH);
        }

        /**
         * Returns {@code length} bytes of extended output. The first 32 bytes equal
         * {@link #digest()}, and a longer output extends a shorter one.
         */
        public byte[] digest(int length) {
            if (length < 0) {
                throw new IllegalArgumentException("output length " + length + " is negative");
            }
            byte[] out = new byte[length];
            digest(out, 0, length);
            return out;
        }

        /** Writes {@code length} bytes of extended output into {@code out} at {@code offset}. */
        public void digest(byte[] out, int offset, int length) {
            Objects.requireNonNull(out, "out");
            checkRange(out.length, offset, length);
            tree.finish(pendingSegment, 0, pendingLength, false).rootBytes(out, offset, length);
        }

        /** Forgets all input, so the hasher starts over. */
        public Hasher reset() {
            tree.reset();
            pendingLength = 0;
            return this;
        }
    }
}
