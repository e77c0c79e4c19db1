package io.nydus.registry;

import java.util.List;

/** A response status that the operation does not expect. */
public final class UnexpectedStatusException extends RegistryException {

    private static final long serialVersionUID = 1L;

    private final int statusCode;
    private final String[] errorCodes;

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

    /** Returns the codes of the registry's JSON error body, such as {@code DIGEST_INVALID}. */
    public List<String> errorCodes() {
        return List.of(errorCodes);
    }
}
