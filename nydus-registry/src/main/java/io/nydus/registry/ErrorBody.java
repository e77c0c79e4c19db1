package io.nydus.registry;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The JSON error body of the distribution API, {@code {"errors":[{"code","message",
 * "detail"}]}}, and the exceptions built from a failed response.
 *
 * @param codes the error codes, such as {@code MANIFEST_UNKNOWN}
 * @param text the errors quoted for a message, or the start of a body that is not such JSON
 */
record ErrorBody(List<String> codes, String text) {

    private static final int MAX_QUOTED_CHARS = 500;

    static ErrorBody parse(byte[] body) {
        if (body.length == 0) {
            return new ErrorBody(List.of(), "");
        }
        try {
            JsonNode errors = JsonFields.MAPPER.readTree(body).get("errors");
            if (errors != null && errors.isArray()) {
                return fromErrors(errors);
            }
        } catch (IOException e) {
            // Not JSON, such as the HTML page of a proxy: quoted as text below.
        }
        return new ErrorBody(List.of(), shorten(new String(body, StandardCharsets.UTF_8)));
    }

    private static ErrorBody fromErrors(JsonNode errors) {
        List<String> codes = new ArrayList<>();
        List<String> quoted = new ArrayList<>();
        for (JsonNode error : errors) {
            String code = error.path("code").asText("");
            String message = error.path("message").asText("");
            codes.add(code);
            JsonNode detail = error.get("detail");
            String detailText = detail == null || detail.isNull() ? "" : " (" + detail + ")";
            quoted.add(code + " \"" + message + "\"" + detailText);
        }
        return new ErrorBody(codes, shorten(String.join("; ", quoted)));
    }

    private static String shorten(String text) {
        String flat = text.strip().replaceAll("\\s+", " ");
        return flat.length() <= MAX_QUOTED_CHARS ? flat
                : flat.substring(0, MAX_QUOTED_CHARS) + "...";
    }

    /** Returns {@code ": " + text}, or nothing for an empty body. */
    String suffix() {
        return text.isEmpty() ? "" : ": " + text;
    }

    /**
     * Returns the exception for a response with {@code statusCode} and this body to a request
     * for {@code action} (such as {@code GET}) on {@code target}.
     */
    RegistryException toException(RequestTarget target, String action, int statusCode) {
        return toException(target, action, statusCode, "");
    }

    /**
     * Returns the exception for a response like {@link #toException(RequestTarget, String,
     * int)}, with {@code note} after the status, such as the host that sent the response.
     */
    RegistryException toException(RequestTarget target, String action, int statusCode,
            String note) {
        String prefix = action + " " + target.describe() + " failed with HTTP " + statusCode
                + note;
        return switch (statusCode) {
            case 401, 403 -> new RegistryUnauthorizedException(target, statusCode,
                    prefix + " (access denied)" + suffix());
            case 404 -> new RegistryNotFoundException(target, codes,
                    prefix + " (not found)" + suffix());
            case 413 -> new UnexpectedStatusException(target, statusCode, codes, prefix
                    + " (request too large: the registry or a proxy in front of it, such as"
                    + " nginx with its client_max_body_size, limits the size of a request"
                    + " body; raise that limit, or send smaller parts where the command"
                    + " allows it, such as nydusify copy --push-chunk-size)" + suffix());
            default -> new UnexpectedStatusException(target, statusCode, codes,
                    prefix + suffix());
        };
    }
}
