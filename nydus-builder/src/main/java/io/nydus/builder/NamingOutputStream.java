package io.nydus.builder;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;

/**
 * An output stream whose write, flush and close failures name the file written. A full disk or
 * a quota fails a write with an error that names no file, such as "No space left on device".
 */
final class NamingOutputStream extends FilterOutputStream {
    private final String description;

    /**
     * @param description the file as the error names it, such as a path
     */
    NamingOutputStream(OutputStream out, String description) {
        super(out);
        this.description = description;
    }

    @Override
    public void write(int b) throws IOException {
        try {
            out.write(b);
        } catch (IOException e) {
            throw failure(e);
        }
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        try {
            out.write(b, off, len);
        } catch (IOException e) {
            throw failure(e);
        }
    }

    @Override
    public void flush() throws IOException {
        try {
            out.flush();
        } catch (IOException e) {
            throw failure(e);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            out.close();
        } catch (IOException e) {
            throw failure(e);
        }
    }

    private IOException failure(IOException e) {
        return new IOException("cannot write " + description + ": " + AtomicFiles.reason(e), e);
    }
}
