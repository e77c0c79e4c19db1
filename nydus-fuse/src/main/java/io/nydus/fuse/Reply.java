package io.nydus.fuse;

import io.nydus.posix.Errno;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A worker's native reply buffer: a {@code fuse_out_header} followed by up to
 * {@link Protocol#MAX_READ} bytes of payload, sent with one write(2).
 *
 * <p>Handlers write the payload in place, read data included, so a reply is never copied.
 */
final class Reply {

    private static final Logger LOG = LoggerFactory.getLogger(Reply.class);

    private final MemorySegment buffer;
    private final MemorySegment payload;
    private final Writer writer;
    private long unique;
    private int opcode;

    /** Writes one whole reply to the device; returns the count written or {@code -errno}. */
    @FunctionalInterface
    interface Writer {
        long write(MemorySegment reply);
    }

    Reply(MemorySegment buffer, Writer writer) {
        if (buffer.byteSize() < Protocol.OUT_HEADER_SIZE + Protocol.MAX_READ) {
            throw new IllegalArgumentException("reply buffer of " + buffer.byteSize()
                    + " bytes is too small");
        }
        this.buffer = buffer;
        this.payload = buffer.asSlice(Protocol.OUT_HEADER_SIZE, Protocol.MAX_READ);
        this.writer = writer;
    }

    /** Starts the reply to the request with id {@code unique}. */
    void start(long unique, int opcode) {
        this.unique = unique;
        this.opcode = opcode;
    }

    /** Returns the payload area, {@link Protocol#MAX_READ} bytes after the header. */
    MemorySegment payload() {
        return payload;
    }

    /** Sends a successful reply with the first {@code length} bytes of the payload. */
    void send(long length) {
        if (length < 0 || length > payload.byteSize()) {
            throw new IllegalArgumentException("reply payload of " + length
                    + " bytes is outside 0.." + payload.byteSize());
        }
        write(0, Protocol.OUT_HEADER_SIZE + length);
    }

    /** Sends {@code bytes} as the whole payload. */
    void send(byte[] bytes) {
        MemorySegment.copy(bytes, 0, payload, ValueLayout.JAVA_BYTE, 0, bytes.length);
        send(bytes.length);
    }

    /** Sends the error reply {@code -errno}. */
    void sendError(int errno) {
        write(-errno, Protocol.OUT_HEADER_SIZE);
    }

    private void write(int error, long length) {
        buffer.set(ValueLayout.JAVA_INT, 0, (int) length);
        buffer.set(ValueLayout.JAVA_INT, 4, error);
        buffer.set(ValueLayout.JAVA_LONG, 8, unique);
        long result = writer.write(buffer.asSlice(0, length));
        if (result >= 0 || result == -Errno.ENOENT || result == -Errno.ENODEV) {
            // ENOENT: the kernel dropped the request after an interrupt. ENODEV: the session
            // ended, which the worker's next read reports.
            return;
        }
        int errno = (int) -result;
        LOG.error("Writing the reply to FUSE {} request {} ({} bytes, error {}) failed: {} ({})",
                Protocol.opcodeName(opcode), unique, length, error, Errno.description(errno),
                Errno.name(errno));
    }
}
