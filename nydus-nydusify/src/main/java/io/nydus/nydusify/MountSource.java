package io.nydus.nydusify;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Credentials;
import io.nydus.registry.Descriptor;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.TransportMode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.stream.Stream;

/**
 * The inputs a daemon needs to mount a Nydus image: the bootstrap, fetched from the image's
 * bootstrap layer, and the {@code device.backend} section that reads the image's blobs where
 * they are: the registry repository, or the blob directory of an OCI image layout.
 *
 * @param bootstrap the bootstrap file written into the work directory
 * @param blobMetas the chunk tables that the bootstrap layer carries for the data blobs
 *        ({@code <blob id>.blob.meta} files in the work directory), which spare the daemon
 *        fetching them from each blob
 * @param backend the backend section of a v1 daemon configuration; it contains the
 *        registry password when there is one, so it must not be logged
 * @param blobs the image's data blobs, bootstrap layer excluded
 * @param bootstrapLayer the layer the bootstrap came from
 * @param description the image, for messages
 */
public record MountSource(Path bootstrap, List<Path> blobMetas, ObjectNode backend,
        List<Descriptor> blobs, Descriptor bootstrapLayer, String description) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Fetches the manifest of {@code location} for {@code platform} and extracts its bootstrap
     * into {@code workDir}.
     *
     * @param mode how the registry is reached, for the backend's scheme
     * @param credentials the registry credentials, handed to the backend
     * @throws IOException naming the image when it is not a Nydus image or cannot be read
     */
    public static MountSource fetch(ImageLocation location, RegistryClient client,
            TransportMode mode, CredentialProvider credentials, PlatformSpec platform,
            Path workDir) throws IOException {
        if (location.kind() == ImageLocation.Kind.ARCHIVE) {
            throw new IllegalArgumentException("cannot mount " + location + ": a daemon reads"
                    + " blobs from a registry or an OCI layout directory, so unpack the"
                    + " archive into a directory and mount oci:DIR");
        }
        Files.createDirectories(workDir);
        try (ImageStore store = ImageStores.openSource(location, client, workDir)) {
            Manifest manifest = ImageCheck.resolve(store, platform, "target");
            if (!ManifestCheck.hasBootstrap(manifest)) {
                throw new IOException("image " + store.describe() + " is not a Nydus image:"
                        + " its last layer is not a Nydus bootstrap layer");
            }
            Path bootstrap = workDir.resolve("image.boot");
            Files.deleteIfExists(bootstrap);
            Path metaDir = Files.createDirectories(workDir.resolve("blob-meta"));
            try (Stream<Path> stale = Files.list(metaDir)) {
                for (Path file : stale.toList()) {
                    Files.delete(file);
                }
            }
            ImageCheck.fetchBootstrap(store, manifest, bootstrap, metaDir);
            List<Path> blobMetas;
            try (Stream<Path> files = Files.list(metaDir)) {
                blobMetas = files.sorted().toList();
            }
            List<Descriptor> blobs = manifest.layers().subList(0, manifest.layers().size() - 1);
            return new MountSource(bootstrap, blobMetas, backend(location, mode, credentials),
                    blobs, manifest.layers().getLast(), store.describe());
        }
    }

    /**
     * Copies the bootstrap layer's chunk tables into the blob cache directory {@code cacheDir},
     * where the daemon looks for them, keeping any that is there already.
     */
    public void installBlobMetas(Path cacheDir) throws IOException {
        Files.createDirectories(cacheDir);
        for (Path meta : blobMetas) {
            BlobMetaFile.install(meta, cacheDir);
        }
    }

    private static ObjectNode backend(ImageLocation location, TransportMode mode,
            CredentialProvider credentials) {
        ObjectNode backend = JSON.createObjectNode();
        ObjectNode config = backend.putObject("config");
        if (location.kind() == ImageLocation.Kind.LAYOUT) {
            backend.put("type", "localfs");
            config.put("dir", location.path().resolve("blobs/sha256").toAbsolutePath()
                    .toString());
            return backend;
        }
        ImageReference reference = location.reference();
        backend.put("type", "registry");
        config.put("scheme", mode == TransportMode.PLAIN_HTTP ? "http" : "https");
        config.put("skip_verify", mode == TransportMode.INSECURE);
        config.put("host", reference.apiHost());
        config.put("repo", reference.repository());
        // TODO: nydusd's registry backend takes a password, not an identity token, so a mount
        // with one in the Docker config reads the registry anonymously.
        credentials.credentialsFor(reference.registry())
                .filter(found -> !found.hasIdentityToken())
                .ifPresent(found -> config.put("auth", encode(found)));
        return backend;
    }

    private static String encode(Credentials credentials) {
        String pair = credentials.username() + ":" + credentials.password();
        return Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public String toString() {
        return "MountSource[" + description + ", bootstrap " + bootstrap + ", "
                + blobs.size() + " blobs]";
    }
}
