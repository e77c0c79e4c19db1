package io.nydus.registry;

import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.util.Map;
import java.util.function.Supplier;

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
 * @param retryable whether the request may be sent again: it is idempotent and {@code body}
 *     can create the body again
 */
record HttpCall(String method, String location, Map<String, String> headers,
        Supplier<BodyPublisher> body, String scope, boolean retryable) {

    HttpCall {
        headers = Map.copyOf(headers);
    }

    static HttpCall get(String location, String scope, Map<String, String> headers) {
        return new HttpCall("GET", location, headers, BodyPublishers::noBody, scope, true);
    }

    static HttpCall head(String location, String scope, Map<String, String> headers) {
        return new HttpCall("HEAD", location, headers, BodyPublishers::noBody, scope, true);
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
