package io.nydus.registry;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;

/**
 * A blob stream that hashes what it reads and, at its end, throws if the digest or the size
 * differs from the expected one. Read errors are rethrown naming the blob.
 */
final class VerifyingInputStream extends FilterInputStream {

    private final RequestTarget target;
    private final Digest expected;
    private final long expectedSize;
    private final MessageDigest sha256 = Digest.newSha256();
    private long count;
    private boolean verified;

    /**
     * @param expectedSize the size in bytes, or -1 if unknown
     */
    VerifyingInputStream(InputStream in, RequestTarget target, Digest expected,
            long expectedSize) {
        super(in);
        this.target = target;
        this.expected = expected;
        this.expectedSize = expectedSize;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        int n;
        try {
            n = in.read(buffer, offset, length);
        } catch (RegistryException e) {
            throw e;
        } catch (IOException e) {
            throw new RegistryException(target, "reading " + target.describe() + " failed after "
                    + count + " bytes: " + RegistryException.describe(e), e);
        }
        if (n < 0) {
            verify();
            return -1;
        }
        sha256.update(buffer, offset, n);
        count += n;
        if (expectedSize >= 0 && count > expectedSize) {
            throw new RegistryException(target, target.describe() + " is longer than its "
                    + expectedSize + " bytes", null);
        }
        return n;
    }

    @Override
    public long skip(long n) throws IOException {
        // Skipped bytes must be hashed too, so they are read.
        byte[] buffer = new byte[(int) Math.min(Math.max(n, 0), 8192)];
        int read = read(buffer, 0, buffer.length);
        return Math.max(read, 0);
    }

    @Override
    public boolean markSupported() {
        return false;
    }

    private void verify() throws RegistryException {
        if (verified) {
            return;
        }
        verified = true;
        if (expectedSize >= 0 && count != expectedSize) {
            throw new RegistryException(target, target.describe() + " ended after " + count
                    + " of " + expectedSize + " bytes", null);
        }
        Digest actual = Digest.fromHash(sha256.digest());
        if (!actual.equals(expected)) {
            throw new DigestMismatchException(target, expected, actual, count);
        }
    }
}
