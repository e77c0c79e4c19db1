package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.fetch;
import static io.nydus.nydusify.SourceManifests.parseIndex;
import static io.nydus.nydusify.SourceManifests.parseManifest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.registry.BlobPushResult;
import io.nydus.registry.BlobSource;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.Repository;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies an image from one repository to another, in the same or another registry.
 *
 * <p>Manifests, indexes, configs and layers keep their bytes, so the target has the source's
 * digests. Blobs that the target repository has are skipped. Within one registry, blobs are
 * mounted from the source repository instead of uploaded. Manifests listed by an index are
 * pushed by digest before the index, and the target tag is pushed last, so a failed copy never
 * moves the tag.
 */
public final class ImageCopier {
    private static final Logger LOG = LoggerFactory.getLogger(ImageCopier.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final RegistryClient sourceClient;
    private final RegistryClient targetClient;

    /**
     * Creates a copier that reads through {@code sourceClient} and pushes through
     * {@code targetClient}, which may be the same client. Blob mounts go through
     * {@code targetClient}.
     */
    public ImageCopier(RegistryClient sourceClient, RegistryClient targetClient) {
        this.sourceClient = sourceClient;
        this.targetClient = targetClient;
    }

    /**
     * Copies {@code options.source()} to {@code options.target()}: a single manifest as it is,
     * an index whole with {@code allPlatforms}, else the index entry of the requested platform
     * alone.
     *
     * @throws IOException if the source is not found or not an image, a blob cannot be read,
     *     or the target rejects a push. The message names the image, manifest or blob at fault
     */
    public CopyResult copy(CopyOptions options) throws IOException {
        Run run = new Run(options);
        ImageReference source = options.source();
        ManifestContent content = fetch(sourceClient, source, "source image " + source);
        ManifestContent tagged;
        if (!content.isIndex()) {
            Manifest manifest = parseManifest(content, source);
            if (!options.allPlatforms()) {
                checkConfigPlatform(source, manifest.config(), options.platform());
            }
            run.copyBlobs(manifest);
            tagged = content;
        } else if (options.allPlatforms()) {
            run.copyIndexEntries(parseIndex(content, source), source);
            tagged = content;
        } else {
            tagged = run.copyPlatformManifest(parseIndex(content, source));
        }
        Digest pushed = targetClient.putManifest(options.target(), tagged);
        run.manifests++;
        LOG.info("copied {} to {} as {}: {} manifests, {} blobs uploaded ({} bytes), {} mounted,"
                + " {} already in target", source, options.target(), pushed, run.manifests,
                run.uploaded, run.bytesUploaded, run.mounted, run.existing);
        return new CopyResult(source, options.target(), pushed, run.manifests, run.uploaded,
                run.mounted, run.existing, run.bytesUploaded);
    }

    /** The state of one copy: the repositories and what has been pushed so far. */
    private final class Run {
        private final CopyOptions options;
        private final Repository sourceRepo;
        private final Repository targetRepo;
        private final Set<Digest> blobsDone = new HashSet<>();
        private int manifests;
        private int uploaded;
        private int mounted;
        private int existing;
        private long bytesUploaded;

        Run(CopyOptions options) {
            this.options = options;
            this.sourceRepo = options.source().toRepository();
            this.targetRepo = options.target().toRepository();
        }

        /** Copies every manifest that an index lists, nested indexes included, by digest. */
        void copyIndexEntries(ImageIndex index, ImageReference indexRef) throws IOException {
            for (Descriptor entry : index.manifests()) {
                ImageReference entryRef = sourceRepo.digest(entry.digest());
                ManifestContent content = fetch(sourceClient, entryRef, "manifest " + entry.digest()
                        + " listed by " + indexRef);
                if (content.isIndex()) {
                    copyIndexEntries(parseIndex(content, entryRef), entryRef);
                } else {
                    copyBlobs(parseManifest(content, entryRef));
                }
                targetClient.putManifest(targetRepo.digest(content.digest()), content);
                manifests++;
            }
        }

        /** Copies the blobs of the index entry for the requested platform and returns it. */
        ManifestContent copyPlatformManifest(ImageIndex index) throws IOException {
            ImageReference source = options.source();
            PlatformSpec platform = options.platform();
            Descriptor chosen = null;
            List<String> available = new ArrayList<>();
            for (Descriptor entry : index.manifests()) {
                available.add(entry.platform() == null ? "(no platform)"
                        : entry.platform().toString());
                if (chosen == null && platform.matches(entry.platform())) {
                    chosen = entry;
                }
            }
            if (chosen == null) {
                throw new IOException("source image " + source + " is an index without a"
                        + " manifest for platform " + platform + " (it lists "
                        + (available.isEmpty() ? "no manifests" : String.join(", ", available))
                        + "); choose one with --platform or copy all with --all-platforms");
            }
            ImageReference chosenRef = sourceRepo.digest(chosen.digest());
            ManifestContent content = fetch(sourceClient, chosenRef, "manifest " + chosen.digest()
                    + " for platform " + platform + " of " + source);
            if (content.isIndex()) {
                throw new IOException("source image " + source + ": the entry for platform "
                        + platform + " is another index (" + chosen.digest() + "), not an"
                        + " image manifest");
            }
            LOG.info("source {} is an index; copying {} manifest {}", source, platform,
                    chosen.digest());
            copyBlobs(parseManifest(content, chosenRef));
            return content;
        }

        void copyBlobs(Manifest manifest) throws IOException {
            copyBlob(manifest.config());
            for (Descriptor layer : manifest.layers()) {
                copyBlob(layer);
            }
        }

        // NOTE: layers with urls (foreign or non-distributable) are copied like any other blob,
        // so the copy fails if the source registry does not store them.
        private void copyBlob(Descriptor blob) throws IOException {
            Digest digest = blob.digest();
            if (!blobsDone.add(digest)) {
                return;
            }
            BlobPushResult result;
            if (sourceRepo.registry().equals(targetRepo.registry())) {
                result = targetClient.mountBlob(sourceRepo, targetRepo, digest);
            } else {
                long size = blob.size();
                BlobSource data = () -> sourceClient.getBlob(sourceRepo, digest, size);
                result = targetClient.pushBlob(targetRepo, digest, size, data);
            }
            switch (result) {
                case UPLOADED -> {
                    uploaded++;
                    bytesUploaded += blob.size();
                }
                case MOUNTED -> mounted++;
                case EXISTED -> existing++;
            }
            LOG.debug("blob {} ({} bytes): {}", digest, blob.size(), result);
        }
    }

    /**
     * Checks that a single-manifest source is for {@code platform}, as the os and
     * architecture of its image config state. Configs of other types, and image configs
     * without these fields, are accepted.
     */
    private void checkConfigPlatform(ImageReference reference, Descriptor config,
            PlatformSpec platform) throws IOException {
        if (!config.mediaType().equals(MediaTypes.OCI_CONFIG)
                && !config.mediaType().equals(MediaTypes.DOCKER_CONFIG)) {
            return;
        }
        if (config.size() > Converter.MAX_CONFIG_BYTES) {
            throw new IOException("source image " + reference + ": config " + config.digest()
                    + " has " + config.size() + " bytes, more than the "
                    + Converter.MAX_CONFIG_BYTES + " accepted");
        }
        JsonNode json;
        try (InputStream in = sourceClient.getBlob(reference.toRepository(), config.digest(),
                config.size())) {
            json = JSON.readTree(in);
        }
        String os = json.path("os").asText("");
        String architecture = json.path("architecture").asText("");
        String variant = json.path("variant").asText("");
        if (os.isEmpty() || architecture.isEmpty()) {
            return;
        }
        boolean variantMatches = platform.variant() == null || variant.isEmpty()
                || platform.variant().equals(variant);
        if (!os.equals(platform.os()) || !architecture.equals(platform.architecture())
                || !variantMatches) {
            String found = os + "/" + architecture + (variant.isEmpty() ? "" : "/" + variant);
            throw new IOException("source image " + reference + " is for platform " + found
                    + ", not " + platform + "; choose it with --platform " + found);
        }
    }

}
