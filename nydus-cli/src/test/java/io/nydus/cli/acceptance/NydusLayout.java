package io.nydus.cli.acceptance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.builder.Unpacker;
import io.nydus.testkit.CommandResult;
import io.nydus.testkit.Commands;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A Nydus image that {@code skopeo copy} wrote into an OCI layout directory, and the calls of
 * skopeo that the acceptance tests make.
 */
final class NydusLayout {

    static final Duration SKOPEO_TIMEOUT = Duration.ofMinutes(10);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path layout;
    private final JsonNode manifest;

    private NydusLayout(Path layout, JsonNode manifest) {
        this.layout = layout;
        this.manifest = manifest;
    }

    /**
     * Copies {@code image} (a {@code docker://} reference) with {@code skopeo copy} into the
     * new layout {@code layout}.
     *
     * @param options skopeo options before the references, such as
     *     {@code --src-tls-verify=false}
     */
    static NydusLayout copy(String image, Path layout, String... options) throws IOException {
        List<String> argv = new ArrayList<>(List.of("skopeo", "copy", "--quiet"));
        argv.addAll(List.of(options));
        argv.add(image);
        argv.add("oci:" + layout + ":image");
        Commands.run(argv, SKOPEO_TIMEOUT);
        JsonNode index = JSON.readTree(layout.resolve("index.json").toFile());
        return new NydusLayout(layout, JSON.readTree(blob(layout,
                index.get("manifests").get(0).get("digest").asText()).toFile()));
    }

    /** Runs {@code skopeo inspect OPTIONS IMAGE} and returns its result whatever its exit. */
    static CommandResult inspect(String image, String... options) throws IOException {
        List<String> argv = new ArrayList<>(List.of("skopeo", "inspect"));
        argv.addAll(List.of(options));
        argv.add(image);
        return Commands.runAllowingFailure(argv, SKOPEO_TIMEOUT, new byte[0]);
    }

    /** Returns the image manifest. */
    JsonNode manifest() {
        return manifest;
    }

    /** Returns the image config. */
    JsonNode config() throws IOException {
        return JSON.readTree(blob(layout, manifest.get("config").get("digest").asText())
                .toFile());
    }

    /**
     * Unpacks the image with the project's own reader into {@code output}: the bootstrap from
     * the last layer, the chunks from the blob layers before it.
     */
    void unpack(Path work, Path output) throws IOException {
        JsonNode layers = manifest.get("layers");
        Path bootstrapLayer = blob(layout, layers.get(layers.size() - 1).get("digest").asText());
        Path extracted = Files.createDirectories(work.resolve("bootstrap-layer"));
        Commands.run(List.of("tar", "-xzf", bootstrapLayer.toString(), "-C",
                extracted.toString(), "image/image.boot"), SKOPEO_TIMEOUT);
        Unpacker.unpackToDirectory(extracted.resolve("image/image.boot"),
                layout.resolve("blobs/sha256"), output);
    }

    /** Returns the file of blob {@code digest} in {@code layout}. */
    static Path blob(Path layout, String digest) {
        return layout.resolve("blobs").resolve(digest.replace(':', '/'));
    }
}
