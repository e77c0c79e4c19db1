package io.nydus.rafs;

import java.io.IOException;

/**
 * Corrupt, unsupported or inconsistent RAFS data: a bootstrap, a blob or one of their tables.
 * The message names the file, the offset and the field with its value.
 */
public class RafsFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    public RafsFormatException(String message) {
        super(message);
    }

    public RafsFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
