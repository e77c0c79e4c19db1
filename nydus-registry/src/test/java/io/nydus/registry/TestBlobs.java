package io.nydus.registry;

import java.util.Random;

/** Deterministic test content. */
final class TestBlobs {

    private TestBlobs() {
    }

    /** Returns {@code size} pseudo-random bytes; equal seeds give equal bytes. */
    static byte[] random(int size, long seed) {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        return data;
    }
}
