package io.nydus.daemon;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * One HTTP/1.1 request read from an API connection.
 *
 * @param method the request method, upper case
 * @param path the path without the query
 * @param query the decoded query parameters
 * @param headers header values by lower-case name
 * @param body the body, empty without one
 */
record ApiRequest(String method, String path, Map<String, String> query,
        Map<String, String> headers, byte[] body) {
    static final int MAX_HEAD = 16 << 10;
    static final int MAX_BODY = 4 << 20;

    /** Reads the next request, or returns null at the end of the stream. */
    static ApiRequest read(InputStream in) throws IOException {
        String requestLine = line(in);
        if (requestLine == null) {
            return null;
        }
        String[] parts = requestLine.split(" ");
        if (parts.length != 3 || !parts[2].startsWith("HTTP/1.")) {
            throw new ApiException(400, "BadRequest", "invalid request line '"
                    + requestLine + "'");
        }

        Map<String, String> headers = headers(in, requestLine.length());
        byte[] body = body(in, headers);

        String target = parts[1];
        int question = target.indexOf('?');
        String path = target;
        Map<String, String> query = Map.of();
        if (question >= 0) {
            path = target.substring(0, question);
            query = query(target.substring(question + 1));
        }
        return new ApiRequest(parts[0].toUpperCase(Locale.ROOT), path, query, headers, body);
    }

    /** Reads header lines up to the blank line, by lower-case name. */
    private static Map<String, String> headers(InputStream in, int headBytes)
            throws IOException {
        Map<String, String> headers = new HashMap<>();
        int total = headBytes;
        for (String line = line(in); line != null && !line.isEmpty(); line = line(in)) {
            total += line.length();
            if (total > MAX_HEAD) {
                throw new ApiException(431, "BadRequest", "request head beyond "
                        + MAX_HEAD + " bytes");
            }
            int colon = line.indexOf(':');
            if (colon <= 0) {
                throw new ApiException(400, "BadRequest", "invalid header '" + line + "'");
            }
            headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT),
                    line.substring(colon + 1).trim());
        }
        return headers;
    }

    private static byte[] body(InputStream in, Map<String, String> headers) throws IOException {
        String length = headers.get("content-length");
        if (length == null) {
            if (headers.containsKey("transfer-encoding")) {
                throw new ApiException(411, "BadRequest", "send the body with a"
                        + " Content-Length; chunked bodies are not accepted");
            }
            return new byte[0];
        }
        long size;
        try {
            size = Long.parseLong(length);
        } catch (NumberFormatException e) {
            throw new ApiException(400, "BadRequest", "Content-Length '" + length
                    + "' is not a number");
        }
        if (size < 0 || size > MAX_BODY) {
            throw new ApiException(413, "BadRequest", "body of " + size + " bytes is outside"
                    + " 0.." + MAX_BODY);
        }
        byte[] body = in.readNBytes((int) size);
        if (body.length != size) {
            throw new IOException("connection closed after " + body.length + " of " + size
                    + " body bytes");
        }
        return body;
    }

    private static Map<String, String> query(String text) throws ApiException {
        Map<String, String> out = new HashMap<>();
        for (String pair : text.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int equals = pair.indexOf('=');
            String key = equals < 0 ? pair : pair.substring(0, equals);
            String value = equals < 0 ? "" : pair.substring(equals + 1);
            String name = decode(key, "a query parameter name");
            out.put(name, decode(value, "query parameter '" + name + "'"));
        }
        return out;
    }

    /**
     * Decodes a form-encoded query part into UTF-8 text. A mount point whose bytes are not
     * UTF-8 would otherwise turn into another name, in which two such paths could even meet.
     *
     * @param label names the part in errors
     * @throws ApiException naming the part if an escape is invalid or the bytes are not UTF-8
     */
    private static String decode(String encoded, String label) throws ApiException {
        byte[] bytes;
        try {
            // The request line is read as ISO-8859-1, so each char of it is one byte.
            bytes = URLDecoder.decode(encoded, StandardCharsets.ISO_8859_1)
                    .getBytes(StandardCharsets.ISO_8859_1);
        } catch (IllegalArgumentException e) {
            throw new ApiException(400, "BadRequest", label + " has an invalid percent escape: "
                    + e.getMessage());
        }
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new ApiException(400, "BadRequest", label + " is not UTF-8 text once"
                    + " percent-decoded");
        }
    }

    /** Reads one CRLF- or LF-terminated line as ISO-8859-1, or null at the end of the stream. */
    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            if (b == '\n') {
                byte[] bytes = out.toByteArray();
                int end = bytes.length > 0 && bytes[bytes.length - 1] == '\r'
                        ? bytes.length - 1 : bytes.length;
                return new String(bytes, 0, end, StandardCharsets.ISO_8859_1);
            }
            if (out.size() > MAX_HEAD) {
                throw new ApiException(431, "BadRequest", "request line beyond " + MAX_HEAD
                        + " bytes");
            }
            out.write(b);
        }
        return out.size() == 0 ? null : out.toString(StandardCharsets.ISO_8859_1);
    }

    String param(String name) {
        return query.get(name);
    }
}
