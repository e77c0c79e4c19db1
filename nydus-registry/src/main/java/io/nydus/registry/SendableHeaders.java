package io.nydus.registry;

import java.net.URI;
import java.net.http.HttpRequest;
import java.util.Optional;

/**
 * Checks headers that come from configuration files, such as a mirror's, when the file is
 * read. Java's HTTP client would otherwise reject them at every request.
 */
public final class SendableHeaders {
    private static final URI PROBE = URI.create("http://localhost/");
    private static final String HARMLESS_NAME = "X-Nydus-Probe";
    private static final String HARMLESS_VALUE = "x";

    private SendableHeaders() {
    }

    /**
     * Returns why Java's HTTP client cannot send the header {@code name: value}, or empty when
     * it can. The reason never contains the value, which may be a credential.
     */
    public static Optional<String> problem(String name, String value) {
        if (!sendable(name, HARMLESS_VALUE)) {
            // A valid name that the client rejects is one of its restricted names.
            return Optional.of(isToken(name) ? "is a header that the HTTP client sets itself, such as Host or Connection"
                    : "is not a valid HTTP header name");
        }
        if (!sendable(HARMLESS_NAME, value)) {
            return Optional.of("has a value with characters that HTTP headers cannot carry,"
                    + " such as CR or LF");
        }
        return Optional.empty();
    }

    private static boolean sendable(String name, String value) {
        try {
            HttpRequest.newBuilder(PROBE).header(name, value);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** Returns whether {@code name} is an HTTP token, the form of a header name. */
    private static boolean isToken(String name) {
        if (name.isEmpty()) {
            return false;
        }
        for (char c : name.toCharArray()) {
            boolean symbol = "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
            if (!(symbol || (c < 128 && Character.isLetterOrDigit(c)))) {
                return false;
            }
        }
        return true;
    }
}
