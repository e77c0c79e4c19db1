package io.nydus.tar;

import java.io.EOFException;
import java.util.Locale;

/**
 * The entry a reader is working on, so that every error names it: its index, its name once
 * known, and the offset of the header block being read.
 */
final class EntryContext {

    /** Names longer than this are cut in messages, because a PAX path may be megabytes long. */
    private static final int MAX_SHOWN_NAME = 256;

    private int index;
    private Bytes name;
    private long headerOffset;

    /** Starts work on the header block at {@code offset} of entry {@code index}. */
    void startHeader(int index, long offset) {
        this.index = index;
        this.headerOffset = offset;
    }

    /** Forgets the name, before the first header of a new entry. */
    void clearName() {
        this.name = null;
    }

    void name(Bytes name) {
        this.name = name;
    }

    int index() {
        return index;
    }

    long headerOffset() {
        return headerOffset;
    }

    /** Returns an error about the current header: "tar entry N 'NAME' at offset 0xX: DETAIL". */
    TarFormatException error(String detail) {
        return new TarFormatException(prefix() + ": " + detail, headerOffset);
    }

    TarFormatException error(String detail, Throwable cause) {
        return new TarFormatException(prefix() + ": " + detail, headerOffset, cause);
    }

    /** Returns an error for a stream that ended at {@code offset} before the entry was complete. */
    TarFormatException truncated(long offset, String detail) {
        return new TarFormatException(
                "truncated tar stream at offset " + hex(offset) + " while reading " + entry()
                        + " (header at offset " + hex(headerOffset) + "): " + detail,
                offset);
    }

    /**
     * Returns an error for a decompressor that failed in a read starting at {@code offset} of its
     * output. The reader reads ahead, so the fault may lie past the current entry.
     */
    TarFormatException invalidStream(Compression compression, long offset, Exception cause) {
        String kind = compression.name().toLowerCase(Locale.ROOT);
        String problem = cause instanceof EOFException ? "truncated " : "invalid ";
        String message;
        if (cause.getMessage() != null) {
            message = cause.getMessage();
        } else if (cause instanceof EOFException) {
            message = "the compressed data ends before the archive does";
        } else {
            message = cause.getClass().getSimpleName();
        }
        return new TarFormatException(
                problem + kind + " stream in the data from tar offset " + hex(offset)
                        + " on, while reading "
                        + entry() + " (header at offset " + hex(headerOffset) + "): " + message,
                offset,
                cause);
    }

    static String hex(long offset) {
        return "0x" + Long.toHexString(offset);
    }

    /** Returns a value for a message, in quotes, cut to a readable length. */
    static String quote(Bytes value) {
        String text = value.length() > MAX_SHOWN_NAME
                ? value.slice(0, MAX_SHOWN_NAME) + "...(" + value.length() + " bytes)"
                : value.toString();
        return "'" + text + "'";
    }

    private String entry() {
        return name == null ? "tar entry " + index : "tar entry " + index + " " + quote(name);
    }

    private String prefix() {
        return entry() + " at offset " + hex(headerOffset);
    }
}
