package io.nydus.builder;

import io.nydus.posix.Fd;
import java.io.IOException;
import java.io.InputStream;

/** Reads a file descriptor as a stream; the caller closes the descriptor. */
final class FdInputStream extends InputStream {
    private final Fd fd;

    FdInputStream(Fd fd) {
        this.fd = fd;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n <= 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        if (length == 0) {
            return 0;
        }
        int n = fd.read(buffer, offset, length);
        return n == 0 ? -1 : n;
    }
}
