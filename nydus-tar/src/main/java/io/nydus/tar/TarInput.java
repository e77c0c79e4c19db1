package io.nydus.tar;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;

/**
 * The decompressed tar stream: buffered, counting the offset of the next byte, and turning
 * decompressor errors into {@link TarFormatException}s that name the entry. Errors of the
 * caller's source stream pass through unchanged.
 */
final class TarInput implements Closeable {

    private static final int BUFFER_SIZE = 64 * 1024;
    /** Reads that return 0 bytes in a row before the stream is taken as broken. */
    private static final int MAX_EMPTY_READS = 1000;

    private final InputStream in;
    private final Compression compression;
    private final EntryContext context;
    private final byte[] buffer = new byte[BUFFER_SIZE];
    private int position;
    private int limit;
    private long offset;
    private boolean atEnd;

    TarInput(InputStream in, Compression compression, EntryContext context) {
        this.in = in;
        this.compression = compression;
        this.context = context;
    }

    /** Returns the offset of the next byte in the decompressed stream. */
    long offset() {
        return offset;
    }

    /** Reads up to {@code length} bytes, returning -1 at the end of the stream. */
    int read(byte[] target, int targetOffset, int length) throws IOException {
        if (length == 0) {
            return 0;
        }
        if (position == limit) {
            if (atEnd) {
                return -1;
            }
            if (length >= BUFFER_SIZE) {
                int count = readSource(target, targetOffset, length);
                if (count > 0) {
                    offset += count;
                }
                return count;
            }
            fill();
            if (position == limit) {
                return -1;
            }
        }
        int count = Math.min(length, limit - position);
        System.arraycopy(buffer, position, target, targetOffset, count);
        position += count;
        offset += count;
        return count;
    }

    /** Reads until {@code length} bytes or the end of the stream; returns the count read. */
    int readFully(byte[] target, int targetOffset, int length) throws IOException {
        int total = 0;
        while (total < length) {
            int count = read(target, targetOffset + total, length - total);
            if (count < 0) {
                break;
            }
            total += count;
        }
        return total;
    }

    /** Skips until {@code count} bytes or the end of the stream; returns the count skipped. */
    long skip(long count) throws IOException {
        long skipped = 0;
        while (skipped < count) {
            if (position == limit) {
                if (atEnd) {
                    break;
                }
                fill();
                continue;
            }
            int step = (int) Math.min(count - skipped, limit - position);
            position += step;
            offset += step;
            skipped += step;
        }
        return skipped;
    }

    /** Reads and discards the rest of the stream, so that decompressor checksums are checked. */
    void drain() throws IOException {
        skip(Long.MAX_VALUE);
    }

    @Override
    public void close() throws IOException {
        in.close();
    }

    private void fill() throws IOException {
        position = 0;
        limit = 0;
        int count = readSource(buffer, 0, buffer.length);
        if (count > 0) {
            limit = count;
        }
    }

    private int readSource(byte[] target, int targetOffset, int length) throws IOException {
        for (int attempt = 0; attempt < MAX_EMPTY_READS; attempt++) {
            int count = readOnce(target, targetOffset, length);
            if (count < 0) {
                atEnd = true;
                return -1;
            }
            if (count > 0) {
                return count;
            }
        }
        throw new IOException("input stream returned 0 bytes " + MAX_EMPTY_READS
                + " times in a row at tar offset " + EntryContext.hex(offset));
    }

    private int readOnce(byte[] target, int targetOffset, int length) throws IOException {
        try {
            return in.read(target, targetOffset, length);
        } catch (SourceStream.SourceException e) {
            throw e.sourceError();
        } catch (TarFormatException e) {
            throw e;
        } catch (IOException e) {
            // Source errors arrive wrapped, so an unwrapped one is the decompressor's.
            throw context.invalidStream(compression, offset, e);
        }
    }
}
