package io.nydus.fuse;

import io.nydus.fuse.Request.MalformedRequestException;
import io.nydus.posix.Errno;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One thread's loop: read a request, handle it, repeat, until the kernel ends the session or
 * the session is closed. Owns its native request and reply buffers.
 */
final class Worker implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(Worker.class);

    /** The reason a worker stopped. */
    enum Outcome {
        /** The kernel ended the connection: unmounted or aborted. */
        UNMOUNTED,
        /** The session was closed and woke the worker. */
        CLOSED,
        /** Reading from the device failed with an unexpected error. */
        FAILED
    }

    /** Receives each worker's outcome once it stops. */
    interface Listener {
        void stopped(Outcome outcome);
    }

    private final FuseDevice device;
    private final RequestHandler handler;
    private final Listener listener;
    private final String mountpoint;
    private volatile InflightRequest current;

    Worker(FuseDevice device, RequestHandler handler, Listener listener, String mountpoint) {
        this.device = device;
        this.handler = handler;
        this.listener = listener;
        this.mountpoint = mountpoint;
    }

    @Override
    public void run() {
        Outcome outcome = Outcome.FAILED;
        try (Arena arena = Arena.ofConfined()) {
            outcome = serve(arena);
        } catch (IOException | RuntimeException | Error e) {
            LOG.error("FUSE worker for {} stopped on an unexpected error", mountpoint, e);
        } finally {
            listener.stopped(outcome);
        }
    }

    private Outcome serve(Arena arena) throws IOException {
        try (FuseDevice.Channel channel = device.channel(arena)) {
            return serve(arena, channel);
        }
    }

    private Outcome serve(Arena arena, FuseDevice.Channel channel) {
        Request request = new Request(arena.allocate(Protocol.REQUEST_BUFFER_SIZE, 4096));
        // The header ends where a page starts, so read data lands page-aligned.
        MemorySegment replyBuffer = arena
                .allocate(Protocol.PAGE_SIZE + Protocol.MAX_READ, Protocol.PAGE_SIZE)
                .asSlice(Protocol.PAGE_SIZE - Protocol.OUT_HEADER_SIZE,
                        Protocol.OUT_HEADER_SIZE + Protocol.MAX_READ);
        Reply reply = new Reply(replyBuffer, channel::write);
        MemorySegment requestBuffer = request.buffer();
        while (true) {
            long length = channel.read(requestBuffer);
            if (length >= 0) {
                handle(request, reply, length);
            } else if (length == -Errno.EAGAIN) {
                if (!channel.awaitRequest()) {
                    return Outcome.CLOSED;
                }
            } else if (length == -Errno.ENODEV && device.isClosed()) {
                // A worker that was still handling a request when the session closed.
                return Outcome.CLOSED;
            } else if (length == -Errno.ENODEV || length == -Protocol.ECONNABORTED) {
                return Outcome.UNMOUNTED;
            } else if (length != -Errno.EINTR && length != -Errno.ENOENT) {
                // ENOENT: the kernel dropped the request while handing it over.
                int errno = (int) -length;
                LOG.error("Reading a FUSE request for {} failed: {} ({})", mountpoint,
                        Errno.description(errno), Errno.name(errno));
                return Outcome.FAILED;
            }
        }
    }

    /** Returns the request this worker is handling, or null while it waits for one. */
    InflightRequest current() {
        return current;
    }

    private void handle(Request request, Reply reply, long length) {
        try {
            request.parse(length);
        } catch (MalformedRequestException e) {
            handler.rejectMalformed(request, reply, e);
            return;
        }
        current = new InflightRequest(request.nodeId(), request.opcode(), request.unique(),
                System.currentTimeMillis() / 1000);
        try {
            handler.handle(request, reply);
        } finally {
            current = null;
        }
    }
}
