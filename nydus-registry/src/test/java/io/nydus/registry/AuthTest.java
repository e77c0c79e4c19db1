package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Challenges, tokens and credential sources, without a registry. */
class AuthTest {

    @Test
    void parsesBearerChallenge() {
        AuthChallenge challenge = AuthChallenge.parse("Bearer realm=\"https://auth.example/token\","
                + "service=\"registry.example\",scope=\"repository:a/b:pull,push\"").orElseThrow();

        assertTrue(challenge.isBearer());
        assertEquals("https://auth.example/token", challenge.parameter("realm"));
        assertEquals("registry.example", challenge.parameter("service"));
        assertEquals("repository:a/b:pull,push", challenge.parameter("scope"));
    }

    @Test
    void parsesUnquotedAndEscapedValues() {
        AuthChallenge challenge = AuthChallenge.parse("basic realm=plain, x=\"a\\\"b\"")
                .orElseThrow();

        assertTrue(challenge.isBasic());
        assertEquals("plain", challenge.parameter("realm"));
        assertEquals("a\"b", challenge.parameter("x"));
    }

    @Test
    void parsesSeveralChallengesInOneHeader() {
        List<AuthChallenge> challenges = AuthChallenge.parseAll("Basic realm=\"r, s\", "
                + "Bearer realm = \"https://t/token\" , service=reg,scope=\"repository:a:pull\"");

        assertEquals(2, challenges.size());
        assertTrue(challenges.get(0).isBasic());
        assertEquals("r, s", challenges.get(0).parameter("realm"));
        assertTrue(challenges.get(1).isBearer());
        assertEquals("https://t/token", challenges.get(1).parameter("realm"));
        assertEquals("reg", challenges.get(1).parameter("service"));
        assertEquals("repository:a:pull", challenges.get(1).parameter("scope"));
    }

    @Test
    void parsesChallengeWithoutParameters() {
        List<AuthChallenge> challenges = AuthChallenge.parseAll("Negotiate, Basic");

        assertEquals(List.of("negotiate", "basic"),
                challenges.stream().map(AuthChallenge::scheme).toList());
        assertEquals(List.of(), AuthChallenge.parseAll(" , "));
    }

    @Test
    void prefersBearerOverBasic() {
        Optional<AuthChallenge> selected = AuthChallenge.select(
                List.of("Basic realm=\"r\"", "Bearer realm=\"https://t\""));

        assertTrue(selected.orElseThrow().isBearer());
    }

    @Test
    void tokenRefreshesBeforeExpiry() {
        Instant issued = Instant.parse("2025-01-01T00:00:00Z");

        BearerToken token = BearerToken.issued("t", issued, Duration.ofSeconds(300));

        assertTrue(token.isFresh(issued.plusSeconds(289)));
        assertFalse(token.isFresh(issued.plusSeconds(290)));
        assertEquals(issued.plusSeconds(300), token.expiresAt());
    }

    @Test
    void secretsAreHiddenInToString() {
        String secret = "Very-Secret-1";

        assertFalse(new Credentials("u", secret).toString().contains(secret));
        assertFalse(BearerToken.issued(secret, Instant.EPOCH, Duration.ofSeconds(1))
                .toString().contains(secret));
    }

    @Test
    void dockerConfigAuthField() throws IOException {
        String auth = Base64.getEncoder().encodeToString(
                "user:pa:ss".getBytes(StandardCharsets.UTF_8));
        try (TempDir dir = TempDirs.create("docker-config")) {
            Path file = dir.resolve("config.json");
            Files.writeString(file, """
                    {"auths": {
                      "https://index.docker.io/v1/": {"auth": "%s"},
                      "registry.example:5000": {"username": "joe", "password": "pw"},
                      "empty.example": {}}}
                    """.formatted(auth));

            DockerConfigCredentials credentials = DockerConfigCredentials.load(file);

            assertEquals(Optional.of(new Credentials("user", "pa:ss")),
                    credentials.credentialsFor("docker.io"));
            assertEquals(Optional.of(new Credentials("joe", "pw")),
                    credentials.credentialsFor("registry.example:5000"));
            assertEquals(Optional.empty(), credentials.credentialsFor("empty.example"));
            assertFalse(credentials.toString().contains("pa:ss"));
        }
    }

    @Test
    void dockerConfigIdentityTokenWinsOverAuth() throws IOException {
        String auth = Base64.getEncoder().encodeToString(
                "00000000-0000-0000-0000-000000000000:".getBytes(StandardCharsets.UTF_8));
        try (TempDir dir = TempDirs.create("docker-config")) {
            Path file = dir.resolve("config.json");
            Files.writeString(file, """
                    {"auths": {"acr.example": {"auth": "%s", "identitytoken": "Refresh-Me-1"}}}
                    """.formatted(auth));

            Credentials found = DockerConfigCredentials.load(file).credentialsFor("acr.example")
                    .orElseThrow();

            assertEquals("Refresh-Me-1", found.identityToken());
            assertTrue(found.hasIdentityToken());
            assertFalse(found.toString().contains("Refresh-Me-1"), found.toString());
        }
    }

    @Test
    void dockerConfigHelperNotOnPathIsNamed() throws IOException {
        try (TempDir dir = TempDirs.create("docker-config")) {
            Path file = dir.resolve("config.json");
            Files.writeString(file, "{\"credsStore\": \"desktop\"}");
            DockerConfigCredentials credentials = DockerConfigCredentials.load(file,
                    Map.of("PATH", dir.resolve("bin").toString()));

            java.io.UncheckedIOException e = assertThrows(java.io.UncheckedIOException.class,
                    () -> credentials.credentialsFor("docker.io"));

            String message = e.getCause().getMessage();
            assertTrue(message.contains("docker-credential-desktop"), message);
            assertTrue(message.contains("https://index.docker.io/v1/"), message);
            assertTrue(message.contains(file.toString()), message);
        }
    }

    @Test
    void dockerConfigWithBadAuthNamesEntry() throws IOException {
        try (TempDir dir = TempDirs.create("docker-config")) {
            Path file = dir.resolve("config.json");
            Files.writeString(file, "{\"auths\": {\"r.example\": {\"auth\": \"!!not base64\"}}}");

            IOException e = assertThrows(IOException.class,
                    () -> DockerConfigCredentials.load(file));

            assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("r.example"), e.getMessage());
            assertFalse(e.getMessage().contains("!!not"), e.getMessage());
        }
    }

    @Test
    void missingDockerConfigHasNoCredentials() throws IOException {
        DockerConfigCredentials credentials =
                DockerConfigCredentials.load(Path.of("/nonexistent/nydus/config.json"));

        assertEquals(Optional.empty(), credentials.credentialsFor("docker.io"));
    }

    @Test
    void dockerConfigDirectoryFromEnvironment() {
        assertEquals(Path.of("/cfg/config.json"),
                DockerConfigCredentials.defaultFile(Map.of("DOCKER_CONFIG", "/cfg")));
    }

    @Test
    void environmentCredentialsAndChain() {
        CredentialProvider environment = CredentialProvider.environment(Map.of(
                CredentialProvider.USERNAME_VARIABLE, "env-user",
                CredentialProvider.PASSWORD_VARIABLE, "env-pass"));
        CredentialProvider explicit = CredentialProvider.of(
                Map.of("a.example", new Credentials("explicit", "p")));

        CredentialProvider chain = CredentialProvider.firstOf(List.of(explicit, environment));

        assertEquals("explicit", chain.credentialsFor("a.example").orElseThrow().username());
        assertEquals("env-user", chain.credentialsFor("b.example").orElseThrow().username());
        assertEquals(Optional.empty(),
                CredentialProvider.environment(Map.of()).credentialsFor("b.example"));
    }

    @Test
    void retryDelaysDoubleUpToMax() {
        RetryPolicy policy = new RetryPolicy(6, Duration.ofMillis(100), Duration.ofMillis(350),
                Duration.ofSeconds(10));

        assertEquals(Duration.ofMillis(100), policy.delayBefore(2));
        assertEquals(Duration.ofMillis(200), policy.delayBefore(3));
        assertEquals(Duration.ofMillis(350), policy.delayBefore(4));
        assertTrue(policy.allows(6, Duration.ZERO));
        assertFalse(policy.allows(7, Duration.ZERO));
        assertFalse(policy.allows(2, Duration.ofMillis(9950)));
    }
}
