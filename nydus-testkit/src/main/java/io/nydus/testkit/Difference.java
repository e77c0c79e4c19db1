package io.nydus.testkit;

import io.nydus.posix.BytePath;
import java.util.Objects;

/**
 * One way in which an actual tree differs from the expected one.
 *
 * @param path the relative path, as in {@link TreeSnapshot}
 * @param field what differs
 * @param expected the expected value in words; {@link #ABSENT} for an extra entry or xattr
 * @param actual the actual value in words; {@link #ABSENT} for a missing entry or xattr
 */
public record Difference(BytePath path, Field field, String expected, String actual) {

    /** The value text of an entry or extended attribute that one tree does not have. */
    public static final String ABSENT = "(absent)";

    /** The compared properties of an entry. */
    public enum Field {
        /** The entry exists in only one tree; the other side reads {@link #ABSENT}. */
        ENTRY,
        TYPE,
        /** Permission bits including setuid, setgid and sticky, in octal. */
        MODE,
        UID,
        GID,
        SIZE,
        /** Modification time with nanoseconds. */
        MTIME,
        LINK_TARGET,
        /** Device numbers as "major:minor". */
        RDEV,
        /** One extended attribute, shown as "name=value". */
        XATTR,
        NLINK,
        /** The other paths sharing the inode. */
        HARDLINKS,
        /** The SHA-256 of a regular file's content. */
        CONTENT
    }

    /** Checks that no component is null. */
    public Difference {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(field, "field");
        Objects.requireNonNull(expected, "expected");
        Objects.requireNonNull(actual, "actual");
    }

    /** Returns a line such as {@code a/b\xff: MODE expected 0644, actual 0755}. */
    @Override
    public String toString() {
        return path + ": " + field + " expected " + expected + ", actual " + actual;
    }
}
