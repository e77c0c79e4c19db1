package io.nydus.registry;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** A response status that the operation does not expect. */
public final class UnexpectedStatusException extends RegistryException {

    private static final long serialVersionUID = 1L;

    private final int statusCode;
    private final String[] errorCodes;
    private Duration retryAfter;

    UnexpectedStatusException(RequestTarget target, int statusCode, List<String> errorCodes,
            String message) {
        super(target, message, null);
        this.statusCode = statusCode;
        this.errorCodes = errorCodes.toArray(String[]::new);
        setTransient(statusCode == 429 || statusCode >= 500);
    }

    public int statusCode() {
        return statusCode;
    }

    /** Returns the wait that the response's {@code Retry-After} header requested, if any. */
    public Optional<Duration> retryAfter() {
        return Optional.ofNullable(retryAfter);
    }

    final void setRetryAfter(Optional<Duration> value) {
        retryAfter = value.orElse(null);
    }

    /** Returns the codes of the registry's JSON error body, such as {@code DIGEST_INVALID}. */
    public List<String> errorCodes() {
        return List.of(errorCodes);
    }
}
