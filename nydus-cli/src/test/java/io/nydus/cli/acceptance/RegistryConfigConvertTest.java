package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.ForwardingProxy;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TestCertificates;
import io.nydus.registry.TokenService;
import io.nydus.testkit.Commands;
import io.nydus.testkit.RealImages;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code nydusify convert} of the real Debian image against the four registry setups users
 * run: plain HTTP without authentication, htpasswd (Basic), bearer tokens from a token service,
 * and HTTPS with a certificate of a test CA.
 */
class RegistryConfigConvertTest {

    private static final String USER = "convert-user";
    private static final String PASSWORD = "S3cret-pa55-word";
    private static final Duration TOOL_TIMEOUT = Duration.ofMinutes(2);

    private static RealImages images;
    private static TempDir temp;

    @BeforeAll
    static void buildImages() throws Exception {
        images = RealImages.get();
        temp = TempDirs.create("registry-config-");
    }

    @AfterAll
    static void removeTemp() throws Exception {
        if (temp != null) {
            temp.close();
        }
    }

    private static String[] convertArgs(RegistryServer registry, String repository,
            String... options) {
        List<String> args = new java.util.ArrayList<>(List.of("convert", "--source",
                registry.address() + "/" + repository + ":v1", "--target",
                registry.address() + "/" + repository + ":v1-nydus", "--work-dir",
                temp.resolve("work").toString()));
        args.addAll(List.of(options));
        return args.toArray(String[]::new);
    }

    @Test
    void plainHttpWithoutAuth() throws Exception {
        try (TempDir dir = TempDirs.create("plain-");
                RegistryServer registry = RegistryServer.start(dir)) {
            images.push(RealImages.DEBIAN, "docker://" + registry.address() + "/plain:v1",
                    "--dest-tls-verify=false");

            NydusifyProcess.Result result = new NydusifyProcess(dir.path())
                    .run(convertArgs(registry, "plain", "--plain-http"));

            assertEquals(0, result.exit(), result.output());
        }
    }

    @Test
    void basicAuthWithPassword() throws Exception {
        try (TempDir dir = TempDirs.create("basic-");
                RegistryServer registry = RegistryServer.start(dir, "", htpasswdAuth(dir))) {
            images.push(RealImages.DEBIAN, "docker://" + registry.address() + "/basic:v1",
                    "--dest-tls-verify=false", "--dest-creds", USER + ":" + PASSWORD);

            NydusifyProcess.Result result = withCredentials(new NydusifyProcess(dir.path()))
                    .run(convertArgs(registry, "basic", "--plain-http", "--log-level", "debug"));

            assertEquals(0, result.exit(), result.output());
            assertFalse(result.output().contains(PASSWORD), result.output());
        }
    }

    @Test
    void bearerTokensRefreshedDuringConvert() throws Exception {
        try (TempDir dir = TempDirs.create("token-");
                TokenService tokens = TokenService.start(dir.path(), USER, PASSWORD);
                RegistryServer registry = RegistryServer.start(dir, "", tokens.authSection())) {
            images.push(RealImages.DEBIAN, "docker://" + registry.address() + "/token:v1",
                    "--dest-tls-verify=false", "--dest-creds", USER + ":" + PASSWORD);
            // A token lives one second, so the client fetches a new one for each scope about
            // every 0.9 s. Converting the 200 MB Debian image takes several seconds.
            tokens.expiresIn(1);
            int before = tokens.scopes().size();

            NydusifyProcess.Result result = withCredentials(new NydusifyProcess(dir.path()))
                    .run(convertArgs(registry, "token", "--plain-http", "--log-level", "debug"));

            assertEquals(0, result.exit(), result.output());
            List<String> scopes = tokens.scopes();
            List<String> convertScopes = scopes.subList(before, scopes.size());
            assertTrue(convertScopes.size() > new HashSet<>(convertScopes).size(),
                    "no scope was fetched twice: " + convertScopes);
            assertFalse(result.output().contains(PASSWORD), result.output());
            assertFalse(result.output().contains("Bearer ey"), result.output());
        }
    }

    @Test
    void httpsWithTestCa() throws Exception {
        try (TempDir dir = TempDirs.create("tls-")) {
            Path ca = dir.resolve("ca.pem");
            Path key = dir.resolve("server.key");
            Path certificate = dir.resolve("server.pem");
            TestCertificates.make(dir.path(), ca, key, certificate);
            try (RegistryServer registry = RegistryServer.start(dir, """
                      tls:
                        certificate: %s
                        key: %s
                    """.formatted(certificate, key), "")) {
                images.push(RealImages.DEBIAN, "docker://" + registry.address() + "/tls:v1",
                        "--dest-tls-verify=false");
                assertTlsCases(dir, registry, trustStore(dir, ca));
            }
        }
    }

    @Test
    void credentialHelperSuppliesPassword() throws Exception {
        try (TempDir dir = TempDirs.create("helper-");
                RegistryServer registry = RegistryServer.start(dir, "", htpasswdAuth(dir))) {
            pushTiny(registry, "helper");
            Path requests = dir.resolve("helper-requests.txt");
            Path helpers = credentialHelper(dir, "tester", """
                    read -r server
                    echo "$1 $server" >> %s
                    if [ "$server" = "%s" ]; then
                      printf '{"ServerURL":"%%s","Username":"%s","Secret":"%s"}' "$server"
                    else
                      echo "credentials not found in native keychain"; exit 1
                    fi
                    """.formatted(requests, registry.address(), USER, PASSWORD));
            writeDockerConfig(dir, """
                    {"credHelpers": {"%s": "tester"}}
                    """.formatted(registry.address()));

            NydusifyProcess.Result result = withHelperPath(new NydusifyProcess(dir.path()),
                    helpers).run(convertArgs(registry, "helper", "--plain-http", "--platform",
                            "linux/arm64", "--log-level", "debug"));

            assertEquals(0, result.exit(), result.output());
            assertEquals(List.of("get " + registry.address()),
                    Files.readAllLines(requests).stream().distinct().toList());
            assertFalse(result.output().contains(PASSWORD), result.output());
        }
    }

    @Test
    void credsStoreWithoutEntryFallsBackToAuths() throws Exception {
        try (TempDir dir = TempDirs.create("store-");
                RegistryServer registry = RegistryServer.start(dir, "", htpasswdAuth(dir))) {
            pushTiny(registry, "store");
            Path helpers = credentialHelper(dir, "empty", """
                    echo "credentials not found in native keychain"; exit 1
                    """);
            String auth = java.util.Base64.getEncoder().encodeToString(
                    (USER + ":" + PASSWORD).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            writeDockerConfig(dir, """
                    {"credsStore": "empty", "auths": {"%s": {"auth": "%s"}}}
                    """.formatted(registry.address(), auth));

            NydusifyProcess.Result result = withHelperPath(new NydusifyProcess(dir.path()),
                    helpers).run(convertArgs(registry, "store", "--plain-http", "--platform",
                            "linux/arm64"));

            assertEquals(0, result.exit(), result.output());
        }
    }

    @Test
    void missingCredentialHelperIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("no-helper-");
                RegistryServer registry = RegistryServer.start(dir, "", htpasswdAuth(dir))) {
            pushTiny(registry, "nohelper");
            writeDockerConfig(dir, "{\"credsStore\": \"absent\"}");

            NydusifyProcess.Result result = withHelperPath(new NydusifyProcess(dir.path()),
                    dir.resolve("no-such-dir")).run(convertArgs(registry, "nohelper",
                            "--plain-http", "--platform", "linux/arm64"));

            assertEquals(1, result.exit(), result.output());
            assertTrue(result.stderr().contains("docker-credential-absent"), result.output());
            assertTrue(result.stderr().contains(registry.address()), result.output());
        }
    }

    @Test
    void failingCredentialHelperIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("bad-helper-");
                RegistryServer registry = RegistryServer.start(dir, "", htpasswdAuth(dir))) {
            pushTiny(registry, "badhelper");
            Path helpers = credentialHelper(dir, "locked", """
                    echo "the keychain is locked"; exit 3
                    """);
            writeDockerConfig(dir, """
                    {"credHelpers": {"%s": "locked"}}
                    """.formatted(registry.address()));

            NydusifyProcess.Result result = withHelperPath(new NydusifyProcess(dir.path()),
                    helpers).run(convertArgs(registry, "badhelper", "--plain-http",
                            "--platform", "linux/arm64"));

            assertEquals(1, result.exit(), result.output());
            assertTrue(result.stderr().contains("docker-credential-locked failed for "
                    + registry.address() + " with exit code 3: the keychain is locked"),
                    result.output());
        }
    }

    @Test
    void identityTokenFetchesBearerTokens() throws Exception {
        String identityToken = "identity-Token-4f2a";
        try (TempDir dir = TempDirs.create("identity-");
                TokenService tokens = TokenService.start(dir.path(), USER, PASSWORD);
                RegistryServer registry = RegistryServer.start(dir, "", tokens.authSection())) {
            images.push(RealImages.ARM64, "docker://" + registry.address() + "/identity:v1",
                    "--dest-tls-verify=false", "--dest-creds", USER + ":" + PASSWORD);
            tokens.identityToken(identityToken);
            writeDockerConfig(dir, """
                    {"auths": {"%s": {"auth": "", "identitytoken": "%s"}}}
                    """.formatted(registry.address(), identityToken));

            NydusifyProcess.Result result = new NydusifyProcess(dir.path())
                    .run(convertArgs(registry, "identity", "--plain-http", "--platform",
                            "linux/arm64", "--log-level", "debug"));

            assertEquals(0, result.exit(), result.output());
            assertTrue(tokens.refreshGrants() > 0, "no token was issued for the identity token");
            assertFalse(result.output().contains(identityToken), result.output());
        }
    }

    /**
     * Requests go through the proxy of HTTP_PROXY, except to hosts in NO_PROXY. The registry
     * is named "vm", a name of this machine's /etc/hosts for 127.0.0.1, because requests to
     * loopback addresses and "localhost" are never proxied.
     */
    @Test
    void httpProxyFromEnvironmentIsUsed() throws Exception {
        try (TempDir dir = TempDirs.create("proxy-env-");
                RegistryServer registry = RegistryServer.start(dir);
                ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            pushTiny(registry, "proxied");
            String named = "vm:" + registry.port();
            String[] args = {"convert", "--plain-http", "--platform", "linux/arm64",
                "--source", named + "/proxied:v1", "--target", named + "/proxied:v1-nydus",
                "--work-dir", temp.resolve("work").toString()};

            NydusifyProcess.Result proxied = new NydusifyProcess(dir.path())
                    .env("HTTP_PROXY", "http://" + proxy.address()).run(args);
            int proxiedRequests = proxy.requests().size();
            NydusifyProcess.Result excluded = new NydusifyProcess(dir.path())
                    .env("HTTP_PROXY", "http://" + proxy.address())
                    .env("NO_PROXY", "example.com,vm").run(args);

            assertEquals(0, proxied.exit(), proxied.output());
            assertTrue(proxiedRequests > 0, "no request went through the proxy");
            assertEquals(0, excluded.exit(), excluded.output());
            assertEquals(proxiedRequests, proxy.requests().size(), proxy.requests().toString());
        }
    }

    @Test
    void proxyLoginFromEnvironmentIsSent() throws Exception {
        String proxyPassword = "Proxy-Pa55";
        try (TempDir dir = TempDirs.create("proxy-login-");
                RegistryServer registry = RegistryServer.start(dir, "", htpasswdAuth(dir));
                ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            pushTiny(registry, "login");
            proxy.requireProxyLogin("proxy-user", proxyPassword);
            String named = "vm:" + registry.port();

            NydusifyProcess.Result result = withCredentials(new NydusifyProcess(dir.path()))
                    .env("HTTP_PROXY", "http://proxy-user:" + proxyPassword + "@"
                            + proxy.address())
                    .run("convert", "--plain-http", "--platform", "linux/arm64", "--source",
                            named + "/login:v1", "--target", named + "/login:v1-nydus",
                            "--work-dir", temp.resolve("work").toString());

            NydusifyProcess.Result rejected = withCredentials(new NydusifyProcess(dir.path()))
                    .env("HTTP_PROXY", "http://proxy-user:Wrong-Pa55@" + proxy.address())
                    .run("convert", "--plain-http", "--platform", "linux/arm64", "--source",
                            named + "/login:v1", "--target", named + "/login:v1-nydus2",
                            "--work-dir", temp.resolve("work").toString());

            assertEquals(0, result.exit(), result.output());
            assertFalse(proxy.requests().isEmpty(), "no request went through the proxy");
            assertFalse(result.output().contains(proxyPassword), result.output());
            assertFalse(result.output().contains(PASSWORD), result.output());
            assertEquals(1, rejected.exit(), rejected.output());
            assertTrue(rejected.stderr().contains("407"), rejected.output());
            assertFalse(rejected.output().contains("Wrong-Pa55"), rejected.output());
        }
    }

    @Test
    void invalidProxyVariableIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("proxy-bad-");
                RegistryServer registry = RegistryServer.start(dir)) {
            NydusifyProcess.Result result = new NydusifyProcess(dir.path())
                    .env("HTTPS_PROXY", "socks5://127.0.0.1:1080")
                    .run(convertArgs(registry, "proxybad", "--plain-http"));

            assertEquals(1, result.exit(), result.output());
            assertTrue(result.stderr().contains("HTTPS_PROXY"), result.output());
        }
    }

    @Test
    void rejectedCredentialsAreDescribed() throws Exception {
        try (TempDir dir = TempDirs.create("rejected-");
                RegistryServer registry = RegistryServer.start(dir, "", htpasswdAuth(dir))) {
            pushTiny(registry, "rejected");

            NydusifyProcess.Result none = new NydusifyProcess(dir.path())
                    .run(convertArgs(registry, "rejected", "--plain-http"));
            NydusifyProcess.Result wrong = new NydusifyProcess(dir.path())
                    .env("NYDUS_REGISTRY_USERNAME", USER)
                    .env("NYDUS_REGISTRY_PASSWORD", "Wrong-pa55")
                    .run(convertArgs(registry, "rejected", "--plain-http"));

            assertEquals(1, none.exit(), none.output());
            assertTrue(none.stderr().contains("no credentials for " + registry.address()),
                    none.output());
            assertTrue(none.stderr().contains(dir.resolve("docker-config").toString()),
                    none.output());
            assertEquals(1, wrong.exit(), wrong.output());
            assertTrue(wrong.stderr().contains("user '" + USER + "'"), wrong.output());
            assertFalse(wrong.output().contains("Wrong-pa55"), wrong.output());
        }
    }

    private void pushTiny(RegistryServer registry, String repository) throws Exception {
        images.push(RealImages.ARM64, "docker://" + registry.address() + "/" + repository
                + ":v1", "--dest-tls-verify=false", "--dest-creds", USER + ":" + PASSWORD);
    }

    /** Writes {@code docker-credential-NAME} with {@code body} into a new directory. */
    private static Path credentialHelper(TempDir dir, String name, String body)
            throws Exception {
        Path helpers = Files.createDirectories(dir.resolve("helpers"));
        Path program = helpers.resolve("docker-credential-" + name);
        Files.writeString(program, "#!/bin/sh\n" + body);
        Files.setPosixFilePermissions(program,
                java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        return helpers;
    }

    /** Writes the Docker config file that {@link NydusifyProcess} points the command to. */
    private static void writeDockerConfig(TempDir dir, String json) throws Exception {
        Path config = Files.createDirectories(dir.resolve("docker-config"));
        Files.writeString(config.resolve("config.json"), json);
    }

    private static NydusifyProcess withHelperPath(NydusifyProcess process, Path helpers) {
        return process.env("PATH", helpers + ":" + System.getenv("PATH"));
    }

    @Test
    void httpsTrustsCaFromSslCertVariables() throws Exception {
        try (TempDir dir = TempDirs.create("tls-env-")) {
            Path caDir = Files.createDirectories(dir.resolve("ca-dir"));
            Path ca = caDir.resolve("ca.pem");
            Path key = dir.resolve("server.key");
            Path certificate = dir.resolve("server.pem");
            TestCertificates.make(dir.path(), ca, key, certificate);
            Files.writeString(caDir.resolve("README"), "not a certificate\n");
            try (RegistryServer registry = RegistryServer.start(dir, """
                      tls:
                        certificate: %s
                        key: %s
                    """.formatted(certificate, key), "")) {
                pushTiny(registry, "tlsenv");

                NydusifyProcess.Result untrusted = new NydusifyProcess(dir.path())
                        .run(convertArgs(registry, "tlsenv", "--platform", "linux/arm64"));
                NydusifyProcess.Result byFile = new NydusifyProcess(dir.path())
                        .env("SSL_CERT_FILE", ca.toString())
                        .run(convertArgs(registry, "tlsenv", "--platform", "linux/arm64"));
                NydusifyProcess.Result byDirectory = new NydusifyProcess(dir.path())
                        .env("SSL_CERT_DIR", dir.resolve("empty") + ":" + caDir)
                        .run(convertArgs(registry, "tlsenv", "--platform", "linux/arm64"));

                assertEquals(1, untrusted.exit(), untrusted.output());
                assertTrue(untrusted.stderr().contains("SSL_CERT_FILE"), untrusted.output());
                assertEquals(0, byFile.exit(), byFile.output());
                assertEquals(0, byDirectory.exit(), byDirectory.output());
            }
        }
    }

    @Test
    void unreadableSslCertFileIsNamed() throws Exception {
        try (TempDir dir = TempDirs.create("tls-env-bad-")) {
            Path notPem = dir.resolve("not-a-ca.pem");
            Files.writeString(notPem, "no certificate here\n");
            try (RegistryServer registry = RegistryServer.start(dir)) {
                NydusifyProcess.Result result = new NydusifyProcess(dir.path())
                        .env("SSL_CERT_FILE", notPem.toString())
                        .run(convertArgs(registry, "tlsbad"));

                assertEquals(1, result.exit(), result.output());
                assertTrue(result.stderr().contains("SSL_CERT_FILE"), result.output());
                assertTrue(result.stderr().contains(notPem.toString()), result.output());
            }
        }
    }

    private static void assertTlsCases(TempDir dir, RegistryServer registry, Path trustStore)
            throws Exception {
        NydusifyProcess.Result untrusted = new NydusifyProcess(dir.path())
                .run(convertArgs(registry, "tls"));
        assertEquals(1, untrusted.exit(), untrusted.output());
        assertTrue(untrusted.stderr().contains(registry.address()), untrusted.output());

        NydusifyProcess.Result trusted = new NydusifyProcess(dir.path())
                .jvmOption("-Djavax.net.ssl.trustStore=" + trustStore)
                .jvmOption("-Djavax.net.ssl.trustStorePassword=changeit")
                .run(convertArgs(registry, "tls"));
        assertEquals(0, trusted.exit(), trusted.output());

        NydusifyProcess.Result insecure = new NydusifyProcess(dir.path())
                .run(convertArgs(registry, "tls", "--source-insecure", "--target-insecure"));
        assertEquals(0, insecure.exit(), insecure.output());
    }

    /**
     * Returns a PKCS #12 trust store with the CA certificate: the JVM's default TLS context
     * reads no PEM file, and the CLI has no CA file option.
     */
    private static Path trustStore(TempDir dir, Path ca) throws Exception {
        Path store = dir.resolve("truststore.p12");
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        Commands.run(List.of(keytool.toString(), "-importcert", "-noprompt", "-alias", "test-ca",
                "-file", ca.toString(), "-keystore", store.toString(), "-storetype", "PKCS12",
                "-storepass", "changeit"), TOOL_TIMEOUT);
        return store;
    }

    private static NydusifyProcess withCredentials(NydusifyProcess process) {
        return process.env("NYDUS_REGISTRY_USERNAME", USER)
                .env("NYDUS_REGISTRY_PASSWORD", PASSWORD);
    }

    private static String htpasswdAuth(TempDir dir) throws Exception {
        Path htpasswd = dir.resolve("htpasswd");
        Files.write(htpasswd, Commands.run(List.of("htpasswd", "-Bbn", USER, PASSWORD),
                TOOL_TIMEOUT).stdout());
        return """
                auth:
                  htpasswd:
                    realm: test-realm
                    path: %s
                """.formatted(htpasswd);
    }
}
