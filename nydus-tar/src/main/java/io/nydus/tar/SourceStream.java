package io.nydus.tar;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * The caller's input stream, with its I/O errors wrapped in {@link SourceException}. A
 * decompressor reads from it. An error that reaches the reader unwrapped therefore came from the
 * decompressor (corrupt or truncated data). A wrapped one came from the source (a failed disk or
 * network read), and the reader rethrows the source's own exception.
 */
final class SourceStream extends FilterInputStream {

    /** An I/O error of the source stream, carried through the decompressor. */
    static final class SourceException extends IOException {
        private static final long serialVersionUID = 1L;

        SourceException(IOException cause) {
            super(cause);
        }

        /** Returns the source's own exception. */
        IOException sourceError() {
            return (IOException) getCause();
        }
    }

    SourceStream(InputStream in) {
        super(in);
    }

    @Override
    public int read() throws IOException {
        try {
            return super.read();
        } catch (IOException e) {
            throw new SourceException(e);
        }
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        try {
            return super.read(buffer, offset, length);
        } catch (IOException e) {
            throw new SourceException(e);
        }
    }

    @Override
    public long skip(long count) throws IOException {
        try {
            return super.skip(count);
        } catch (IOException e) {
            throw new SourceException(e);
        }
    }

    @Override
    public int available() throws IOException {
        try {
            return super.available();
        } catch (IOException e) {
            throw new SourceException(e);
        }
    }
}
