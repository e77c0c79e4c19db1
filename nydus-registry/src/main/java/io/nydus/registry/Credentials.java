package io.nydus.registry;

/**
 * A user name and password (or access token) for a registry. {@link #toString()} hides the
 * password.
 */
public record Credentials(String username, String password) {

    public Credentials {
        if (username == null || username.isEmpty()) {
            throw new IllegalArgumentException("credentials need a user name");
        }
        if (password == null) {
            throw new IllegalArgumentException("credentials of user '" + username
                    + "' need a password");
        }
    }

    /** Returns the value of an HTTP {@code Authorization: Basic} header. */
    String basicAuthorization() {
        String pair = username + ":" + password;
        return "Basic " + java.util.Base64.getEncoder()
                .encodeToString(pair.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @Override
    public String toString() {
        return "Credentials[username=" + username + ", password=(hidden)]";
    }
}
