package io.nydus.registry;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The body of an upload request, {@code length} bytes that each attempt reads from a stream of
 * {@code part}. A part that can be reopened is opened anew for each attempt, so the request
 * may go again after the registry rejected its token. Closing the body closes each stream it
 * opened.
 */
final class PartBody implements HttpCall.Body, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(PartBody.class);

    private final RequestTarget target;
    private final BlobSource part;
    private final long length;
    private final boolean bounded;
    private final List<InputStream> opened = new ArrayList<>();
    private volatile Slice lastSlice;

    /**
     * Creates the body of {@code part}, a part of the blob of {@code target}.
     *
     * @param bounded whether each attempt reads at most {@code length} bytes of the stream. If
     *     not, the HTTP client fails a request whose stream has more bytes.
     */
    PartBody(RequestTarget target, BlobSource part, long length, boolean bounded) {
        this.target = target;
        this.part = part;
        this.length = length;
        this.bounded = bounded;
    }

    /** Returns a stream that reads {@code in} and leaves it open when it is closed. */
    static InputStream leavingOpen(InputStream in) {
        return new FilterInputStream(in) {
            @Override
            public void close() {
            }
        };
    }

    /** Returns when the request may go again: after a 401 if the part can be reopened. */
    HttpCall.Resend resend() {
        return part.reopenable() ? HttpCall.Resend.AFTER_UNAUTHORIZED : HttpCall.Resend.NEVER;
    }

    @Override
    public synchronized BodyPublisher create() throws IOException {
        InputStream in;
        if (opened.isEmpty() || part.reopenable()) {
            in = part.open();
            opened.add(in);
        } else {
            // Only the fallback from HTTPS to plain HTTP creates a second body of a call that
            // is never sent again, after a connection failure that sent nothing.
            in = opened.getLast();
        }
        InputStream body = bounded ? newSlice(in) : in;
        return BodyPublishers.fromPublisher(BodyPublishers.ofInputStream(() -> body), length);
    }

    private Slice newSlice(InputStream in) {
        Slice slice = new Slice(in, length);
        lastSlice = slice;
        return slice;
    }

    /**
     * Returns whether the stream of the last attempt ended before the part did. It is always
     * false for a body that is not bounded.
     */
    boolean sourceEnded() {
        Slice slice = lastSlice;
        return slice != null && slice.sourceEnded();
    }

    /** Returns how many bytes the last attempt read, or 0 before the first attempt. */
    long bytesRead() {
        Slice slice = lastSlice;
        return slice == null ? 0 : length - slice.remaining();
    }

    /**
     * Closes the streams that the attempts opened. A failure is logged and not thrown, because
     * the request has ended by then.
     */
    @Override
    public synchronized void close() {
        for (InputStream in : opened) {
            try {
                in.close();
            } catch (IOException e) {
                LOG.warn("closing a stream of the data of {} failed: {}", target.describe(),
                        e.toString());
            }
        }
        opened.clear();
    }

    /**
     * The next {@code length} bytes of a stream, the body of one PATCH request. The HTTP
     * client closes it after sending, which leaves the underlying stream open.
     */
    private static final class Slice extends InputStream {

        private final InputStream in;
        private volatile long remaining;
        private volatile boolean sourceEnded;

        Slice(InputStream in, long length) {
            this.in = in;
            this.remaining = length;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) == 1 ? one[0] & 0xff : -1;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            if (remaining == 0) {
                return -1;
            }
            int n = in.read(buffer, offset, (int) Math.min(length, remaining));
            if (n < 0) {
                sourceEnded = true;
                return -1;
            }
            remaining -= n;
            return n;
        }

        @Override
        public void close() {
        }

        long remaining() {
            return remaining;
        }

        /** Returns whether the underlying stream ended before this slice's last byte. */
        boolean sourceEnded() {
            return sourceEnded;
        }
    }
}
