package io.nydus.cli.snapshotter;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A proxy that takes the place of a running nydusd's API socket and leaves chosen
 * {@code GET /api/v1/daemon} requests without a reply, as a daemon on a loaded machine does when
 * it replies after the client's timeout. The daemon's own socket is renamed and stays bound, so
 * every other request reaches the real daemon.
 */
final class StallingApiProxy implements AutoCloseable {
    private static final String DAEMON_INFO = "GET /api/v1/daemon ";

    private final Path socket;
    private final Path upstream;
    private final ServerSocketChannel server;
    private final Thread acceptor;
    /** The daemon info requests still to pass before the stalled ones. */
    private final AtomicInteger toPass = new AtomicInteger();
    /** The daemon info requests still to stall after those that pass. */
    private final AtomicInteger toStall = new AtomicInteger();
    private final AtomicInteger stalled = new AtomicInteger();

    private StallingApiProxy(Path socket) throws IOException {
        this.socket = socket;
        this.upstream = socket.resolveSibling(socket.getFileName() + ".real");
        Files.move(socket, upstream, StandardCopyOption.ATOMIC_MOVE);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        acceptor = Thread.ofVirtual().name("stalling-api-proxy").start(this::accept);
    }

    /** Moves the API socket at {@code socket} aside and serves the proxy in its place. */
    static StallingApiProxy install(Path socket) throws IOException {
        return new StallingApiProxy(socket);
    }

    /** Returns the path of the daemon's own socket, which no request stalls on. */
    Path upstream() {
        return upstream;
    }

    /** Lets the next {@code passed} daemon info requests through, then stalls {@code count}. */
    void stallDaemonInfo(int passed, int count) {
        toPass.set(passed);
        toStall.set(count);
    }

    /** Returns how many requests the proxy has left without a reply. */
    int stalledRequests() {
        return stalled.get();
    }

    private void accept() {
        while (server.isOpen()) {
            try {
                SocketChannel client = server.accept();
                Thread.ofVirtual().start(() -> handle(client));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void handle(SocketChannel client) {
        try (client) {
            byte[] request = readRequest(Channels.newInputStream(client));
            String head = new String(request, StandardCharsets.US_ASCII);
            if (head.startsWith(DAEMON_INFO) && shouldStall()) {
                stalled.incrementAndGet();
                // No reply: the client gives up at its timeout and closes the connection.
                Channels.newInputStream(client).transferTo(OutputStream.nullOutputStream());
                return;
            }
            Channels.newOutputStream(client).write(forward(request));
        } catch (IOException e) {
            // The client closed its end and gets the failure on its side.
        }
    }

    private boolean shouldStall() {
        if (toPass.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            return false;
        }
        return toStall.getAndUpdate(n -> Math.max(0, n - 1)) > 0;
    }

    private byte[] forward(byte[] request) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(upstream));
            Channels.newOutputStream(channel).write(request);
            return Channels.newInputStream(channel).readAllBytes();
        }
    }

    /** Reads one request: its head and the body that Content-Length announces. */
    private static byte[] readRequest(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (!endsWithBlankLine(out)) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("the request ended inside its head");
            }
            out.write(b);
        }
        int length = contentLength(out.toString(StandardCharsets.US_ASCII));
        out.write(in.readNBytes(length));
        return out.toByteArray();
    }

    private static boolean endsWithBlankLine(ByteArrayOutputStream out) {
        byte[] bytes = out.toByteArray();
        int n = bytes.length;
        return n >= 4 && bytes[n - 4] == '\r' && bytes[n - 3] == '\n' && bytes[n - 2] == '\r'
                && bytes[n - 1] == '\n';
    }

    private static int contentLength(String head) {
        for (String line : head.split("\r\n")) {
            if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                return Integer.parseInt(line.substring(15).strip());
            }
        }
        return 0;
    }

    /** Stops the proxy and gives the daemon's socket its path back. */
    @Override
    public void close() throws IOException {
        server.close();
        acceptor.interrupt();
        Files.move(upstream, socket, StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.ATOMIC_MOVE);
    }
}
