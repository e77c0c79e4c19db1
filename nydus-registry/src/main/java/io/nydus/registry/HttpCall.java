package io.nydus.registry;

import java.io.IOException;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.util.Map;

/**
 * One request to a registry before authorization, redirects and retries.
 *
 * @param method the HTTP method
 * @param location a path below the registry root such as {@code /v2/}, or an absolute URI
 *     (an upload location)
 * @param headers extra request headers
 * @param body creates the request body for each attempt
 * @param scope the token scope the request needs, such as {@code repository:app:pull}; several
 *     scopes are separated by spaces
 * @param resend when the transport may send the request again
 */
record HttpCall(String method, String location, Map<String, String> headers, Body body,
        String scope, Resend resend) {

    /** Creates the body of one attempt. */
    @FunctionalInterface
    interface Body {
        BodyPublisher create() throws IOException;
    }

    /** When the transport may send a request again. */
    enum Resend {
        /** Never, because the first attempt consumes a body that cannot be created again. */
        NEVER,
        /**
         * Only after a 401 response that a new token or credentials may pass. A registry
         * checks authorization before it acts on a request, so the rejected request had no
         * effect even if it is not idempotent. {@code body} can create the body again.
         */
        AFTER_UNAUTHORIZED,
        /**
         * Also after a 5xx or 429 response or a failed connection: the request is idempotent
         * and {@code body} can create the body again.
         */
        AFTER_ANY_FAILURE
    }

    HttpCall {
        headers = Map.copyOf(headers);
    }

    static HttpCall get(String location, String scope, Map<String, String> headers) {
        return new HttpCall("GET", location, headers, BodyPublishers::noBody, scope,
                Resend.AFTER_ANY_FAILURE);
    }

    static HttpCall head(String location, String scope, Map<String, String> headers) {
        return new HttpCall("HEAD", location, headers, BodyPublishers::noBody, scope,
                Resend.AFTER_ANY_FAILURE);
    }

    /** Returns whether the request is sent again after a retryable status or I/O failure. */
    boolean retryable() {
        return resend == Resend.AFTER_ANY_FAILURE;
    }

    static String pullScope(String repository) {
        return "repository:" + repository + ":pull";
    }

    static String pushScope(String repository) {
        return "repository:" + repository + ":pull,push";
    }

    /** Returns the scope that cancels an upload: distribution requires the delete action. */
    static String cancelScope(String repository) {
        return "repository:" + repository + ":pull,push,delete";
    }
}
