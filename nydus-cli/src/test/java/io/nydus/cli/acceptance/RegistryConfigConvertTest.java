package io.nydus.cli.acceptance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
