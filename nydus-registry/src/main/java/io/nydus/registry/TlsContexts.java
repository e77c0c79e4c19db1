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
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Builds the TLS contexts of the {@link TransportMode}s. */
final class TlsContexts {

    private TlsContexts() {
    }

    /**
     * The variable that names a PEM file of CA certificates, which Go programs such as
     * upstream's nydusify trust in place of the system bundle.
     */
    static final String CERT_FILE_VARIABLE = "SSL_CERT_FILE";
    /** The variable with a colon-separated list of directories of PEM CA certificates. */
    static final String CERT_DIR_VARIABLE = "SSL_CERT_DIR";

    private static final Logger LOG = LoggerFactory.getLogger(TlsContexts.class);
    private static final Map<List<String>, SSLContext> ENVIRONMENT_CONTEXTS =
            new ConcurrentHashMap<>();

    /** Returns the context that trusts the system store plus the certificates in {@code caFile}. */
    static SSLContext trusting(Path caFile) throws IOException {
        return trusting(caFile, List.of());
    }

    /** Returns the context that trusts the system store, {@code caFile} and {@code extra}. */
    static SSLContext trusting(Path caFile, List<Certificate> extra) throws IOException {
        try {
            List<Certificate> all = new ArrayList<>(readCertificates(caFile));
            all.addAll(extra);
            return trusting(all);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot build a trust store with CA file " + caFile + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * Returns the context that trusts the system store plus the CA certificates that
     * {@value #CERT_FILE_VARIABLE} and {@value #CERT_DIR_VARIABLE} of {@code environment}
     * name. It is made once per pair of values in a process, because reading a directory such
     * as {@code /etc/ssl/certs} took 0.3 to 0.4 s here, and nydusd makes a client for
     * each image it mounts.
     *
     * @throws IOException naming the variable and the file if the file of
     *     {@value #CERT_FILE_VARIABLE} cannot be read or contains no certificate
     */
    static SSLContext environment(Map<String, String> environment) throws IOException {
        List<String> key = variables(environment);
        SSLContext known = ENVIRONMENT_CONTEXTS.get(key);
        if (known != null) {
            return known;
        }
        List<Certificate> extra = environmentCertificates(environment);
        SSLContext context = extra.isEmpty() ? system() : trusting(extra);
        ENVIRONMENT_CONTEXTS.putIfAbsent(key, context);
        return context;
    }

    /**
     * Returns the CA certificates that {@value #CERT_FILE_VARIABLE} and
     * {@value #CERT_DIR_VARIABLE} of {@code environment} name, each once. Files in the
     * directories that hold no certificate are skipped, as a directory such as
     * {@code /etc/ssl/certs} contains other files too, and a file that several links name is read
     * once.
     *
     * @throws IOException naming the variable and the file if the file of
     *     {@value #CERT_FILE_VARIABLE} cannot be read or contains no certificate
     */
    static List<Certificate> environmentCertificates(Map<String, String> environment)
            throws IOException {
        Set<Certificate> certificates = new LinkedHashSet<>();
        String file = variables(environment).get(0);
        if (!file.isEmpty()) {
            try {
                certificates.addAll(readCertificates(Path.of(file)));
            } catch (IOException | GeneralSecurityException e) {
                throw new IOException(CERT_FILE_VARIABLE + " names " + file + ", which is not"
                        + " a readable PEM file of CA certificates: " + e.getMessage()
                        + "; fix or unset the variable", e);
            }
        }
        Set<Path> read = new HashSet<>();
        for (String directory : variables(environment).get(1).split(":")) {
            if (!directory.isEmpty()) {
                certificates.addAll(directoryCertificates(Path.of(directory), read));
            }
        }
        return List.copyOf(certificates);
    }

    private static List<String> variables(Map<String, String> environment) {
        return List.of(environment.getOrDefault(CERT_FILE_VARIABLE, ""),
                environment.getOrDefault(CERT_DIR_VARIABLE, ""));
    }

    /** Reads the certificates of the files in {@code directory} not yet in {@code read}. */
    private static List<Certificate> directoryCertificates(Path directory, Set<Path> read)
            throws IOException {
        if (!Files.isDirectory(directory)) {
            LOG.debug("{} lists {}, which is not a directory", CERT_DIR_VARIABLE, directory);
            return List.of();
        }
        List<Certificate> certificates = new ArrayList<>();
        try (Stream<Path> files = Files.list(directory)) {
            for (Path file : files.sorted().filter(Files::isRegularFile).toList()) {
                if (!read.add(file.toRealPath())) {
                    continue;
                }
                try {
                    certificates.addAll(readCertificates(file));
                } catch (IOException | GeneralSecurityException e) {
                    LOG.debug("{}: skipped {}, which contains no CA certificate: {}",
                            CERT_DIR_VARIABLE, file, e.toString());
                }
            }
        }
        return certificates;
    }

    /** Returns the context that trusts the system store plus {@code extra}. */
    static SSLContext trusting(List<Certificate> extra) throws IOException {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int index = 0;
            for (X509Certificate issuer : systemTrustManager().getAcceptedIssuers()) {
                store.setCertificateEntry("system-" + index++, issuer);
            }
            for (Certificate certificate : extra) {
                store.setCertificateEntry("extra-" + index++, certificate);
            }
            TrustManagerFactory factory =
                    TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            return newContext(factory.getTrustManagers());
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot build a trust store with " + extra.size()
                    + " extra CA certificates: " + e.getMessage(), e);
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
