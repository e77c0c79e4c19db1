package io.nydus.nydusify;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.BlobUpload;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageReference;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.Repository;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;
import java.util.OptionalLong;

/** An {@link ImageStore} over one repository of a registry. */
final class RegistryStore implements ImageStore {
    private final ImageLocation location;
    private final RegistryClient client;
    private final Repository repository;

    RegistryStore(ImageLocation location, RegistryClient client) {
        if (!location.isRegistry()) {
            throw new IllegalArgumentException(location + " is not a registry reference");
        }
        this.location = location;
        this.client = client;
        this.repository = location.reference().toRepository();
    }

    @Override
    public ImageLocation location() {
        return location;
    }

    Repository repository() {
        return repository;
    }

    @Override
    public ManifestContent manifest() throws IOException {
        ImageReference reference = location.reference();
        return SourceManifests.fetch(client, reference, "image " + reference);
    }

    @Override
    public ManifestContent manifest(Digest digest, String description) throws IOException {
        return SourceManifests.fetch(client, repository.digest(digest), description);
    }

    @Override
    public InputStream blob(Digest digest, long size) throws IOException {
        return client.getBlob(repository, digest, size);
    }

    @Override
    public OptionalLong blobSize(Digest digest) throws IOException {
        return client.blobSize(repository, digest);
    }

    @Override
    public BlobPushResult pushBlob(Digest digest, long size, BlobSource data)
            throws IOException {
        return client.pushBlob(repository, digest, size, data);
    }

    @Override
    public Optional<BlobUpload> startUpload() throws IOException {
        return Optional.of(client.startUpload(repository));
    }

    @Override
    public long maxUploadPartBytes() {
        return client.chunkSize();
    }

    @Override
    public boolean hasNoImage() throws IOException {
        return !client.hasTags(repository);
    }

    @Override
    public BlobPushResult copyBlob(ImageStore from, Digest digest, long size)
            throws IOException {
        if (from instanceof RegistryStore source
                && source.repository.registry().equals(repository.registry())) {
            if (source.repository.equals(repository)) {
                return hasBlob(digest) ? BlobPushResult.EXISTED
                        : ImageStore.super.copyBlob(from, digest, size);
            }
            return client.mountBlob(source.repository, repository, digest);
        }
        return ImageStore.super.copyBlob(from, digest, size);
    }

    @Override
    public Digest putManifest(ManifestContent content) throws IOException {
        return client.putManifest(repository.digest(content.digest()), content);
    }

    @Override
    public Digest putImage(ManifestContent content) throws IOException {
        return client.putManifest(location.reference(), content);
    }

    /** Does nothing: the client belongs to the caller. */
    @Override
    public void close() {
    }
}
