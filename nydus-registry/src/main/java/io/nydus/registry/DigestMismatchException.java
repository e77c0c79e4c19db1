package io.nydus.registry;

/** Content from or for a registry whose SHA-256 digest differs from the expected one. */
public final class DigestMismatchException extends RegistryException {

    private static final long serialVersionUID = 1L;

    private final Digest expected;
    private final Digest actual;

    DigestMismatchException(RequestTarget target, Digest expected, Digest actual, long bytes) {
        super(target, target.describe() + ": digest mismatch: expected " + expected
                + ", actual " + actual + " over " + bytes + " bytes", null);
        this.expected = expected;
        this.actual = actual;
    }

    public Digest expected() {
        return expected;
    }

    public Digest actual() {
        return actual;
    }
}
