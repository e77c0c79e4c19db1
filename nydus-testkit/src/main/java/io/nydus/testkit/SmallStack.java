package io.nydus.testkit;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs test code on a thread with a small stack, so that a walk that recurses once per tree
 * level overflows on every machine instead of only on those whose frames happen to be larger.
 *
 * <p>A tree may be thousands of levels deep. Recursion over such a tree fits the default
 * 1 MiB stack when the JIT has compiled the walk and overflows while it is still interpreted,
 * so a test on the default stack passes or fails by timing.
 */
public final class SmallStack {

    /**
     * The stack size in bytes: room for ordinary call chains of a few hundred frames, too
     * little for a frame per level of a tree 2048 levels deep.
     */
    public static final long BYTES = 256 * 1024;

    /** Test code that may throw. */
    @FunctionalInterface
    public interface Body {
        /** Runs the code. */
        void run() throws Exception;
    }

    private SmallStack() {
    }

    /**
     * Runs {@code body} on a new thread with a {@link #BYTES}-byte stack and waits for it.
     * Whatever it throws is thrown here as it is.
     */
    public static void run(Body body) throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread thread = new Thread(null, () -> {
            try {
                body.run();
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "small-stack", BYTES);
        thread.start();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw e;
        }
        switch (failure.get()) {
            case null -> {
            }
            case Error e -> throw e;
            case Exception e -> throw e;
            default -> throw new IllegalStateException(failure.get());
        }
    }
}
