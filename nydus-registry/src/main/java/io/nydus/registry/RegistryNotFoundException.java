package io.nydus.registry;

import java.util.List;

/**
 * A 404 response: the manifest, blob, repository or upload does not exist. The registry's error
 * codes tell which: {@code MANIFEST_UNKNOWN}, {@code BLOB_UNKNOWN}, {@code NAME_UNKNOWN} or
 * {@code BLOB_UPLOAD_UNKNOWN}.
 */
public final class RegistryNotFoundException extends RegistryException {

    private static final long serialVersionUID = 1L;

    private final String[] errorCodes;

    RegistryNotFoundException(RequestTarget target, List<String> errorCodes, String message) {
        super(target, message, null);
        this.errorCodes = errorCodes.toArray(String[]::new);
    }

    /** Returns the codes of the registry's JSON error body; empty for a HEAD request. */
    public List<String> errorCodes() {
        return List.of(errorCodes);
    }
}
