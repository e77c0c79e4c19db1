package io.nydus.storage;

import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.storage.config.StorageConfig;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A second process for {@link CacheSharingTest}: reads every file of a bootstrap through a
 * storage opened from a configuration file, then prints the number of chunks read.
 *
 * <p>Arguments: the configuration file, the bootstrap file and the blob id to use.
 */
public final class CacheSharingMain {
    private CacheSharingMain() {
    }

    public static void main(String[] args) throws Exception {
        StorageConfig config = StorageConfig.parse(Files.readString(Path.of(args[0])), Map.of());
        DecodedBootstrap decoded = BootstrapReader.decode(Path.of(args[1]));
        List<BlobInfo> blobs = decoded.bootstrap().blobs().stream()
                .map(b -> b.withBlobId(args[2])).toList();
        int chunks = 0;
        try (ImageStorage storage = ImageStorage.open(config, blobs, decoded.chunkTable())) {
            for (Node node : decoded.bootstrap().root().children()) {
                for (Chunk chunk : node.inode().chunks()) {
                    storage.read(chunk, 0, MemorySegment.ofArray(
                            new byte[chunk.uncompressedSize()]));
                    chunks++;
                }
            }
        }
        System.out.println("read " + chunks);
    }
}
