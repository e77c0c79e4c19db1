package io.nydus.registry;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/** The data of a blob to push, opened once per upload attempt. */
public interface BlobSource {

    /** Opens a new stream over the whole blob. */
    InputStream open() throws IOException;

    /** Returns whether {@link #open} can be called again, so that a failed upload can restart. */
    default boolean reopenable() {
        return true;
    }

    /** Returns a source of the file at {@code path}. */
    static BlobSource of(Path path) {
        return () -> Files.newInputStream(path);
    }

    /** Returns a source of {@code data}, which the caller must not change. */
    static BlobSource of(byte[] data) {
        return () -> new ByteArrayInputStream(data);
    }

    /**
     * Returns a source that can be opened once only: an upload from it is never restarted, and
     * its requests never go again, not even with a new token.
     */
    static BlobSource once(InputStream stream) {
        AtomicBoolean opened = new AtomicBoolean();
        return new BlobSource() {
            @Override
            public InputStream open() {
                if (opened.getAndSet(true)) {
                    throw new IllegalStateException("this blob stream was already read");
                }
                return stream;
            }

            @Override
            public boolean reopenable() {
                return false;
            }
        };
    }
}
