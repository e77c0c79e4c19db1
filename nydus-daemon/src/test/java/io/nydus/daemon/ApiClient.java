package io.nydus.daemon;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/** A plain HTTP/1.1 client on a unix socket, as curl --unix-socket would talk to the API. */
final class ApiClient {

    /** A response's status, body and header fields, by lower-case name. */
    record Response(int status, String body, Map<String, String> headers) {
    }

    private ApiClient() {
    }

    static Response send(Path socket, String method, String target, String body)
            throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
            OutputStream out = Channels.newOutputStream(channel);
            out.write((method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n"
                    + "Connection: close\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.write(bytes);
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(
                    Channels.newInputStream(channel), StandardCharsets.UTF_8));
            String status = in.readLine();
            Map<String, String> headers = new HashMap<>();
            for (String line = in.readLine(); line != null && !line.isEmpty();
                    line = in.readLine()) {
                int colon = line.indexOf(':');
                headers.put(line.substring(0, colon).toLowerCase(Locale.ROOT),
                        line.substring(colon + 1).trim());
            }
            int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
            char[] text = new char[length];
            int read = 0;
            while (read < length) {
                int n = in.read(text, read, length - read);
                if (n < 0) {
                    break;
                }
                read += n;
            }
            return new Response(Integer.parseInt(status.split(" ")[1]),
                    new String(text, 0, read), headers);
        }
    }
}
