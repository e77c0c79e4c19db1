package io.nydus.registry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A socket server on 127.0.0.1 that acts out broken HTTP exchanges a real registry does not
 * produce: connection resets and bodies shorter than their {@code Content-Length}.
 */
final class RawServer implements AutoCloseable {

    /** Handles connection number {@code index} (from 0) after its request head was read. */
    @FunctionalInterface
    interface Handler {
        void handle(int index, Socket socket, String requestHead) throws IOException;
    }

    private final ServerSocket server;
    private final AtomicInteger connections = new AtomicInteger();
    private final Thread thread;

    RawServer(Handler handler) throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        thread = Thread.ofVirtual().start(() -> serve(handler));
    }

    String address() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    int connections() {
        return connections.get();
    }

    private void serve(Handler handler) {
        while (!server.isClosed()) {
            try {
                Socket socket = server.accept();
                int index = connections.getAndIncrement();
                Thread.ofVirtual().start(() -> exchange(handler, index, socket));
            } catch (IOException e) {
                // A closed server ends the loop.
            }
        }
    }

    private static void exchange(Handler handler, int index, Socket socket) {
        try (socket) {
            handler.handle(index, socket, readHead(socket.getInputStream()));
        } catch (IOException e) {
            // The client reports a failed exchange, which is what the tests check.
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        while (matched < end.length) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            head.write(b);
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    /** Closes {@code socket} with a TCP reset instead of an orderly shutdown. */
    static void reset(Socket socket) throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    static void write(Socket socket, String head, byte[] body) throws IOException {
        socket.getOutputStream().write(head.getBytes(StandardCharsets.ISO_8859_1));
        socket.getOutputStream().write(body);
        socket.getOutputStream().flush();
    }

    @Override
    public void close() throws IOException {
        server.close();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
