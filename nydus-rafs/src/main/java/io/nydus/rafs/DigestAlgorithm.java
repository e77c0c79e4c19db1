package io.nydus.rafs;

import io.nydus.rafs.digest.Blake3;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;

/** Chunk digest algorithms, with the numeric codes that blob tables store. */
public enum DigestAlgorithm {
    BLAKE3(0, "blake3"),
    SHA256(1, "sha256");

    /** Both algorithms produce 32-byte digests. */
    public static final int DIGEST_SIZE = 32;

    private final int code;
    private final String label;

    DigestAlgorithm(int code, String label) {
        this.code = code;
        this.label = label;
    }

    public int code() {
        return code;
    }

    public String label() {
        return label;
    }

    public static DigestAlgorithm fromCode(int code) throws RafsFormatException {
        for (DigestAlgorithm d : values()) {
            if (d.code == code) {
                return d;
            }
        }
        throw new RafsFormatException("unknown digest algorithm code " + code);
    }

    public static DigestAlgorithm fromLabel(String label) {
        String requested = label.toLowerCase(Locale.ROOT);
        for (DigestAlgorithm d : values()) {
            if (d.label.equals(requested)) {
                return d;
            }
        }
        throw new IllegalArgumentException(
                "unknown digester '" + label + "', expected blake3 or sha256");
    }

    /** Computes the 32-byte digest of {@code length} bytes at {@code offset}. */
    public byte[] digest(byte[] data, int offset, int length) {
        return switch (this) {
            case BLAKE3 -> Blake3.hash(data, offset, length);
            case SHA256 -> sha256(data, offset, length);
        };
    }

    private static byte[] sha256(byte[] data, int offset, int length) {
        MessageDigest md = newSha256();
        md.update(data, offset, length);
        return md.digest();
    }

    /** Returns a fresh SHA-256 {@link MessageDigest}, which every JDK provides. */
    public static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return label;
    }
}
