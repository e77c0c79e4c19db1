package io.nydus.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The client against a real registry serving HTTPS with a certificate of a test CA. */
class TlsRegistryTest {

    private static TempDir dir;
    private static RegistryServer registry;
    private static Path caFile;
    private static Digest digest;
    private static byte[] data;

    @BeforeAll
    static void startRegistry() throws Exception {
        dir = TempDirs.create("registry-tls");
        caFile = dir.resolve("ca.pem");
        Path serverKey = dir.resolve("server.key");
        Path serverCert = dir.resolve("server.pem");
        TestCertificates.make(dir.path(), caFile, serverKey, serverCert);
        registry = RegistryServer.start(dir, """
                  tls:
                    certificate: %s
                    key: %s
                """.formatted(serverCert, serverKey), "");
        data = TestBlobs.random(70_000, 41);
        digest = Digest.of(data);
        try (RegistryClient client = clientTrusting(caFile)) {
            client.pushBlob(registry.repository("tls"), digest, data.length,
                    BlobSource.of(data));
        }
    }

    @AfterAll
    static void stopRegistry() throws Exception {
        if (registry != null) {
            registry.close();
        }
        if (dir != null) {
            dir.close();
        }
    }

    private static RegistryClient clientTrusting(Path ca) throws IOException {
        return RegistryClient.builder().caCertificateFile(ca).retryPolicy(RetryPolicy.NONE)
                .build();
    }

    private static byte[] pull(RegistryClient client) throws IOException {
        try (InputStream in = client.getBlob(registry.repository("tls"), digest)) {
            return in.readAllBytes();
        }
    }

    @Test
    void trustedWithCaFile() throws Exception {
        try (RegistryClient client = clientTrusting(caFile)) {
            assertArrayEquals(data, pull(client));
        }
    }

    @Test
    void rejectedWithoutCaFile() throws Exception {
        try (RegistryClient client = RegistryClient.builder().retryPolicy(RetryPolicy.NONE)
                .build()) {
            RegistryException e = assertThrows(RegistryException.class, () -> pull(client));

            assertTrue(e.getCause() instanceof SSLException, String.valueOf(e.getCause()));
            assertTrue(e.getMessage().contains(registry.address() + "/tls"), e.getMessage());
            assertTrue(e.getMessage().contains("SSL_CERT_FILE"), e.getMessage());
        }
    }

    @Test
    void acceptedInInsecureMode() throws Exception {
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.INSECURE).retryPolicy(RetryPolicy.NONE).build()) {
            assertArrayEquals(data, pull(client));
        }
    }

    @Test
    void caFileWithoutCertificateIsRejected() throws Exception {
        Path empty = dir.resolve("empty.pem");
        Files.writeString(empty, "");

        IOException e = assertThrows(IOException.class, () -> clientTrusting(empty));

        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
    }

    @Test
    void environmentContextIsMadeOncePerValues() throws Exception {
        Map<String, String> environment = Map.of(TlsContexts.CERT_FILE_VARIABLE,
                caFile.toString());

        SSLContext first = TlsContexts.environment(environment);

        assertSame(first, TlsContexts.environment(Map.of(TlsContexts.CERT_FILE_VARIABLE,
                caFile.toString())));
    }

    @Test
    void linkedCertificateFileIsReadOnce() throws Exception {
        Path certs = Files.createDirectories(dir.resolve("certs"));
        Files.copy(caFile, certs.resolve("ca.pem"));
        Files.createSymbolicLink(certs.resolve("0a1b2c3d.0"), certs.resolve("ca.pem"));
        Map<String, String> environment = Map.of(TlsContexts.CERT_FILE_VARIABLE,
                caFile.toString(), TlsContexts.CERT_DIR_VARIABLE, certs.toString());

        assertEquals(1, TlsContexts.environmentCertificates(environment).size());
    }
}
