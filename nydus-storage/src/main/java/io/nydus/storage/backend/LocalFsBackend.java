package io.nydus.storage.backend;

import io.nydus.storage.BlobBackend;
import io.nydus.storage.config.LocalFsConfig;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Blobs in local files: one file for every blob ({@code blob_file}), or files named by blob id
 * in {@code dir} and then in each of {@code alt_dirs}. Files stay open until {@link #close()}.
 */
public final class LocalFsBackend implements BlobBackend {
    private final LocalFsConfig config;
    private final BackendMetrics metrics;
    private final Map<String, FileChannel> open = new ConcurrentHashMap<>();
    private volatile boolean closed;

    public LocalFsBackend(LocalFsConfig config, BackendMetrics metrics) {
        this.config = config;
        this.metrics = metrics;
    }

    @Override
    public void read(String blobId, long offset, ByteBuffer target) throws IOException {
        long start = System.nanoTime();
        int length = target.remaining();
        try {
            FileChannel channel = channel(blobId);
            long at = offset;
            while (target.hasRemaining()) {
                int n = channel.read(target, at);
                if (n < 0) {
                    throw new EOFException("blob " + blobId + " in " + describe() + ": range "
                            + offset + "+" + length + " ends past the file's "
                            + channel.size() + " bytes");
                }
                at += n;
            }
        } catch (IOException e) {
            metrics.recordError(length, System.nanoTime() - start);
            throw e;
        }
        metrics.recordRead(length, System.nanoTime() - start);
    }

    @Override
    public long blobSize(String blobId) throws IOException {
        return channel(blobId).size();
    }

    @Override
    public String describe() {
        List<Path> dirs = new ArrayList<>();
        config.dir().ifPresent(dirs::add);
        dirs.addAll(config.altDirs());
        return config.blobFile().map(f -> "localfs file " + f).orElse("localfs " + dirs);
    }

    private FileChannel channel(String blobId) throws IOException {
        if (closed) {
            throw closedError(blobId);
        }
        FileChannel channel = open.get(blobId);
        if (channel != null) {
            return channel;
        }
        Path file = locate(blobId);
        FileChannel opened = FileChannel.open(file, StandardOpenOption.READ);
        FileChannel raced = open.putIfAbsent(blobId, opened);
        if (raced != null) {
            opened.close();
            return raced;
        }
        // A close that ran meanwhile did not see this channel, which would then stay open.
        if (closed) {
            open.remove(blobId, opened);
            opened.close();
            throw closedError(blobId);
        }
        return opened;
    }

    private IOException closedError(String blobId) {
        return new IOException("cannot read blob " + blobId + " from " + describe()
                + ": the backend is closed");
    }

    private Path locate(String blobId) throws IOException {
        if (blobId.isEmpty() || blobId.contains("/") || blobId.equals("..")) {
            throw new NoSuchFileException(blobId, null, "invalid blob id for a localfs backend");
        }
        List<Path> tried = candidates(blobId);
        for (Path candidate : tried) {
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new NoSuchFileException(blobId, null, "blob not found in " + tried);
    }

    private List<Path> candidates(String blobId) {
        if (config.blobFile().isPresent()) {
            return List.of(config.blobFile().get());
        }
        List<Path> paths = new ArrayList<>();
        config.dir().ifPresent(dir -> paths.add(dir.resolve(blobId)));
        config.altDirs().forEach(dir -> paths.add(dir.resolve(blobId)));
        return paths;
    }

    @Override
    public void close() throws IOException {
        closed = true;
        IOException failure = null;
        for (FileChannel channel : open.values()) {
            try {
                channel.close();
            } catch (IOException e) {
                failure = e;
            }
        }
        open.clear();
        if (failure != null) {
            throw failure;
        }
    }
}
