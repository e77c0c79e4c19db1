package io.nydus.daemon;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nydus.fuse.FuseConnection;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The states a successor needs to serve a daemon's FUSE mount: the mount point, the init values,
 * and each image with its Vfs slot, bootstrap and configuration. A supervisor keeps these
 * bytes, as sent, beside the mount's {@code /dev/fuse} descriptor.
 *
 * @param mountpoint the FUSE mount point
 * @param shared whether images are mounted below the root
 * @param connection what the kernel and the first server agreed on in init
 * @param images the mounted images
 * @param nextSlot the lowest Vfs slot that the daemon never used, above every slot used so
 *     far
 */
public record DaemonStates(Path mountpoint, boolean shared, FuseConnection connection,
        List<Image> images, int nextSlot) {

    /** The value of the {@code format} field, which marks these bytes as daemon states. */
    static final String FORMAT = "nydus-java-daemon-states";
    static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    public DaemonStates {
        images = List.copyOf(images);
    }

    /**
     * One mounted image.
     *
     * @param path "/" in single mode, "/NAME" in shared mode
     * @param slot its Vfs slot, the top bits of its node ids
     * @param bootstrap its bootstrap file
     * @param config its configuration, upstream's v1 JSON form
     * @param settings what {@code PUT /api/v1/config} set for it, by setting name
     * @param prefetchFiles the paths that its mount request listed for prefetch
     */
    public record Image(String path, int slot, Path bootstrap, ObjectNode config,
            Map<String, String> settings, List<String> prefetchFiles) {

        public Image {
            settings = Map.copyOf(settings);
            prefetchFiles = List.copyOf(prefetchFiles);
        }

        /** Leaves the configuration and settings out, since they may contain credentials. */
        @Override
        public String toString() {
            return "Image[path=" + path + ", slot=" + slot + ", bootstrap=" + bootstrap + "]";
        }
    }

    /** Returns the states as JSON bytes, which contain the configurations and credentials. */
    public byte[] toBytes() {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT);
        root.put("version", VERSION);
        root.put("mountpoint", mountpoint.toString());
        root.put("shared", shared);
        root.put("next_slot", nextSlot);
        ObjectNode fuse = root.putObject("fuse");
        fuse.put("major", connection.major());
        fuse.put("minor", connection.minor());
        fuse.put("max_read", connection.maxRead());
        fuse.put("max_write", connection.maxWrite());
        ArrayNode list = root.putArray("images");
        for (Image image : images) {
            ObjectNode entry = list.addObject();
            entry.put("path", image.path());
            entry.put("slot", image.slot());
            entry.put("bootstrap", image.bootstrap().toString());
            entry.set("config", image.config());
            ObjectNode settings = entry.putObject("settings");
            image.settings().forEach(settings::put);
            ArrayNode prefetch = entry.putArray("prefetch_files");
            image.prefetchFiles().forEach(prefetch::add);
        }
        try {
            return JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("daemon states cannot be written as JSON", e);
        }
    }

    /**
     * Parses states that {@link #toBytes} wrote.
     *
     * @param source where the bytes came from, for messages
     * @throws IllegalArgumentException naming the source and the field that is wrong
     */
    public static DaemonStates parse(String source, byte[] bytes) {
        if (bytes.length == 0) {
            throw new IllegalArgumentException("daemon states from " + source + " are empty");
        }
        if (bytes[0] != '{') {
            throw new IllegalArgumentException("daemon states from " + source + " are not a"
                    + " JSON object: they start with byte 0x"
                    + Integer.toHexString(bytes[0] & 0xff));
        }
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("daemon states from " + source
                    + " are not JSON: " + e.getMessage());
        }
        if (root == null || !FORMAT.equals(root.path("format").asText())) {
            throw new IllegalArgumentException("daemon states from " + source + " lack"
                    + " \"format\": \"" + FORMAT + "\"; they come from another program");
        }
        if (root.path("version").asInt(-1) != VERSION) {
            throw new IllegalArgumentException("daemon states from " + source + " have version "
                    + root.path("version") + "; this daemon reads version " + VERSION);
        }

        JsonNode fuse = root.path("fuse");
        FuseConnection connection = new FuseConnection(number(source, fuse, "major"),
                number(source, fuse, "minor"), number(source, fuse, "max_read"),
                number(source, fuse, "max_write"));

        List<Image> images = new ArrayList<>();
        for (JsonNode entry : root.path("images")) {
            JsonNode config = entry.get("config");
            if (!(config instanceof ObjectNode object)) {
                throw new IllegalArgumentException("daemon states from " + source
                        + ": image " + entry.path("path") + " has no \"config\" object");
            }
            Map<String, String> settings = new TreeMap<>();
            entry.path("settings").properties().forEach(field ->
                    settings.put(field.getKey(), field.getValue().asText()));
            // The states of an older nydusd have no prefetch list.
            List<String> prefetchFiles = new ArrayList<>();
            entry.path("prefetch_files").forEach(file -> prefetchFiles.add(file.asText()));
            images.add(new Image(text(source, entry, "path"), number(source, entry, "slot"),
                    Path.of(text(source, entry, "bootstrap")), object, settings,
                    prefetchFiles));
        }

        JsonNode shared = root.get("shared");
        if (shared == null || !shared.isBoolean()) {
            throw new IllegalArgumentException("daemon states from " + source + ": \"shared\""
                    + " must be true or false, not " + shared);
        }
        // States without the counter, from before it was kept, reuse no slot above the images.
        int nextSlot = root.has("next_slot") ? number(source, root, "next_slot")
                : images.stream().mapToInt(image -> image.slot() + 1).max().orElse(1);
        return new DaemonStates(Path.of(text(source, root, "mountpoint")),
                shared.booleanValue(), connection, images, nextSlot);
    }

    private static int number(String source, JsonNode parent, String field) {
        JsonNode value = parent.get(field);
        if (value == null || !value.canConvertToInt() || value.intValue() < 0) {
            throw new IllegalArgumentException("daemon states from " + source + ": \"" + field
                    + "\" must be a number of 0 or more, not " + value);
        }
        return value.intValue();
    }

    private static String text(String source, JsonNode parent, String field) {
        JsonNode value = parent.get(field);
        if (value == null || !value.isTextual() || value.textValue().isEmpty()) {
            throw new IllegalArgumentException("daemon states from " + source + ": \"" + field
                    + "\" must be a non-empty string, not " + value);
        }
        return value.textValue();
    }
}
