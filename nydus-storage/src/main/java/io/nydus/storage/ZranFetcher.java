package io.nydus.storage;

import io.nydus.rafs.blob.CiEntryV2;
import io.nydus.rafs.blob.CiTableV2;
import io.nydus.rafs.blob.ZranContext;
import io.nydus.rafs.blob.ZranInflater;
import io.nydus.storage.ChunkFetcher.Claim;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches chunks of a ZRAN blob, whose data is a gzip layer. The claimed chunks of one ZRAN
 * context are served by one request of that context's compressed bytes. Those are inflated
 * once, from the context's start to the end of the last claimed chunk. A read therefore keeps
 * at most one context's input and output in memory.
 */
final class ZranFetcher {
    private static final Logger LOG = LoggerFactory.getLogger(ZranFetcher.class);

    private final ChunkFetcher fetcher;
    private final BlobBackend backend;

    ZranFetcher(ChunkFetcher fetcher, BlobBackend backend) {
        this.fetcher = fetcher;
        this.backend = backend;
    }

    /**
     * Fetches the claimed chunks, which are in increasing CI order, and completes every claim.
     *
     * @return the number of backend requests made
     */
    int fetch(BlobState blob, List<Claim> claims) {
        if (claims.isEmpty()) {
            return 0;
        }
        CiTableV2 table;
        try {
            table = blob.zranTable();
        } catch (IOException e) {
            fetcher.fail(blob, claims, e);
            return 0;
        }
        int requests = 0;
        int start = 0;
        while (start < claims.size()) {
            int context = contextOf(table, claims.get(start));
            int end = start + 1;
            while (end < claims.size() && contextOf(table, claims.get(end)) == context) {
                end++;
            }
            List<Claim> group = claims.subList(start, end);
            try {
                fetchContext(blob, table, context, group);
            } catch (IOException e) {
                fetcher.fail(blob, group, e);
            } catch (RuntimeException | Error e) {
                fetcher.fail(blob, claims.subList(start, claims.size()), new IOException(
                        "fetching blob " + blob.id() + " failed: " + e, e));
                throw e;
            }
            requests++;
            start = end;
        }
        return requests;
    }

    private static int contextOf(CiTableV2 table, Claim claim) {
        return table.entries().get(claim.chunk().index()).zranIndex();
    }

    private void fetchContext(BlobState blob, CiTableV2 table, int index, List<Claim> group)
            throws IOException {
        ZranContext context = table.contexts().get(index);
        long from = Long.MAX_VALUE;
        long to = 0;
        for (Claim claim : group) {
            CiEntryV2 e = table.entries().get(claim.chunk().index());
            from = Math.min(from, e.zranOffset());
            to = Math.max(to, e.zranOffset() + e.uncompressedSize());
        }
        ByteBuffer input = ByteBuffer.allocate(context.inLength());
        backend.read(blob.id(), context.inOffset(), input);
        String where = "blob " + blob.id() + " ZRAN context " + index + " (compressed offset "
                + context.inOffset() + " size " + context.inLength() + ") for chunks "
                + group.getFirst().chunk().index() + ".." + group.getLast().chunk().index();
        byte[] output = ZranInflater.inflate(context, input.array(), from, (int) (to - from),
                where);
        List<Claim> good = new ArrayList<>(group.size());
        List<byte[]> data = new ArrayList<>(group.size());
        for (Claim claim : group) {
            CiEntryV2 e = table.entries().get(claim.chunk().index());
            int at = (int) (e.zranOffset() - from);
            byte[] chunk = Arrays.copyOfRange(output, at, at + e.uncompressedSize());
            try {
                ChunkFetcher.verify(blob, claim.chunk(), chunk, "inflated");
                good.add(claim);
                data.add(chunk);
            } catch (IOException ex) {
                fetcher.reject(blob, claim, ex.getMessage() + " (fetched from "
                        + backend.describe() + ")");
            }
        }
        fetcher.complete(blob, good, data);
        LOG.debug("inflated {} chunks of {}", good.size(), where);
    }
}
