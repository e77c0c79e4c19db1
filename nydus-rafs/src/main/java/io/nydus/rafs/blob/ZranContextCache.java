package io.nydus.rafs.blob;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The inflated output of recently read ZRAN contexts, shared by every open blob reader and
 * bounded to {@link #LIMIT} bytes in all, least recently used first out. Files are read in
 * tree order and not in tarball order, so the chunks of one context are read at different
 * times, and each would otherwise inflate the context from its start again.
 */
final class ZranContextCache {
    /** About 85 contexts of upstream's usual 750 KiB output. */
    static final long LIMIT = 64 << 20;

    private record Key(Object owner, int index) {
    }

    private static final Map<Key, byte[]> CONTEXTS = new LinkedHashMap<>(16, 0.75f, true);
    private static long bytes;

    private ZranContextCache() {
    }

    /** Returns the output of context {@code index} of {@code owner}'s blob, or null. */
    static synchronized byte[] get(Object owner, int index) {
        return CONTEXTS.get(new Key(owner, index));
    }

    /**
     * Keeps a context's output, dropping the least recently used ones beyond the limit. An
     * output larger than the limit is not kept, so that it does not push out every other one.
     */
    static synchronized void put(Object owner, int index, byte[] output) {
        if (output.length > LIMIT) {
            return;
        }
        byte[] previous = CONTEXTS.put(new Key(owner, index), output);
        bytes += output.length - (previous == null ? 0 : previous.length);
        Iterator<byte[]> oldest = CONTEXTS.values().iterator();
        while (bytes > LIMIT && oldest.hasNext()) {
            byte[] dropped = oldest.next();
            if (dropped != output) {
                bytes -= dropped.length;
                oldest.remove();
            }
        }
    }

    /** Drops every context of {@code owner}, whose blob was closed. */
    static synchronized void drop(Object owner) {
        Iterator<Map.Entry<Key, byte[]>> entries = CONTEXTS.entrySet().iterator();
        while (entries.hasNext()) {
            Map.Entry<Key, byte[]> e = entries.next();
            if (e.getKey().owner() == owner) {
                bytes -= e.getValue().length;
                entries.remove();
            }
        }
    }
}
