package io.nydus.nydusify;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A chunk dictionary as {@code --chunk-dict} names it: {@code bootstrap:registry:REF}, the
 * bootstrap of a Nydus image (a registry reference or any other {@link ImageLocation}), or
 * {@code bootstrap:local:PATH}, a bootstrap file.
 *
 * @param image the Nydus image whose bootstrap is the dictionary, or null
 * @param bootstrap the bootstrap file, or null
 */
public record ChunkDictSpec(ImageLocation image, Path bootstrap) {

    public ChunkDictSpec {
        if ((image == null) == (bootstrap == null)) {
            throw new IllegalArgumentException("a chunk dict is either an image or a bootstrap"
                    + " file");
        }
    }

    /**
     * Parses {@code bootstrap:registry:REF} or {@code bootstrap:local:PATH}.
     *
     * @throws IllegalArgumentException naming {@code text} if it has another form
     */
    public static ChunkDictSpec parse(String text) {
        Objects.requireNonNull(text, "text");
        String[] parts = text.split(":", 3);
        if (parts.length < 3 || !parts[0].equals("bootstrap") || parts[2].isEmpty()) {
            throw new IllegalArgumentException("invalid chunk dict '" + text + "': expected"
                    + " bootstrap:registry:REF or bootstrap:local:PATH");
        }
        return switch (parts[1]) {
            case "registry" -> new ChunkDictSpec(ImageLocation.parse(parts[2]), null);
            case "local" -> new ChunkDictSpec(null, Path.of(parts[2]));
            default -> throw new IllegalArgumentException("invalid chunk dict '" + text
                    + "': source '" + parts[1] + "' is neither registry nor local");
        };
    }

    @Override
    public String toString() {
        return image != null ? "bootstrap:registry:" + image : "bootstrap:local:" + bootstrap;
    }
}
