package io.nydus.registry;

import io.nydus.testkit.TempDir;
import java.io.IOException;

/**
 * A test registry on 127.0.0.1 with bearer-token authentication, for tests outside this
 * package: the registry module's token service, which checks Basic credentials and issues
 * signed tokens, and a registry that trusts it.
 */
public final class TokenRegistryFixture implements AutoCloseable {
    private final TokenService tokens;
    private final RegistryServer registry;

    private TokenRegistryFixture(TokenService tokens, RegistryServer registry) {
        this.tokens = tokens;
        this.registry = registry;
    }

    /** Starts both in {@code dir}, accepting {@code user} with {@code password}. */
    public static TokenRegistryFixture start(TempDir dir, String user, String password)
            throws Exception {
        TokenService tokens = TokenService.start(dir.path(), user, password);
        try {
            return new TokenRegistryFixture(tokens, RegistryServer.start(dir, "",
                    tokens.authSection()));
        } catch (IOException | InterruptedException | RuntimeException e) {
            tokens.close();
            throw e;
        }
    }

    public RegistryServer registry() {
        return registry;
    }

    /** Returns how many tokens the service has issued or refused. */
    public int tokenRequests() {
        return tokens.requests();
    }

    @Override
    public void close() {
        registry.close();
        tokens.close();
    }
}
