package io.nydus.registry;

import io.nydus.testkit.Commands;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/** A certificate authority and a server certificate for 127.0.0.1, made with openssl. */
public final class TestCertificates {

    private static final Duration OPENSSL_TIMEOUT = Duration.ofSeconds(60);
    private static final char[] KEY_STORE_PASSWORD = "key-store".toCharArray();

    private TestCertificates() {
    }

    /**
     * Writes a test CA certificate to {@code caFile}, and a key and certificate for the
     * server 127.0.0.1 that the CA signed, all valid for two days.
     */
    public static void make(Path dir, Path caFile, Path serverKey, Path serverCert)
            throws IOException {
        Path caKey = dir.resolve("ca.key");
        Path request = dir.resolve("server.csr");
        Path extensions = dir.resolve("server.ext");
        Commands.run(List.of("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", caKey.toString(), "-out", caFile.toString(), "-days", "2",
                "-subj", "/CN=nydus test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign"), OPENSSL_TIMEOUT);
        Commands.run(List.of("openssl", "req", "-newkey", "rsa:2048", "-nodes",
                "-keyout", serverKey.toString(), "-out", request.toString(),
                "-subj", "/CN=127.0.0.1"), OPENSSL_TIMEOUT);
        Files.writeString(extensions,
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        Commands.run(List.of("openssl", "x509", "-req", "-in", request.toString(),
                "-CA", caFile.toString(), "-CAkey", caKey.toString(), "-CAcreateserial",
                "-out", serverCert.toString(), "-days", "2",
                "-extfile", extensions.toString()), OPENSSL_TIMEOUT);
    }

    /**
     * Returns a server context with {@code certificate} and its {@code key}, such as those of
     * {@link #make}, for an HTTPS server on 127.0.0.1. It writes a PKCS #12 key store in
     * {@code dir}.
     */
    public static SSLContext serverContext(Path dir, Path key, Path certificate)
            throws IOException, GeneralSecurityException {
        Path keyStoreFile = dir.resolve("server.p12");
        Commands.run(List.of("openssl", "pkcs12", "-export", "-in", certificate.toString(),
                "-inkey", key.toString(), "-out", keyStoreFile.toString(), "-passout",
                "pass:" + new String(KEY_STORE_PASSWORD)), OPENSSL_TIMEOUT);
        KeyStore keyStore = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keyStoreFile)) {
            keyStore.load(in, KEY_STORE_PASSWORD);
        }
        KeyManagerFactory keys = KeyManagerFactory.getInstance(
                KeyManagerFactory.getDefaultAlgorithm());
        keys.init(keyStore, KEY_STORE_PASSWORD);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keys.getKeyManagers(), null, null);
        return context;
    }
}
