package io.nydus.snapshotter;

/** A failed snapshot operation, with the reason that maps to a gRPC status code. */
public final class SnapshotException extends Exception {
    private static final long serialVersionUID = 1L;

    /** The class of a failure, as containerd's error classes name it. */
    public enum Reason {
        NOT_FOUND,
        ALREADY_EXISTS,
        INVALID_ARGUMENT,
        FAILED_PRECONDITION,
        UNAVAILABLE,
        DEADLINE_EXCEEDED,
        INTERNAL
    }

    private final Reason reason;

    public SnapshotException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public SnapshotException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }

    static SnapshotException notFound(String key) {
        return new SnapshotException(Reason.NOT_FOUND, "snapshot '" + key + "' not found");
    }
}
