package io.nydus.registry;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A parsed image reference such as {@code ubuntu}, {@code ghcr.io/org/app:1.0} or
 * {@code 127.0.0.1:5000/app@sha256:...}, normalized as Docker normalizes them.
 *
 * <p>Defaults: the registry is {@code docker.io} unless the first path component contains a dot
 * or a colon or is {@code localhost}; a single-component repository on {@code docker.io} gets
 * the {@code library/} prefix; the tag is {@code latest} when neither a tag nor a digest is
 * given.
 *
 * @param registry the registry host, with a port if one was given
 * @param repository the repository path, such as {@code library/ubuntu}
 * @param tag the tag, or null for a reference by digest only
 * @param digest the manifest digest, or null for a reference by tag only
 */
public record ImageReference(String registry, String repository, String tag, Digest digest) {

    /** The registry of references without a host. */
    public static final String DOCKER_HUB = "docker.io";
    /** The host that serves the registry API of {@link #DOCKER_HUB}. */
    public static final String DOCKER_HUB_API_HOST = "registry-1.docker.io";
    /** The tag of references with neither a tag nor a digest. */
    public static final String DEFAULT_TAG = "latest";

    private static final int MAX_NAME_LENGTH = 255;
    private static final int MAX_PORT = 65535;
    private static final String HOST_LABEL = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    private static final Pattern REGISTRY = Pattern.compile(
            "(?:" + HOST_LABEL + "(?:\\." + HOST_LABEL + ")*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?");
    private static final Pattern PATH_COMPONENT =
            Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");

    public ImageReference {
        requireValid(registry != null && REGISTRY.matcher(registry).matches(),
                "invalid registry '" + registry + "'");
        requireValid(hasValidPort(registry), "invalid registry '" + registry
                + "': the port must be from 1 to " + MAX_PORT);
        requireValid(repository != null && isValidRepository(repository),
                "invalid repository '" + repository + "': expected lower-case components"
                        + " of letters and digits joined by '/' and single separators . _ __ -");
        requireValid(registry.length() + 1 + repository.length() <= MAX_NAME_LENGTH,
                "name '" + registry + "/" + repository + "' is longer than "
                        + MAX_NAME_LENGTH + " characters");
        requireValid(tag == null || TAG.matcher(tag).matches(), "invalid tag '" + tag + "'");
        requireValid(tag != null || digest != null,
                "reference " + registry + "/" + repository + " has neither a tag nor a digest");
    }

    /** Returns whether the port of {@code registry}, if it has one, is a TCP port. */
    private static boolean hasValidPort(String registry) {
        int colon = registry.lastIndexOf(':');
        if (colon < 0 || registry.endsWith("]") || registry.lastIndexOf(']') > colon) {
            return true;
        }
        String digits = registry.substring(colon + 1);
        // The pattern allows only digits here, and more than five are out of range anyway.
        if (digits.length() > 5) {
            return false;
        }
        int port = Integer.parseInt(digits);
        return port >= 1 && port <= MAX_PORT;
    }

    /**
     * Parses {@code text} with Docker's defaults (see the type's description).
     *
     * @throws IllegalArgumentException naming {@code text} and the part that is invalid
     */
    public static ImageReference parse(String text) {
        if (text == null || text.isEmpty()) {
            throw new IllegalArgumentException("invalid image reference: empty");
        }
        try {
            return parseValid(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid image reference '" + text + "': "
                    + e.getMessage(), e);
        }
    }

    private static ImageReference parseValid(String text) {
        String name = text;
        Digest digest = null;
        int at = name.indexOf('@');
        if (at >= 0) {
            digest = Digest.parse(name.substring(at + 1));
            name = name.substring(0, at);
        }

        String tag = null;
        int colon = name.lastIndexOf(':');
        if (colon > name.lastIndexOf('/')) {
            tag = name.substring(colon + 1);
            name = name.substring(0, colon);
        }
        if (tag == null && digest == null) {
            tag = DEFAULT_TAG;
        }

        String registry = DOCKER_HUB;
        String repository = name;
        int slash = name.indexOf('/');
        if (slash >= 0 && looksLikeRegistry(name.substring(0, slash))) {
            registry = name.substring(0, slash);
            repository = name.substring(slash + 1);
        }
        if (registry.equals("index.docker.io")) {
            registry = DOCKER_HUB;
        }
        if (registry.equals(DOCKER_HUB) && repository.indexOf('/') < 0) {
            repository = "library/" + repository;
        }
        return new ImageReference(registry, repository, tag, digest);
    }

    private static boolean looksLikeRegistry(String component) {
        return component.contains(".") || component.contains(":")
                || component.equals("localhost")
                || !component.equals(component.toLowerCase(Locale.ROOT));
    }

    private static boolean isValidRepository(String repository) {
        for (String component : repository.split("/", -1)) {
            if (!PATH_COMPONENT.matcher(component).matches()) {
                return false;
            }
        }
        return true;
    }

    private static void requireValid(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException(message);
        }
    }

    /** Returns a reference to the same repository with {@code newTag} and no digest. */
    public ImageReference withTag(String newTag) {
        return new ImageReference(registry, repository, newTag, null);
    }

    /** Returns a reference to the same repository by {@code newDigest} only. */
    public ImageReference withDigest(Digest newDigest) {
        return new ImageReference(registry, repository, null, newDigest);
    }

    /** Returns the repository this reference points into. */
    public Repository toRepository() {
        return new Repository(registry, repository);
    }

    /** Returns the manifest reference used in registry URLs: the digest if set, else the tag. */
    public String manifestReference() {
        return digest != null ? digest.toString() : tag;
    }

    /** Returns the host that serves the registry API, which differs only for Docker Hub. */
    public String apiHost() {
        return apiHost(registry);
    }

    /** Returns the host that serves the registry API of {@code registry}. */
    public static String apiHost(String registry) {
        return registry.equals(DOCKER_HUB) ? DOCKER_HUB_API_HOST : registry;
    }

    /** Returns {@code registry/repository[:tag][@digest]}. */
    @Override
    public String toString() {
        StringBuilder text = new StringBuilder(registry).append('/').append(repository);
        if (tag != null) {
            text.append(':').append(tag);
        }
        if (digest != null) {
            text.append('@').append(digest);
        }
        return text.toString();
    }
}
