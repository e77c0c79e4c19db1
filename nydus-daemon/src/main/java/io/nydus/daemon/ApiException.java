package io.nydus.daemon;

import java.io.IOException;

/** A failed request, which the API reports with an error status, a JSON code and a message. */
final class ApiException extends IOException {
    private final int status;
    private final String code;

    ApiException(int status, String code, String message) {
        super(message);
        this.status = status;
        this.code = code;
    }

    int status() {
        return status;
    }

    String code() {
        return code;
    }
}
