package io.nydus.snapshotter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A client of nydusd's HTTP API on its unix socket: one HTTP/1.1 request per connection, with
 * a deadline that covers connecting, sending and reading the whole response. The snapshotter
 * and {@code nydusctl} use it.
 */
public final class NydusdClient {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** The maximum response size read; nydusd's responses are small JSON documents. */
    private static final int MAX_RESPONSE_BYTES = 1 << 20;
    private static final ExecutorService IO = Executors.newVirtualThreadPerTaskExecutor();

    /** An HTTP status and body. */
    public record Response(int status, String body) {
        /** The maximum length of an error message, so that a large body cannot flood logs. */
        static final int MAX_ERROR_CHARS = 1000;

        public boolean ok() {
            return status >= 200 && status < 300;
        }

        /**
         * Returns the {@code message} of nydusd's JSON error body, which names the failing
         * input and value, or the body itself if it has none.
         */
        public String errorMessage() {
            String message = body;
            try {
                JsonNode error = JSON.readTree(body);
                if (error != null && error.path("message").isTextual()) {
                    message = error.path("message").asText();
                }
            } catch (JsonProcessingException e) {
                // Not JSON, so the body is the message.
            }
            if (message.length() <= MAX_ERROR_CHARS) {
                return message;
            }
            return message.substring(0, MAX_ERROR_CHARS) + "...";
        }
    }

    private final Path socket;

    public NydusdClient(Path socket) {
        this.socket = socket;
    }

    public Path socket() {
        return socket;
    }

    /**
     * Sends one request and returns the response.
     *
     * @throws IOException naming the socket and request if it fails or the deadline passes
     */
    public Response send(String method, String pathAndQuery, String jsonBody, Duration timeout)
            throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        Future<Response> exchange = IO.submit(() -> exchange(channel, method, pathAndQuery,
                jsonBody));
        try {
            return exchange.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IOException("nydusd at " + socket + " did not respond to " + method + " "
                    + pathAndQuery + " within " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            throw new IOException("nydusd request " + method + " " + pathAndQuery + " on "
                    + socket + " failed: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted during nydusd request " + pathAndQuery, e);
        } finally {
            channel.close();
        }
    }

    private Response exchange(SocketChannel channel, String method, String pathAndQuery,
            String jsonBody) throws IOException {
        channel.connect(UnixDomainSocketAddress.of(socket));
        byte[] body = jsonBody == null ? new byte[0] : jsonBody.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + pathAndQuery + " HTTP/1.1\r\nHost: localhost\r\n"
                + "Connection: close\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length + "\r\n\r\n";
        ByteBuffer request = ByteBuffer.allocate(head.length() + body.length);
        request.put(head.getBytes(StandardCharsets.US_ASCII)).put(body).flip();
        while (request.hasRemaining()) {
            channel.write(request);
        }
        return parse(readAll(channel), pathAndQuery);
    }

    private static byte[] readAll(SocketChannel channel) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocate(8192);
        while (channel.read(buffer) >= 0) {
            buffer.flip();
            out.write(buffer.array(), 0, buffer.limit());
            buffer.clear();
            if (out.size() > MAX_RESPONSE_BYTES) {
                throw new IOException("response is larger than " + MAX_RESPONSE_BYTES + " bytes");
            }
        }
        return out.toByteArray();
    }

    private static Response parse(byte[] bytes, String pathAndQuery) throws IOException {
        // The head is ASCII and chunk sizes count bytes, so the body is decoded last.
        String text = new String(bytes, StandardCharsets.ISO_8859_1);
        int headEnd = text.indexOf("\r\n\r\n");
        if (!text.startsWith("HTTP/1.") || headEnd < 0 || text.length() < 12) {
            throw new IOException("invalid HTTP response to " + pathAndQuery + ": '"
                    + Snapshotter.abbreviate(new String(bytes, StandardCharsets.UTF_8)) + "'");
        }
        int status;
        try {
            status = Integer.parseInt(text.substring(9, 12));
        } catch (NumberFormatException e) {
            throw new IOException("invalid HTTP status line in response to " + pathAndQuery);
        }
        String head = text.substring(0, headEnd).toLowerCase(java.util.Locale.ROOT);
        byte[] body = Arrays.copyOfRange(bytes, headEnd + 4, bytes.length);
        if (head.contains("transfer-encoding: chunked")) {
            body = unchunk(body, pathAndQuery);
        }
        return new Response(status, new String(body, StandardCharsets.UTF_8));
    }

    private static byte[] unchunk(byte[] body, String pathAndQuery) throws IOException {
        String text = new String(body, StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream result = new ByteArrayOutputStream();
        int position = 0;
        while (true) {
            int lineEnd = text.indexOf("\r\n", position);
            if (lineEnd < 0) {
                throw new IOException("truncated chunked HTTP body in response to "
                        + pathAndQuery);
            }
            int size = chunkSize(text.substring(position, lineEnd), pathAndQuery);
            if (size == 0) {
                return result.toByteArray();
            }
            int dataEnd = lineEnd + 2 + size;
            if (dataEnd > body.length || dataEnd < 0) {
                throw new IOException("truncated chunked HTTP body in response to "
                        + pathAndQuery + ": a chunk of " + size + " bytes ends past its end");
            }
            result.write(body, lineEnd + 2, size);
            position = dataEnd + 2;
        }
    }

    /** Parses a chunk's size line, which may carry extensions after a semicolon. */
    private static int chunkSize(String line, String pathAndQuery) throws IOException {
        int extensions = line.indexOf(';');
        String hex = (extensions < 0 ? line : line.substring(0, extensions)).strip();
        try {
            int size = Integer.parseInt(hex, 16);
            if (size >= 0) {
                return size;
            }
        } catch (NumberFormatException e) {
            // Reported below with the line.
        }
        throw new IOException("invalid chunk size '" + Snapshotter.abbreviate(line)
                + "' in the chunked HTTP body of the response to " + pathAndQuery);
    }
}
