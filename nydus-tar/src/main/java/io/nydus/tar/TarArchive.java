package io.nydus.tar;

import com.github.luben.zstd.ZstdInputStream;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * Opens tar streams, plain or compressed, for reading with a {@link TarReader}.
 *
 * <p>Gzip is decoded by commons-compress with concatenated members and every optional header
 * field (FEXTRA, FNAME, FCOMMENT, FHCRC); zstd by zstd-jni, frame after frame, with a stream that
 * ends inside a frame reported as truncated.
 */
public final class TarArchive {

    private static final int SOURCE_BUFFER_SIZE = 64 * 1024;
    private static final int MAGIC_LENGTH = 6;

    private TarArchive() {}

    /**
     * Opens a tar stream with the compression its first bytes show: gzip, zstd, or else none.
     * Once this returns, the reader owns the stream and closes it. If this throws, the caller
     * still owns it.
     *
     * @throws TarFormatException if the stream is compressed with xz, bzip2 or lz4, or its gzip
     *     header is invalid
     * @throws IOException if reading the first bytes fails
     */
    public static TarReader open(InputStream in) throws IOException {
        return open(in, false);
    }

    /**
     * Opens a tar stream as {@link #open(InputStream)} does, and also hashes the uncompressed
     * stream for {@link TarReader#uncompressedSha256}, on the thread that reads ahead.
     */
    public static TarReader openHashing(InputStream in) throws IOException {
        return open(in, true);
    }

    private static TarReader open(InputStream in, boolean hash) throws IOException {
        BufferedInputStream source = buffered(in);
        Compression compression = detect(source);
        return new TarReader(decompress(source, compression), compression, hash);
    }

    /**
     * Opens a tar stream with the given compression, without looking at its first bytes. Once
     * this returns, the reader owns the stream and closes it. If this throws, the caller still
     * owns it.
     *
     * @throws TarFormatException if a gzip header is invalid
     * @throws IOException if reading the gzip header fails
     */
    public static TarReader open(InputStream in, Compression compression) throws IOException {
        return new TarReader(decompress(buffered(in), compression), compression, false);
    }

    private static BufferedInputStream buffered(InputStream in) {
        return new BufferedInputStream(new SourceStream(in), SOURCE_BUFFER_SIZE);
    }

    /**
     * Returns the compression that the first bytes of {@code source} show, leaving the stream
     * where it was.
     */
    static Compression detect(BufferedInputStream source) throws IOException {
        source.mark(MAGIC_LENGTH);
        byte[] magic;
        try {
            magic = source.readNBytes(MAGIC_LENGTH);
            source.reset();
        } catch (SourceStream.SourceException e) {
            throw e.sourceError();
        }
        return detect(magic);
    }

    static Compression detect(byte[] magic) throws TarFormatException {
        if (startsWith(magic, 0x1f, 0x8b)) {
            return Compression.GZIP;
        }
        if (startsWith(magic, 0x28, 0xb5, 0x2f, 0xfd)
                || (magic.length >= 4 && (magic[0] & 0xf0) == 0x50
                        && startsWith(Arrays.copyOfRange(magic, 1, 4), 0x2a, 0x4d, 0x18))) {
            return Compression.ZSTD;
        }
        String unsupported = startsWith(magic, 0xfd, '7', 'z', 'X', 'Z', 0) ? "xz"
                : startsWith(magic, 'B', 'Z', 'h') ? "bzip2"
                : startsWith(magic, 0x04, 0x22, 0x4d, 0x18) ? "lz4"
                : null;
        if (unsupported != null) {
            throw new TarFormatException("unsupported tar stream compression " + unsupported
                    + ": only gzip, zstd and uncompressed tar are read", 0);
        }
        return Compression.NONE;
    }

    private static InputStream decompress(BufferedInputStream source, Compression compression)
            throws IOException {
        return switch (compression) {
            case NONE -> source;
            case GZIP -> openGzip(source);
            case ZSTD -> new ZstdInputStream(source).setContinuous(false);
        };
    }

    private static InputStream openGzip(BufferedInputStream source) throws IOException {
        try {
            // The constructor reads the first member's header.
            return GzipCompressorInputStream.builder()
                    .setInputStream(source)
                    .setDecompressConcatenated(true)
                    .get();
        } catch (SourceStream.SourceException e) {
            throw e.sourceError();
        } catch (java.io.EOFException e) {
            throw new TarFormatException("truncated gzip stream: it ends inside the gzip header"
                    + " at offset 0", 0, e);
        } catch (IOException e) {
            String detail = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw new TarFormatException("invalid gzip header at offset 0 of the tar stream: "
                    + detail, 0, e);
        }
    }

    private static boolean startsWith(byte[] bytes, int... prefix) {
        if (bytes.length < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if ((bytes[i] & 0xff) != prefix[i]) {
                return false;
            }
        }
        return true;
    }
}
