package io.nydus.registry;

import java.net.http.HttpHeaders;
import java.util.Locale;
import java.util.Optional;

/** The {@code Content-Encoding} of a response, such as {@code gzip}. */
public final class ContentCoding {

    private ContentCoding() {
    }

    /**
     * Returns the codings that {@code headers} name, or empty for none or {@code identity}:
     * only then is the body the representation itself.
     */
    public static Optional<String> of(HttpHeaders headers) {
        String codings = String.join(", ", headers.allValues("Content-Encoding")).strip();
        if (codings.isEmpty() || codings.toLowerCase(Locale.ROOT).equals("identity")) {
            return Optional.empty();
        }
        return Optional.of(codings);
    }
}
