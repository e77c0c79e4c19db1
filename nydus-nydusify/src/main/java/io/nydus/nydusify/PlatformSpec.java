package io.nydus.nydusify;

import io.nydus.registry.Platform;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The platform whose manifest a conversion takes from an index, such as {@code linux/amd64} or
 * {@code linux/arm64/v8}.
 *
 * @param os the operating system
 * @param architecture the CPU architecture, in OCI terms ({@code amd64}, {@code arm64})
 * @param variant the CPU variant, or null to accept any
 */
public record PlatformSpec(String os, String architecture, String variant) {
    private static final Pattern PART = Pattern.compile("[a-z0-9._-]+");

    public PlatformSpec {
        checkPart("os", os);
        checkPart("architecture", architecture);
        if (variant != null) {
            checkPart("variant", variant);
        }
    }

    /**
     * Parses {@code os/architecture[/variant]}.
     *
     * @throws IllegalArgumentException naming {@code text} if it has another form
     */
    public static PlatformSpec parse(String text) {
        String[] parts = text.strip().split("/", -1);
        if (parts.length < 2 || parts.length > 3) {
            throw new IllegalArgumentException("invalid platform '" + text
                    + "': expected os/architecture[/variant], such as linux/amd64");
        }
        try {
            return new PlatformSpec(parts[0], parts[1], parts.length == 3 ? parts[2] : null);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid platform '" + text + "': "
                    + e.getMessage(), e);
        }
    }

    /**
     * Parses a comma-separated list such as {@code linux/amd64,linux/arm64}.
     *
     * @throws IllegalArgumentException naming the invalid entry, or if the list is empty
     */
    public static List<PlatformSpec> parseList(String text) {
        List<PlatformSpec> platforms = new ArrayList<>();
        for (String part : text.split(",", -1)) {
            if (!part.isBlank()) {
                platforms.add(parse(part));
            }
        }
        if (platforms.isEmpty()) {
            throw new IllegalArgumentException("invalid platform list '" + text
                    + "': expected os/architecture[/variant], comma separated");
        }
        return List.copyOf(platforms);
    }

    /** Returns the platform of this machine, with Java's architecture names mapped to OCI's. */
    public static PlatformSpec host() {
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        String oci = switch (arch) {
            case "x86_64", "amd64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            case "x86", "i386", "i686" -> "386";
            default -> arch;
        };
        return new PlatformSpec("linux", oci, null);
    }

    /** Returns whether {@code platform} of an index entry is this one. */
    public boolean matches(Platform platform) {
        if (platform == null) {
            return false;
        }
        return os.equals(platform.os()) && architecture.equals(platform.architecture())
                && (variant == null || variant.equals(platform.variant()));
    }

    private static void checkPart(String field, String value) {
        if (value == null || !PART.matcher(value).matches()) {
            throw new IllegalArgumentException(field + " '" + value + "' must be lowercase"
                    + " letters, digits, '.', '_' or '-'");
        }
    }

    @Override
    public String toString() {
        return os + "/" + architecture + (variant == null ? "" : "/" + variant);
    }
}
