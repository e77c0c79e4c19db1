package io.nydus.registry;

import java.net.URI;

/**
 * The rule for which redirects of a registry request are followed, by method and status.
 *
 * <p>GET and HEAD follow 301, 302, 303, 307 and 308. Other methods, such as the POST, PATCH and
 * PUT of a push, follow only 307 and 308, because these keep the method and body, and only
 * when the body can be created again. Go's HTTP client, which containerd and so upstream's
 * nydusify use, turns such a request into a GET without its body on a 301, 302 or 303. The
 * registry then never receives the upload or manifest, so here such a redirect is an error.
 */
final class MethodRedirects {

    private MethodRedirects() {
    }

    /**
     * Throws unless {@code call}, sent to {@code from}, may follow the redirect with
     * {@code status} to {@code to}.
     *
     * @throws RegistryException naming the method, status and both URLs if it may not
     */
    static void requireFollowable(RequestTarget target, HttpCall call, URI from, int status,
            URI to) throws RegistryException {
        String method = call.method();
        if (method.equals("GET") || method.equals("HEAD")) {
            return;
        }
        boolean keepsMethod = status == 307 || status == 308;
        if (keepsMethod && call.resend() != HttpCall.Resend.NEVER) {
            return;
        }
        String reason = keepsMethod
                ? "the request body comes from a stream that can be read only once, so it"
                        + " cannot be sent again; push from a source that can be reopened,"
                        + " such as a file"
                : "HTTP " + status + " would turn the " + method + " into a GET without its"
                        + " body, so only 307 and 308 redirects are followed for " + method;
        throw new RegistryException(target, method + " " + target.describe() + ": "
                + HttpTransport.withoutQuery(from) + " responded with HTTP " + status
                + " redirecting to " + HttpTransport.withoutQuery(to) + ", which is not"
                + " followed: " + reason, null);
    }
}
