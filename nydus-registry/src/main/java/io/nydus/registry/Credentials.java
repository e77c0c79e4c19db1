package io.nydus.registry;

/**
 * A user name and password (or access token) for a registry, or an identity token: an OAuth 2
 * refresh token that a registry's token service exchanges for bearer tokens, as
 * {@code docker login} stores for some registries. {@link #toString()} hides the secrets.
 *
 * @param username the user name, {@value CredentialHelper#IDENTITY_TOKEN_USER} for an
 *     identity token without one
 * @param password the password, empty for an identity token
 * @param identityToken the identity token, or null when the password is the secret
 */
public record Credentials(String username, String password, String identityToken) {

    public Credentials {
        if (username == null || username.isEmpty()) {
            throw new IllegalArgumentException("credentials need a user name");
        }
        if (password == null) {
            throw new IllegalArgumentException("credentials of user '" + username
                    + "' need a password");
        }
        if (identityToken != null && identityToken.isEmpty()) {
            throw new IllegalArgumentException("credentials of user '" + username
                    + "' have an empty identity token");
        }
    }

    /** Creates credentials of a user name and password. */
    public Credentials(String username, String password) {
        this(username, password, null);
    }

    /** Creates credentials that consist of an identity token alone. */
    public static Credentials identityToken(String token) {
        return new Credentials(CredentialHelper.IDENTITY_TOKEN_USER, "", token);
    }

    /** Returns whether these credentials are an identity token rather than a password. */
    public boolean hasIdentityToken() {
        return identityToken != null;
    }

    /** Returns the value of an HTTP {@code Authorization: Basic} header. */
    String basicAuthorization() {
        String pair = username + ":" + password;
        return "Basic " + java.util.Base64.getEncoder()
                .encodeToString(pair.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    @Override
    public String toString() {
        return "Credentials[username=" + username + ", password=(hidden)"
                + (identityToken == null ? "" : ", identityToken=(hidden)") + "]";
    }
}
