package io.nydus.registry;

/** A 401 or 403 response from a registry or its token service. */
public final class RegistryUnauthorizedException extends RegistryException {

    private static final long serialVersionUID = 1L;

    private final int statusCode;

    RegistryUnauthorizedException(RequestTarget target, int statusCode, String message) {
        super(target, message, null);
        this.statusCode = statusCode;
    }

    /** Returns 401 or 403. */
    public int statusCode() {
        return statusCode;
    }
}
