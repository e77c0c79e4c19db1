package io.nydus.daemon;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * The node ids of the files read since the last {@link #drain}, for
 * {@code /api/v1/metrics/files?latest=true} with {@code latest_read_files}. A node id is a nid,
 * which fits an int because the bootstrap is read into one array.
 */
final class LatestReadFiles {
    private final BitSet read = new BitSet();

    synchronized void add(long nodeId) {
        read.set(Math.toIntExact(nodeId));
    }

    /**
     * Returns the node ids read since the last call, in ascending runs of consecutive ids, and
     * clears them. A run is {@code [first, last]} and a lone id is {@code [id]}, as in upstream
     * nydusd: ids 1, 2, 3 and 7 give {@code [[1, 3], [7]]}.
     */
    synchronized List<List<Long>> drain() {
        List<List<Long>> runs = new ArrayList<>();
        for (int first = read.nextSetBit(0); first >= 0; ) {
            int end = read.nextClearBit(first);
            int last = end - 1;
            runs.add(first == last ? List.of((long) first) : List.of((long) first, (long) last));
            first = read.nextSetBit(end);
        }
        read.clear();
        return runs;
    }
}
