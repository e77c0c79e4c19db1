package io.nydus.builder;

import io.nydus.rafs.digest.Blake3;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Hashes a small buffer on a background thread while a build reads its source's metadata, so
 * that the JIT compiles the vector BLAKE3 code before file data arrives. Until then the vector
 * code runs uncompiled at a small fraction of its speed, which cost a 494 MiB build about a
 * second. The metadata walk uses one core, so the other one is free for this.
 */
final class DigestWarmUp {
    /** Upper bound on the warm-up, in case a source never reaches its file data. */
    private static final long MAX_NANOS = 3_000_000_000L;
    private static final AtomicBoolean STARTED = new AtomicBoolean();
    private static volatile boolean stopped;

    private DigestWarmUp() {
    }

    /** Starts the warm-up once per JVM; later calls do nothing. */
    static void start() {
        if (STARTED.compareAndSet(false, true)) {
            Thread.ofPlatform().daemon().name("blake3-warm-up").start(DigestWarmUp::run);
        }
    }

    /** Ends the warm-up, because real data now keeps the code hot. */
    static void stop() {
        stopped = true;
    }

    private static void run() {
        byte[] buffer = new byte[64 * 1024];
        for (int i = 0; i < buffer.length; i++) {
            buffer[i] = (byte) (i * 31 + (i >>> 8));
        }
        long deadline = System.nanoTime() + MAX_NANOS;
        while (!stopped && System.nanoTime() < deadline) {
            Blake3.hash(buffer);
        }
    }
}
