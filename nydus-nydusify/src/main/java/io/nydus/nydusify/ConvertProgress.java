package io.nydus.nydusify;

/**
 * Receives the progress of each layer of a conversion, for a display. One layer's blob is
 * pushed while the next layer is built, and pushed bytes are reported from the HTTP client's
 * threads, so an implementation must be thread-safe. Byte counts are totals so far, not
 * increments. Every method does nothing by default.
 */
public interface ConvertProgress {
    /** A listener that ignores every event. */
    ConvertProgress NONE = new ConvertProgress() {
    };

    /**
     * Reports that a layer starts.
     *
     * @param layer names the layer, such as {@code linux/amd64 2/5 sha256:...}
     * @param sourceSize the size of the source layer
     */
    default void started(String layer, long sourceSize) {
    }

    /** Reports the bytes of the source layer read so far. */
    default void pulled(String layer, long bytes) {
    }

    /** Reports that the data blob is built, with {@code bytes} bytes. */
    default void built(String layer, long bytes) {
    }

    /** Reports the bytes of the data blob sent to the target so far. */
    default void pushed(String layer, long bytes) {
    }

    /** Reports that the layer is done. */
    default void finished(String layer, LayerResult result) {
    }
}
