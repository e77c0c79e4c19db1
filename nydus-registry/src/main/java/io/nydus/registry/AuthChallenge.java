package io.nydus.registry;

import java.util.ArrayList;
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

    /**
     * Returns the Bearer challenge of {@code headerValues} if any, else a Basic one. One header
     * value may carry several challenges, as RFC 7235 allows.
     */
    static Optional<AuthChallenge> select(List<String> headerValues) {
        AuthChallenge basic = null;
        for (String value : headerValues) {
            for (AuthChallenge challenge : parseAll(value)) {
                if (challenge.isBearer()) {
                    return Optional.of(challenge);
                }
                if (challenge.isBasic() && basic == null) {
                    basic = challenge;
                }
            }
        }
        return Optional.ofNullable(basic);
    }

    /** Parses the first challenge of one header value; returns empty for a value without one. */
    static Optional<AuthChallenge> parse(String value) {
        return parseAll(value).stream().findFirst();
    }

    /**
     * Parses every challenge of one header value: a scheme, then {@code name=value} parameters
     * separated by commas, with optional blanks around '=' and quoted or bare values. A comma
     * followed by a name without '=' starts the next challenge.
     */
    static List<AuthChallenge> parseAll(String value) {
        List<AuthChallenge> challenges = new ArrayList<>();
        Cursor cursor = new Cursor(value);
        cursor.skip(" \t,");
        while (!cursor.atEnd()) {
            String scheme = cursor.token().toLowerCase(Locale.ROOT);
            if (scheme.isEmpty()) {
                // A character that cannot start a token is skipped, so the loop moves on.
                cursor.advance();
                cursor.skip(" \t,");
                continue;
            }
            Map<String, String> parameters = new LinkedHashMap<>();
            readParameters(cursor, parameters);
            challenges.add(new AuthChallenge(scheme, parameters));
        }
        return challenges;
    }

    /**
     * Reads parameters up to the next challenge or the end, leaving the cursor there. A name
     * that is not followed by '=' is the scheme of the next challenge.
     */
    private static void readParameters(Cursor cursor, Map<String, String> parameters) {
        while (true) {
            cursor.skip(" \t,");
            int start = cursor.position();
            String name = cursor.token();
            cursor.skip(" \t");
            if (name.isEmpty() || !cursor.consume('=')) {
                cursor.reset(start);
                return;
            }
            cursor.skip(" \t");
            parameters.put(name.toLowerCase(Locale.ROOT), cursor.value());
        }
    }

    /** A position in a header value. */
    private static final class Cursor {
        private final String text;
        private int position;

        Cursor(String text) {
            this.text = text;
        }

        boolean atEnd() {
            return position >= text.length();
        }

        int position() {
            return position;
        }

        void reset(int value) {
            position = value;
        }

        void advance() {
            position++;
        }

        char peek() {
            return atEnd() ? '\0' : text.charAt(position);
        }

        boolean consume(char c) {
            if (atEnd() || peek() != c) {
                return false;
            }
            position++;
            return true;
        }

        void skip(String characters) {
            while (!atEnd() && characters.indexOf(text.charAt(position)) >= 0) {
                position++;
            }
        }

        /** Reads an RFC 7230 token: up to a blank, comma, '=', quote or the end. */
        String token() {
            int start = position;
            while (!atEnd() && " \t,=\"".indexOf(text.charAt(position)) < 0) {
                position++;
            }
            return text.substring(start, position);
        }

        /** Reads a quoted string without its quotes and escapes, or a bare token. */
        String value() {
            if (!consume('"')) {
                return token();
            }
            StringBuilder value = new StringBuilder();
            while (!atEnd() && text.charAt(position) != '"') {
                char c = text.charAt(position);
                if (c == '\\' && position + 1 < text.length()) {
                    position++;
                    c = text.charAt(position);
                }
                value.append(c);
                position++;
            }
            consume('"');
            return value.toString();
        }
    }
}
