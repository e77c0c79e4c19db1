package io.nydus.registry;

import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reads a blob source once from start to end while counting and hashing its bytes, and hands
 * them out in parts, one per upload request. When a request must go again, its part is read
 * once more from a reopened source, and the hash goes on from the part's start.
 */
final class SourceReader implements AutoCloseable {

    private final RequestTarget target;
    private final BlobSource source;
    private volatile HashingInputStream stream;
    /** The first failure of the source itself, which another attempt would meet again. */
    private volatile IOException sourceFailure;

    /** Opens {@code source}, the data of the blob of {@code target}. */
    SourceReader(RequestTarget target, BlobSource source) throws IOException {
        this.target = target;
        this.source = source;
        this.stream = new HashingInputStream(source.open());
    }

    /**
     * Returns the bytes from the current position on, as a source that a {@link PartBody}
     * opens for each attempt of a request. The first open reads on from this reader, and a
     * later one goes back to the part's start. Its streams leave this reader's stream open.
     * It can be opened again if the blob source can.
     */
    BlobSource nextPart() {
        Checkpoint start = stream.checkpoint();
        AtomicBoolean opened = new AtomicBoolean();
        return new BlobSource() {
            @Override
            public InputStream open() throws IOException {
                if (opened.getAndSet(true)) {
                    rewind(start);
                }
                return PartBody.leavingOpen(stream);
            }

            @Override
            public boolean reopenable() {
                return source.reopenable();
            }
        };
    }

    /**
     * Replaces the stream with one of a reopened source that starts at {@code start}. The
     * stream of the earlier attempt is closed, and the HTTP client may still be reading it,
     * but it updates a hash of its own.
     */
    private void rewind(Checkpoint start) throws IOException {
        // Retired before the close, so that a read of the earlier attempt that fails on the
        // closed stream is not taken for a failure of the source.
        stream.retire();
        stream.close();
        InputStream in;
        try {
            in = source.open();
        } catch (IOException e) {
            throw failed(e);
        }
        boolean skipped = false;
        try {
            in.skipNBytes(start.count());
            skipped = true;
        } catch (EOFException e) {
            throw new RegistryException(target, "the data of " + target.describe() + " ended"
                    + " before byte " + start.count() + " when it was opened again to send a"
                    + " request once more", e);
        } finally {
            if (!skipped) {
                in.close();
            }
        }
        stream = new HashingInputStream(in, start);
    }

    /**
     * Reads the next byte, or returns -1 at the end of the source. The uploader calls it after
     * the last part to find a source that is longer than the blob.
     */
    int read() throws IOException {
        return stream.read();
    }

    /** Returns how many bytes were read. */
    long count() {
        return stream.count();
    }

    /** Returns the digest of the bytes read. Call it once, after the last byte. */
    Digest digest() {
        return stream.digest();
    }

    @Override
    public void close() throws IOException {
        stream.close();
    }

    /**
     * Returns the failure of the blob source, such as a digest that does not match, if one
     * happened while a request read it. The HTTP client reports it as a failed request.
     */
    IOException sourceFailure() {
        return sourceFailure;
    }

    private IOException failed(IOException e) {
        if (sourceFailure == null) {
            sourceFailure = e;
        }
        return e;
    }

    /**
     * Records a failure of {@code from} unless a rewind retired it: the HTTP client may still
     * read a retired stream, which fails once it is closed.
     */
    private IOException failed(HashingInputStream from, IOException e) {
        return from.retired ? e : failed(e);
    }

    /** Counts and hashes the bytes read through it, and records the source's failures. */
    private final class HashingInputStream extends FilterInputStream {

        private final MessageDigest sha256;
        private long count;
        private volatile boolean retired;

        HashingInputStream(InputStream in) {
            super(in);
            this.sha256 = Digest.newSha256();
        }

        /** Creates a stream that goes on from {@code start}, whose bytes {@code in} skipped. */
        HashingInputStream(InputStream in, Checkpoint start) {
            super(in);
            this.sha256 = copy(start.sha256());
            this.count = start.count();
        }

        @Override
        public int read() throws IOException {
            int b;
            try {
                b = in.read();
            } catch (IOException e) {
                throw failed(this, e);
            }
            if (b >= 0) {
                sha256.update((byte) b);
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n;
            try {
                n = in.read(buffer, offset, length);
            } catch (IOException e) {
                throw failed(this, e);
            }
            if (n > 0) {
                sha256.update(buffer, offset, n);
                count += n;
            }
            return n;
        }

        @Override
        public long skip(long n) {
            return 0;
        }

        /** Marks the stream as replaced by a rewind, whose close makes its reads fail. */
        void retire() {
            retired = true;
        }

        long count() {
            return count;
        }

        Digest digest() {
            return Digest.fromHash(sha256.digest());
        }

        /** Returns the hash state after the bytes read so far. */
        Checkpoint checkpoint() {
            return new Checkpoint(copy(sha256), count);
        }

        private static MessageDigest copy(MessageDigest digest) {
            try {
                return (MessageDigest) digest.clone();
            } catch (CloneNotSupportedException e) {
                throw new IllegalStateException("the SHA-256 implementation "
                        + digest.getProvider() + " cannot copy its state", e);
            }
        }
    }

    /** The hash of the first {@code count} bytes of a stream, which no one updates. */
    private record Checkpoint(MessageDigest sha256, long count) {
    }
}
