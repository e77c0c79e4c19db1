package io.nydus.cli;

/** The option {@code --push-chunk-size}: the largest body of one upload request to a registry. */
final class PushChunkSize {
    /** Sizes below this turn one upload into thousands of requests, each a round trip. */
    private static final long MIN_BYTES = 64 << 10;

    static final String DESCRIPTION = "Upload each blob larger than this in PATCH requests of"
            + " at most this size, from 64KiB, such as 16MB (10^6 bytes) or 64MiB (2^20"
            + " bytes), for registries or proxies that limit the size of a request. 0, the"
            + " default, keeps the client's requests of up to 128 MiB.";

    private PushChunkSize() {
    }

    /**
     * Returns the size in bytes, or 0 for the client's own.
     *
     * @throws IllegalArgumentException naming the value if it is not a size, below 64 KiB, or
     *     above what one request can carry
     */
    static int parse(String text) {
        long bytes = Numbers.parseBytes("--push-chunk-size", text);
        // A size in bytes where KiB or MB was meant is the likely cause of a tiny value.
        if (bytes > 0 && bytes < MIN_BYTES) {
            throw new IllegalArgumentException("--push-chunk-size '" + text
                    + "' is below the minimum of 64KiB; give 0 for the default");
        }
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("--push-chunk-size '" + text
                    + "' is larger than the 2 GiB a request can carry");
        }
        return (int) bytes;
    }
}
