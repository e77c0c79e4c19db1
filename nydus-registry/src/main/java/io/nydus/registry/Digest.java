package io.nydus.registry;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A SHA-256 content digest, written {@code sha256:} followed by 64 lower-case hex digits.
 *
 * @param hex the 64 lower-case hex digits, without the {@code sha256:} prefix
 */
public record Digest(String hex) implements java.io.Serializable {

    /** The algorithm prefix, including its colon. */
    public static final String SHA256_PREFIX = "sha256:";

    private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");

    public Digest {
        if (hex == null || !HEX.matcher(hex).matches()) {
            throw new IllegalArgumentException("invalid sha256 digest hex '" + hex
                    + "': expected 64 lower-case hex digits");
        }
    }

    /**
     * Parses {@code sha256:<64 hex digits>}.
     *
     * @throws IllegalArgumentException naming {@code text} if it is not such a digest
     */
    public static Digest parse(String text) {
        if (text == null || !text.startsWith(SHA256_PREFIX)
                || !HEX.matcher(text.substring(SHA256_PREFIX.length())).matches()) {
            throw new IllegalArgumentException("invalid digest '" + text
                    + "': expected sha256: followed by 64 lower-case hex digits");
        }
        return new Digest(text.substring(SHA256_PREFIX.length()));
    }

    /** Returns the digest of {@code data}. */
    public static Digest of(byte[] data) {
        return fromHash(newSha256().digest(data));
    }

    /** Returns the digest whose raw 32-byte SHA-256 value is {@code hash}. */
    public static Digest fromHash(byte[] hash) {
        return new Digest(HexFormat.of().formatHex(hash));
    }

    /** Returns a new SHA-256 message digest. */
    static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime must provide SHA-256", e);
        }
    }

    /** Returns {@code sha256:<hex>}. */
    @Override
    public String toString() {
        return SHA256_PREFIX + hex;
    }
}
