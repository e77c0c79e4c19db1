package io.nydus.registry;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One {@code WWW-Authenticate} challenge, such as
 * {@code Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"}.
 *
 * @param scheme the scheme in lower case: {@code basic} or {@code bearer}
 * @param parameters the parameters with lower-case names and unquoted values
 */
record AuthChallenge(String scheme, Map<String, String> parameters) {

    AuthChallenge {
        parameters = Map.copyOf(parameters);
    }

    boolean isBearer() {
        return scheme.equals("bearer");
    }

    boolean isBasic() {
        return scheme.equals("basic");
    }

    String parameter(String name) {
        return parameters.get(name);
    }

    /** Returns the Bearer challenge of {@code headerValues} if any, else a Basic one. */
    static Optional<AuthChallenge> select(List<String> headerValues) {
        AuthChallenge basic = null;
        for (String value : headerValues) {
            Optional<AuthChallenge> parsed = parse(value);
            if (parsed.isPresent() && parsed.get().isBearer()) {
                return parsed;
            }
            if (parsed.isPresent() && parsed.get().isBasic()) {
                basic = parsed.get();
            }
        }
        return Optional.ofNullable(basic);
    }

    /** Parses one header value; returns empty for a value without a scheme. */
    static Optional<AuthChallenge> parse(String value) {
        String text = value.strip();
        int space = text.indexOf(' ');
        String scheme = (space < 0 ? text : text.substring(0, space)).toLowerCase(Locale.ROOT);
        if (scheme.isEmpty()) {
            return Optional.empty();
        }
        Map<String, String> parameters = new LinkedHashMap<>();
        int position = space < 0 ? text.length() : space + 1;
        while (position < text.length()) {
            position = readParameter(text, position, parameters);
        }
        return Optional.of(new AuthChallenge(scheme, parameters));
    }

    /** Reads {@code name=value} or {@code name="quoted value"} and the comma after it. */
    private static int readParameter(String text, int start, Map<String, String> parameters) {
        int position = skip(text, start, " ,\t");
        int equals = text.indexOf('=', position);
        if (equals < 0) {
            return text.length();
        }
        String name = text.substring(position, equals).strip().toLowerCase(Locale.ROOT);
        position = equals + 1;
        StringBuilder value = new StringBuilder();
        if (position < text.length() && text.charAt(position) == '"') {
            position++;
            while (position < text.length() && text.charAt(position) != '"') {
                char c = text.charAt(position);
                if (c == '\\' && position + 1 < text.length()) {
                    position++;
                    c = text.charAt(position);
                }
                value.append(c);
                position++;
            }
            position++;
        } else {
            while (position < text.length() && text.charAt(position) != ',') {
                value.append(text.charAt(position));
                position++;
            }
        }
        parameters.put(name, value.toString().strip());
        return skip(text, position, " ,\t");
    }

    private static int skip(String text, int position, String characters) {
        int result = position;
        while (result < text.length() && characters.indexOf(text.charAt(result)) >= 0) {
            result++;
        }
        return result;
    }
}
