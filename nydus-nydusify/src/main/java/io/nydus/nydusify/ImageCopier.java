package io.nydus.nydusify;

import static io.nydus.nydusify.SourceManifests.parseIndex;
import static io.nydus.nydusify.SourceManifests.parseManifest;

import io.nydus.registry.BlobPushResult;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.MediaTypes;
import io.nydus.registry.RegistryClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies an image between registry repositories, OCI image layouts and layout archives
 * ({@link ImageLocation}), such as from a registry to {@code file://image.tar} and back.
 *
 * <p>Manifests, indexes, configs and layers keep their bytes, so the target has the source's
 * digests, and every blob of a Nydus image is copied. Blobs that the target has are skipped.
 * Within one registry, blobs are mounted from the source repository instead of uploaded.
 * Manifests listed by an index are pushed by digest before the index, and the target tag is
 * pushed last, so a failed copy never moves the tag.
 */
public final class ImageCopier {
    private static final Logger LOG = LoggerFactory.getLogger(ImageCopier.class);

    /**
     * The number of index levels that a copy of all platforms follows. Multi-platform images
     * usually have one. The bound turns a registry that serves an endless chain of indexes into
     * an error instead of a stack overflow.
     */
    static final int MAX_INDEX_DEPTH = 16;

    private final RegistryClient sourceClient;
    private final RegistryClient targetClient;

    /**
     * Creates a copier that reads registry sources through {@code sourceClient} and pushes to
     * registry targets through {@code targetClient}, which may be the same client. Blob
     * mounts go through {@code targetClient}.
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
     *     or the target rejects a write. The message names the image, manifest or blob at
     *     fault
     */
    public CopyResult copy(CopyOptions options) throws IOException {
        boolean archive = options.source().kind() == ImageLocation.Kind.ARCHIVE
                || options.target().kind() == ImageLocation.Kind.ARCHIVE;
        if (!archive) {
            return copyBetween(options, null);
        }
        try (SourceManifests.RunDirectory runDir = SourceManifests.RunDirectory.create(
                options.workDir(), "copy-")) {
            return copyBetween(options, runDir.path());
        }
    }

    /** Copies with archives unpacked and assembled in {@code runDir}, null if none. */
    private CopyResult copyBetween(CopyOptions options, Path runDir) throws IOException {
        try (ImageStore source = ImageStores.openSource(options.source(), sourceClient, runDir);
                ImageStore target = ImageStores.openTarget(options.target(), targetClient,
                        runDir)) {
            return copy(options, source, target);
        }
    }

    private CopyResult copy(CopyOptions options, ImageStore source, ImageStore target)
            throws IOException {
        Run run = new Run(options, source, target);
        String name = source.describe();
        ManifestContent content = source.manifest();
        ManifestContent tagged;
        if (!content.isIndex()) {
            Manifest manifest = parseManifest(content, name);
            if (!options.allPlatforms()) {
                checkConfigPlatform(source, manifest.config(), options.platform());
            }
            run.copyBlobs(manifest);
            tagged = content;
        } else if (options.allPlatforms()) {
            run.copyIndexEntries(parseIndex(content, name), name, 1);
            tagged = content;
        } else if (options.platforms().size() == 1) {
            tagged = run.copyPlatformManifest(parseIndex(content, name), options.platform())
                    .content();
        } else {
            tagged = run.copyPlatformManifests(content, parseIndex(content, name));
        }
        Digest pushed = target.putImage(tagged);
        run.manifests++;
        LOG.info("copied {} to {} as {}: {} manifests, {} blobs uploaded ({} bytes), {} mounted,"
                + " {} already in target", name, target.describe(), pushed, run.manifests,
                run.uploaded, run.bytesUploaded, run.mounted, run.existing);
        return new CopyResult(options.source(), options.target(), pushed, run.manifests,
                run.uploaded, run.mounted, run.existing, run.bytesUploaded);
    }

    /** The state of one copy: the repositories and what has been pushed so far. */
    private final class Run {
        private final CopyOptions options;
        private final ImageStore source;
        private final ImageStore target;
        private final Set<Digest> blobsDone = new HashSet<>();
        private int manifests;
        private int uploaded;
        private int mounted;
        private int existing;
        private long bytesUploaded;

        Run(CopyOptions options, ImageStore source, ImageStore target) {
            this.options = options;
            this.source = source;
            this.target = target;
        }

        /**
         * Copies every manifest that an index lists, nested indexes included, by digest. The
         * index lies {@code depth} levels below the image's own manifest, which is level 1.
         */
        void copyIndexEntries(ImageIndex index, String indexName, int depth) throws IOException {
            if (depth > MAX_INDEX_DEPTH) {
                throw new IOException(indexName + " is an index nested " + depth
                        + " levels deep, more than the " + MAX_INDEX_DEPTH + " levels copied");
            }
            for (Descriptor entry : index.manifests()) {
                String entryName = source.describe() + "@" + entry.digest();
                ManifestContent content = source.manifest(entry.digest(), "manifest "
                        + entry.digest() + " listed by " + indexName);
                if (content.isIndex()) {
                    copyIndexEntries(parseIndex(content, entryName), entryName, depth + 1);
                } else {
                    copyBlobs(parseManifest(content, entryName));
                }
                target.putManifest(content);
                manifests++;
            }
        }

        /**
         * Copies the index entries of the requested platforms and returns an index of just
         * those entries, with the source index's other fields as they are.
         */
        ManifestContent copyPlatformManifests(ManifestContent content, ImageIndex index)
                throws IOException {
            List<Digest> chosen = new ArrayList<>();
            for (PlatformSpec platform : options.platforms()) {
                Chosen entry = copyPlatformManifest(index, platform);
                if (!chosen.contains(entry.digest())) {
                    target.putManifest(entry.content());
                    manifests++;
                    chosen.add(entry.digest());
                }
            }
            return SourceManifests.indexOf(content, chosen);
        }

        /** An index entry chosen for a platform, and its manifest. */
        record Chosen(Digest digest, ManifestContent content) {
        }

        /** Copies the blobs of the index entry for {@code platform} and returns it. */
        Chosen copyPlatformManifest(ImageIndex index, PlatformSpec platform)
                throws IOException {
            String name = source.describe();
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
                throw new IOException("source image " + name + " is an index without a"
                        + " manifest for platform " + platform + " (it lists "
                        + (available.isEmpty() ? "no manifests" : String.join(", ", available))
                        + "); choose one with --platform or copy all with --all-platforms");
            }
            ManifestContent content = source.manifest(chosen.digest(), "manifest "
                    + chosen.digest() + " for platform " + platform + " of " + name);
            if (content.isIndex()) {
                throw new IOException("source image " + name + ": the entry for platform "
                        + platform + " is another index (" + chosen.digest() + "), not an"
                        + " image manifest");
            }
            LOG.info("source {} is an index; copying {} manifest {}", name, platform,
                    chosen.digest());
            copyBlobs(parseManifest(content, name + "@" + chosen.digest()));
            return new Chosen(chosen.digest(), content);
        }

        void copyBlobs(Manifest manifest) throws IOException {
            copyBlob(manifest.config(), "config");
            List<Descriptor> layers = manifest.layers();
            for (int i = 0; i < layers.size(); i++) {
                copyBlob(layers.get(i), "layer " + (i + 1) + "/" + layers.size());
            }
        }

        /**
         * Copies one blob and logs it, so that a long copy shows its progress blob by blob.
         *
         * @param role what the blob is in its manifest, for the log: "config" or "layer 2/5"
         */
        private void copyBlob(Descriptor blob, String role) throws IOException {
            // NOTE: layers with urls (foreign or non-distributable) are copied like any other
            // blob, so the copy fails if the source registry does not store them.
            Digest digest = blob.digest();
            if (!blobsDone.add(digest)) {
                return;
            }
            long start = System.nanoTime();
            BlobPushResult result = target.copyBlob(source, digest, blob.size());
            String outcome = switch (result) {
                case UPLOADED -> {
                    uploaded++;
                    bytesUploaded += blob.size();
                    yield "uploaded";
                }
                case MOUNTED -> {
                    mounted++;
                    yield "mounted from another repository";
                }
                case EXISTED -> {
                    existing++;
                    yield "already in the target";
                }
            };
            LOG.info("{} {} ({} bytes): {} in {} ms", role, digest, blob.size(), outcome,
                    (System.nanoTime() - start) / 1_000_000);
        }
    }

    /**
     * Checks that a single-manifest source is for {@code platform}, as the os and
     * architecture of its image config state. Configs of other types, and image configs
     * without these fields, are accepted.
     */
    private static void checkConfigPlatform(ImageStore source, Descriptor config,
            PlatformSpec platform) throws IOException {
        String name = source.describe();
        if (!config.mediaType().equals(MediaTypes.OCI_CONFIG)
                && !config.mediaType().equals(MediaTypes.DOCKER_CONFIG)) {
            return;
        }
        if (config.size() > Converter.MAX_CONFIG_BYTES) {
            throw new IOException("source image " + name + ": config " + config.digest()
                    + " has " + config.size() + " bytes, more than the "
                    + Converter.MAX_CONFIG_BYTES + " accepted");
        }
        byte[] bytes;
        try (InputStream in = source.blob(config.digest(), config.size())) {
            bytes = in.readAllBytes();
        }
        SourceManifests.checkPlatform(name, SourceManifests.configPlatform(bytes),
                List.of(platform));
    }
}
