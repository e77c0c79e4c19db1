package io.nydus.nydusify;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.builder.ExitCleanup;
import io.nydus.registry.Descriptor;
import io.nydus.registry.Digest;
import io.nydus.registry.ImageIndex;
import io.nydus.registry.ImageReference;
import io.nydus.registry.Manifest;
import io.nydus.registry.ManifestContent;
import io.nydus.registry.Platform;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryNotFoundException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Steps that convert, check and copy share: reading source manifests, checking platforms and
 * tidying up.
 */
final class SourceManifests {
    private static final Logger LOG = LoggerFactory.getLogger(SourceManifests.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private SourceManifests() {
    }

    /**
     * Fetches a manifest or index, turning "not found" into an error that names the registry,
     * the repository and the tag or digest.
     *
     * @param description what the manifest is, for the message
     */
    static ManifestContent fetch(RegistryClient client, ImageReference reference,
            String description) throws IOException {
        try {
            return client.getManifest(reference);
        } catch (RegistryNotFoundException e) {
            String name = reference.digest() != null ? "digest " + reference.digest()
                    : "tag " + reference.tag();
            throw new IOException(description + " not found (registry " + reference.registry()
                    + ", repository " + reference.repository() + ", " + name + "): "
                    + e.getMessage(), e);
        }
    }

    /** Parses an image manifest; {@code image} names the image it belongs to in errors. */
    static Manifest parseManifest(ManifestContent content, String image) throws IOException {
        try {
            return content.toManifest();
        } catch (IllegalArgumentException e) {
            throw new IOException("source image " + image + ": " + e.getMessage(), e);
        }
    }

    /** Parses an index; {@code image} names the image it belongs to in errors. */
    static ImageIndex parseIndex(ManifestContent content, String image) throws IOException {
        try {
            return content.toIndex();
        } catch (IllegalArgumentException e) {
            throw new IOException("source image " + image + ": " + e.getMessage(), e);
        }
    }

    /**
     * Returns the os, architecture and variant that an image config states, or null if it
     * states none or an invalid one.
     */
    static PlatformSpec configPlatform(byte[] config) throws IOException {
        JsonNode json = JSON.readTree(config);
        String os = json.path("os").asText("");
        String architecture = json.path("architecture").asText("");
        String variant = json.path("variant").asText("");
        if (os.isEmpty() || architecture.isEmpty()) {
            return null;
        }
        try {
            return new PlatformSpec(os, architecture, variant.isEmpty() ? null : variant);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /**
     * Checks that a single-platform image of {@code found} (null if its config states none)
     * is for one of the {@code requested} platforms. A variant missing on either side matches
     * any. A request for this machine's platform alone, as without --platform, accepts every
     * platform, as upstream's nydusify does, so that a host of one architecture converts and
     * copies images of another.
     */
    static void checkPlatform(String image, PlatformSpec found, List<PlatformSpec> requested)
            throws IOException {
        if (found == null || requested.equals(List.of(PlatformSpec.host()))) {
            return;
        }
        for (PlatformSpec platform : requested) {
            boolean variantMatches = platform.variant() == null || found.variant() == null
                    || platform.variant().equals(found.variant());
            if (found.os().equals(platform.os())
                    && found.architecture().equals(platform.architecture()) && variantMatches) {
                return;
            }
        }
        String names = String.join(", ", requested.stream().map(PlatformSpec::toString)
                .toList());
        throw new IOException("source image " + image + " is for platform " + found + ", not "
                + names + "; choose it with --platform " + found);
    }

    /**
     * Returns the index {@code content} with only the manifest entries whose digests are in
     * {@code keep}, in the index's order; its other fields stay as they are.
     */
    static ManifestContent indexOf(ManifestContent content, List<Digest> keep)
            throws IOException {
        ObjectNode index = (ObjectNode) JSON.readTree(content.bytes());
        ArrayNode entries = JSON.createArrayNode();
        for (JsonNode entry : index.path("manifests")) {
            if (keep.contains(Digest.parse(entry.path("digest").asText()))) {
                entries.add(entry);
            }
        }
        index.set("manifests", entries);
        return new ManifestContent(JSON.writeValueAsBytes(index), content.mediaType());
    }

    /**
     * A directory for one run inside the work directory. Closing it deletes it, and the work
     * directory too when the run created it and nothing else is in it, so that the default
     * ./tmp and ./output do not stay behind empty.
     */
    record RunDirectory(Path path, Path createdWorkDir) implements AutoCloseable {
        static RunDirectory create(Path workDir, String prefix) throws IOException {
            ExitCleanup.requireRunning("a run directory in " + workDir);
            Path created = Files.exists(workDir) ? null : workDir;
            Files.createDirectories(workDir);
            return new RunDirectory(ExitCleanup.deleteAtExit(
                    Files.createTempDirectory(workDir.toAbsolutePath(), prefix)), created);
        }

        @Override
        public void close() {
            deleteTree(path);
            if (createdWorkDir != null) {
                try {
                    Files.deleteIfExists(createdWorkDir);
                } catch (IOException e) {
                    // Another run or the user put something there: it stays.
                    LOG.debug("kept work directory {}: {}", createdWorkDir, e.toString());
                }
            }
        }
    }

    /** Returns the platform of each entry of an index, for messages. */
    static String listedPlatforms(ImageIndex index) {
        List<String> available = new ArrayList<>();
        for (Descriptor entry : index.manifests()) {
            available.add(entry.platform() == null ? "(no platform)"
                    : entry.platform().toString());
        }
        return available.isEmpty() ? "no manifests" : String.join(", ", available);
    }

    /** Returns the platform of an index entry, or null if it is not a valid platform. */
    static PlatformSpec specOf(Platform platform) {
        try {
            return new PlatformSpec(platform.os(), platform.architecture(), platform.variant());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static long elapsedMillis(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    /** Deletes a run's work directory, logging instead of failing, as the run is over. */
    static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
            ExitCleanup.unregister(dir);
        } catch (IOException | UncheckedIOException e) {
            if (ExitCleanup.isStopping()) {
                // The shutdown hook deletes the registered directories at the same time.
                LOG.debug("left work directory {} to the shutdown hook: {}", dir, e.toString());
            } else {
                LOG.warn("could not delete work directory {}: {}", dir, e.toString());
            }
        }
    }

    /** A stream whose close does nothing, so a reader cannot close what the caller drains. */
    static final class UnclosedStream extends FilterInputStream {
        UnclosedStream(InputStream in) {
            super(in);
        }

        @Override
        public void close() {
            // The caller drains and closes the stream.
        }
    }
}
