package io.nydus.registry;

import java.io.IOException;

/**
 * A registry request that failed: the registry rejected it, the content was wrong, or the
 * connection failed. Messages name the registry, repository and manifest or blob.
 */
public class RegistryException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String registry;
    private final String repository;
    private boolean transientFailure;

    RegistryException(RequestTarget target, String message, Throwable cause) {
        super(message, cause);
        this.registry = target.registry();
        this.repository = target.repository();
    }

    /**
     * Returns {@code failure} as text with its root cause, because the JDK HTTP client often
     * reports a timeout or reset as the cause of a generic "closed" exception.
     */
    static String describe(Throwable failure) {
        Throwable root = failure;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == failure ? failure.toString() : failure + " (caused by " + root + ")";
    }

    /** Returns the registry host. */
    public String registry() {
        return registry;
    }

    /**
     * Returns whether the failure may pass if the operation is repeated: a connection failure
     * or a 5xx or 429 status.
     */
    public boolean isTransient() {
        return transientFailure;
    }

    final void setTransient(boolean value) {
        transientFailure = value;
    }

    /** Returns the repository name, or null if the request was outside a repository. */
    public String repository() {
        return repository;
    }
}
