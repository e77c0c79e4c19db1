package io.nydus.registry;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/** Builds the TLS contexts of the {@link TransportMode}s. */
final class TlsContexts {

    private TlsContexts() {
    }

    /** Returns the context that trusts the system store plus the certificates in {@code caFile}. */
    static SSLContext trusting(Path caFile) throws IOException {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int index = 0;
            for (X509Certificate issuer : systemTrustManager().getAcceptedIssuers()) {
                store.setCertificateEntry("system-" + index++, issuer);
            }
            for (Certificate certificate : readCertificates(caFile)) {
                store.setCertificateEntry("extra-" + index++, certificate);
            }
            TrustManagerFactory factory =
                    TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            return newContext(factory.getTrustManagers());
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot build a trust store with CA file " + caFile + ": "
                    + e.getMessage(), e);
        }
    }

    /** Returns the context of the system trust store. */
    static SSLContext system() throws IOException {
        try {
            return SSLContext.getDefault();
        } catch (GeneralSecurityException e) {
            throw new IOException("no default TLS context: " + e.getMessage(), e);
        }
    }

    /**
     * Returns a context that accepts every certificate and host name. It uses an extended trust
     * manager because the JDK checks host names inside such a manager only, so this one skips
     * them.
     */
    static SSLContext trustingAll() throws IOException {
        try {
            return newContext(new TrustManager[] {new TrustAll()});
        } catch (GeneralSecurityException e) {
            throw new IOException("no TLS context: " + e.getMessage(), e);
        }
    }

    private static Collection<? extends Certificate> readCertificates(Path caFile)
            throws IOException, GeneralSecurityException {
        try (InputStream in = Files.newInputStream(caFile)) {
            Collection<? extends Certificate> certificates =
                    CertificateFactory.getInstance("X.509").generateCertificates(in);
            if (certificates.isEmpty()) {
                throw new IOException("CA file " + caFile + " contains no certificate");
            }
            return certificates;
        }
    }

    private static X509TrustManager systemTrustManager() throws GeneralSecurityException {
        TrustManagerFactory factory =
                TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        for (TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509TrustManager x509) {
                return x509;
            }
        }
        throw new GeneralSecurityException("the default trust manager factory has no X.509"
                + " trust manager");
    }

    private static SSLContext newContext(TrustManager[] managers)
            throws GeneralSecurityException {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, managers, null);
        return context;
    }

    private static final class TrustAll extends X509ExtendedTrustManager {

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket s) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket s) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine e) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine e) {
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
