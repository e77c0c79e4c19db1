package io.nydus.snapshotter;

import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.ImageReference;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registry credentials of images, from (in this order) the pull-secret labels of a
 * snapshot, the credentials remembered from CRI pull requests, and the sources nydusify reads:
 * the {@code NYDUS_REGISTRY_*} environment variables and the Docker config file.
 */
public final class CredentialStore {
    private static final Logger LOG = LoggerFactory.getLogger(CredentialStore.class);

    private final CredentialProvider fallback;
    /** CRI pull credentials by image reference as given, and by registry host. */
    private final Map<String, Credentials> byImage = new ConcurrentHashMap<>();
    private final Map<String, Credentials> byRegistry = new ConcurrentHashMap<>();

    public CredentialStore(CredentialProvider fallback) {
        this.fallback = fallback;
    }

    /**
     * The user name under which a registry (bearer) token is kept as password. nydusd sends
     * such a token as {@code registry_token} instead of Basic credentials.
     */
    static final String BEARER_TOKEN_USER = "<registry-token>";

    /**
     * Remembers the credentials of a CRI pull of {@code image}. An {@code auth} field is
     * base64 of "user:password" and is split. A registry token is kept for nydusd's
     * {@code registry_token}.
     */
    public void rememberCriAuth(String image, String username, String password, String auth,
            String registryToken, String identityToken) {
        if (!identityToken.isEmpty() && username.isEmpty() && auth.isEmpty()) {
            // TODO: exchange OAuth identity (refresh) tokens for bearer tokens; nydusd's
            // registry backend takes only user:password or a bearer token.
            LOG.warn("ignoring the CRI identity token of {}: identity tokens are not supported",
                    image);
        }
        Optional<Credentials> credentials = criCredentials(username, password, auth,
                registryToken);
        if (credentials.isEmpty()) {
            return;
        }
        ImageReference reference;
        try {
            reference = ImageReference.parse(image);
        } catch (IllegalArgumentException e) {
            LOG.debug("not remembering the credentials of invalid image '{}': {}", image,
                    e.getMessage());
            return;
        }
        byImage.put(reference.toString(), credentials.get());
        byRegistry.put(reference.registry(), credentials.get());
        LOG.info("remembered the CRI credentials of user {} for {}",
                credentials.get().username(), reference);
    }

    private static Optional<Credentials> criCredentials(String username, String password,
            String auth, String registryToken) {
        if (!username.isEmpty()) {
            return Optional.of(new Credentials(username, password));
        }
        if (!auth.isEmpty()) {
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(auth), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                LOG.warn("ignoring a CRI auth that is not valid base64");
                return Optional.empty();
            }
            int colon = decoded.indexOf(':');
            if (colon <= 0) {
                LOG.warn("ignoring a CRI auth that is not user:password");
                return Optional.empty();
            }
            return Optional.of(new Credentials(decoded.substring(0, colon),
                    decoded.substring(colon + 1)));
        }
        if (!registryToken.isEmpty()) {
            return Optional.of(new Credentials(BEARER_TOKEN_USER, registryToken));
        }
        return Optional.empty();
    }

    /** Returns the credentials to pull {@code reference}, given the snapshot's labels. */
    public Optional<Credentials> lookup(ImageReference reference, Map<String, String> labels) {
        String user = labels.get(SnapshotLabels.PULL_USERNAME);
        String secret = labels.get(SnapshotLabels.PULL_SECRET);
        if (user != null && !user.isEmpty() && secret != null) {
            return Optional.of(new Credentials(user, secret));
        }
        Credentials remembered = byImage.get(reference.toString());
        if (remembered == null) {
            remembered = byRegistry.get(reference.registry());
        }
        if (remembered != null) {
            return Optional.of(remembered);
        }
        // nydusd's auth contains a password, so an identity token of the Docker config is left
        // out.
        return fallback.credentialsFor(reference.registry())
                .filter(found -> !found.hasIdentityToken());
    }

    /** Returns {@code base64(user:password)}, the form of nydusd's registry {@code auth}. */
    static String basicAuth(Credentials credentials) {
        String pair = credentials.username() + ":" + credentials.password();
        return Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8));
    }
}
