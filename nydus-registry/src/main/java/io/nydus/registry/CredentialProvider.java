package io.nydus.registry;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Finds the credentials to use for a registry. */
@FunctionalInterface
public interface CredentialProvider {

    /** The environment variable with the user name that {@link #environment} reads. */
    String USERNAME_VARIABLE = "NYDUS_REGISTRY_USERNAME";
    /** The environment variable with the password that {@link #environment} reads. */
    String PASSWORD_VARIABLE = "NYDUS_REGISTRY_PASSWORD";

    /**
     * Returns the credentials for {@code registry} (a host with an optional port, such as
     * {@code docker.io} or {@code 127.0.0.1:5000}), or empty for anonymous access.
     */
    Optional<Credentials> credentialsFor(String registry);

    /** Returns a provider with no credentials: every request is anonymous. */
    static CredentialProvider anonymous() {
        return registry -> Optional.empty();
    }

    /** Returns a provider with fixed credentials per registry host. */
    static CredentialProvider of(Map<String, Credentials> byRegistry) {
        Map<String, Credentials> copy = Map.copyOf(byRegistry);
        return registry -> Optional.ofNullable(copy.get(registry));
    }

    /**
     * Returns a provider with the credentials in {@value #USERNAME_VARIABLE} and
     * {@value #PASSWORD_VARIABLE} of {@code environment}. It returns them for every registry,
     * and nothing if the user name is unset.
     */
    static CredentialProvider environment(Map<String, String> environment) {
        String username = environment.get(USERNAME_VARIABLE);
        if (username == null || username.isEmpty()) {
            return anonymous();
        }
        Credentials credentials =
                new Credentials(username, environment.getOrDefault(PASSWORD_VARIABLE, ""));
        return registry -> Optional.of(credentials);
    }

    /**
     * Returns the usual chain: the environment variables, then the Docker config file of
     * {@link DockerConfigCredentials#defaultFile}.
     *
     * @throws IOException if the Docker config file exists but cannot be read or parsed
     */
    static CredentialProvider defaults(Map<String, String> environment) throws IOException {
        return firstOf(List.of(environment(environment),
                DockerConfigCredentials.load(DockerConfigCredentials.defaultFile(environment),
                        environment)));
    }

    /** Returns a provider that queries each of {@code providers} in turn. */
    static CredentialProvider firstOf(List<CredentialProvider> providers) {
        List<CredentialProvider> copy = List.copyOf(providers);
        return registry -> {
            for (CredentialProvider provider : copy) {
                Optional<Credentials> found = provider.credentialsFor(registry);
                if (found.isPresent()) {
                    return found;
                }
            }
            return Optional.empty();
        };
    }
}
