package io.nydus.builder.robustness;

import java.io.InputStream;
import java.util.SplittableRandom;

/**
 * A plain tar stream of one regular file whose content is generated from a seed as it is read,
 * so a test can build from gigabytes of distinct data without storing them: a ustar header,
 * {@code size} pseudo-random bytes, padding to 512 bytes and the two zero end blocks.
 */
final class SeededTarStream extends InputStream {
    private final byte[] header;
    private final long size;
    private final long end;
    private final SplittableRandom random;
    private long position;
    private long word;
    private int wordBytesLeft;

    SeededTarStream(String name, long size, long seed) {
        this.header = TarWriter.header(name, '0', 0644, size, "", 0, 0);
        this.size = size;
        this.end = TarWriter.BLOCK + size + TarWriter.padding(size) + 2L * TarWriter.BLOCK;
        this.random = new SplittableRandom(seed);
    }

    @Override
    public int read() {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
    }

    @Override
    public int read(byte[] b, int off, int len) {
        if (len == 0) {
            return 0;
        }
        if (position >= end) {
            return -1;
        }
        if (position < TarWriter.BLOCK) {
            int n = (int) Math.min(len, TarWriter.BLOCK - position);
            System.arraycopy(header, (int) position, b, off, n);
            position += n;
            return n;
        }
        long dataLeft = TarWriter.BLOCK + size - position;
        if (dataLeft > 0) {
            int n = (int) Math.min(len, dataLeft);
            fillRandom(b, off, n);
            position += n;
            return n;
        }
        int n = (int) Math.min(len, end - position);
        java.util.Arrays.fill(b, off, off + n, (byte) 0);
        position += n;
        return n;
    }

    /** Fills with the next bytes of one long-by-long sequence, however reads are split. */
    private void fillRandom(byte[] b, int off, int len) {
        for (int i = off; i < off + len; i++) {
            if (wordBytesLeft == 0) {
                word = random.nextLong();
                wordBytesLeft = 8;
            }
            b[i] = (byte) word;
            word >>>= 8;
            wordBytesLeft--;
        }
    }
}
