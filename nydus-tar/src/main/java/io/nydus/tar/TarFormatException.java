package io.nydus.tar;

import java.io.IOException;

/**
 * A tar stream that is corrupt, truncated or uses a feature this reader does not support. The
 * message names the entry (index and name when known), the offset in the decompressed stream,
 * the field and its value.
 */
public class TarFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    private final long offset;

    public TarFormatException(String message, long offset) {
        super(message);
        this.offset = offset;
    }

    public TarFormatException(String message, long offset, Throwable cause) {
        super(message, cause);
        this.offset = offset;
    }

    /** Returns the offset in the decompressed tar stream where the problem was found. */
    public long offset() {
        return offset;
    }
}
