package io.nydus.rafs.v6;

import io.nydus.rafs.RafsFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;

/**
 * Bounds-checked little-endian reads from a bootstrap held in memory, with errors that name the
 * bootstrap, the structure and its absolute offset.
 *
 * <p>It also keeps a budget of decoded metadata bytes. In a valid image inodes, xattr areas,
 * directory data and chunk index arrays never overlap, so the sum of their sizes cannot exceed
 * the file size. Charging every decoded structure against that budget keeps the work of a crafted
 * image with overlapping structures linear in the file size.
 */
final class MetaBuffer {
    private final String source;
    private final ByteBuffer data;
    private final long size;
    private long budget;

    MetaBuffer(String source, ByteBuffer data) {
        this.source = source;
        this.data = data.slice().order(ByteOrder.LITTLE_ENDIAN);
        this.size = this.data.remaining();
        this.budget = size;
    }

    String source() {
        return source;
    }

    long size() {
        return size;
    }

    /** Returns an error naming the source, the structure at {@code offset} and the problem. */
    RafsFormatException error(Object structure, long offset, String problem) {
        return new RafsFormatException(String.format(Locale.ROOT,
                "%s: %s at offset %d (0x%x): %s", source, structure, offset, offset, problem));
    }

    /** Checks that {@code length} bytes at {@code offset} lie inside the file. */
    void require(Object structure, long offset, long length) throws RafsFormatException {
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw error(structure, offset, length + " bytes extend past the end of the "
                    + size + "-byte file");
        }
    }

    /** Charges {@code length} decoded bytes against the budget of the file's size. */
    void charge(Object structure, long offset, long length) throws RafsFormatException {
        budget -= length;
        if (budget < 0) {
            throw error(structure, offset, "metadata structures overlap: more than the file's "
                    + size + " bytes were decoded");
        }
    }

    int u8(Object structure, long offset) throws RafsFormatException {
        require(structure, offset, 1);
        return data.get((int) offset) & 0xFF;
    }

    int u16(Object structure, long offset) throws RafsFormatException {
        require(structure, offset, 2);
        return data.getShort((int) offset) & 0xFFFF;
    }

    long u32(Object structure, long offset) throws RafsFormatException {
        require(structure, offset, 4);
        return data.getInt((int) offset) & 0xFFFF_FFFFL;
    }

    /** Reads a u64; values of 2^63 and more come back negative and callers reject them. */
    long u64(Object structure, long offset) throws RafsFormatException {
        require(structure, offset, 8);
        return data.getLong((int) offset);
    }

    byte[] bytes(Object structure, long offset, int length) throws RafsFormatException {
        require(structure, offset, length);
        byte[] out = new byte[length];
        data.get((int) offset, out);
        return out;
    }
}
