package io.nydus.snapshotter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nydus.registry.ImageReference;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Prefetch lists that {@code PUT /api/v1/prefetch} sets for images about to start, as
 * upstream's prefetch NRI plugin sends them from a pod annotation: a JSON array of
 * {@code {"image": REFERENCE, "prefetch": FILE}}, where FILE lists one path of the image per
 * line. The next mount of the image takes its list, which is then forgotten.
 */
final class PrefetchLists {
    private static final Logger LOG = LoggerFactory.getLogger(PrefetchLists.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, Path> files = new LinkedHashMap<>();

    /**
     * Records the list file of each image in {@code body}, replacing an earlier one.
     *
     * @return how many images the body named
     * @throws IllegalArgumentException naming the entry that is not an image and a file
     */
    synchronized int set(String body) {
        JsonNode entries;
        try {
            entries = JSON.readTree(body);
        } catch (IOException e) {
            throw new IllegalArgumentException("the prefetch body is not JSON: "
                    + e.getMessage());
        }
        if (entries == null || !entries.isArray()) {
            throw new IllegalArgumentException("the prefetch body must be a JSON array of"
                    + " {\"image\": REFERENCE, \"prefetch\": FILE}");
        }
        Map<String, Path> parsed = new LinkedHashMap<>();
        for (int i = 0; i < entries.size(); i++) {
            JsonNode entry = entries.get(i);
            String image = entry.path("image").asText("");
            String file = entry.path("prefetch").asText("");
            if (image.isEmpty() || file.isEmpty()) {
                throw new IllegalArgumentException("prefetch entry " + i + " needs \"image\""
                        + " and \"prefetch\": " + entry);
            }
            parsed.put(key(image, i), Path.of(file));
        }
        files.putAll(parsed);
        parsed.forEach((image, file) -> LOG.info("prefetch list {} set for image {}", file,
                image));
        return parsed.size();
    }

    /**
     * Returns the paths listed for {@code reference} and removes them, or empty when none
     * were set. A list file that cannot be read is logged and counts as none.
     */
    Optional<List<String>> take(ImageReference reference) {
        Path file;
        synchronized (this) {
            file = files.remove(reference.toString());
        }
        if (file == null) {
            return Optional.empty();
        }
        try {
            List<String> paths = new ArrayList<>();
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    paths.add(line.strip());
                }
            }
            return Optional.of(paths);
        } catch (IOException e) {
            LOG.warn("prefetch list {} of image {} cannot be read, so the image is mounted"
                    + " without it: {}", file, reference, e.toString());
            return Optional.empty();
        }
    }

    private static String key(String image, int index) {
        try {
            return ImageReference.parse(image).toString();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("prefetch entry " + index + ": "
                    + e.getMessage());
        }
    }
}
