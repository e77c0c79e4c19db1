package io.nydus.storage;

import static io.nydus.storage.StorageFixture.config;
import static io.nydus.storage.StorageFixture.fileCache;
import static io.nydus.storage.StorageFixture.flipStoredByte;
import static io.nydus.storage.StorageFixture.registryBackend;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.rafs.blob.CiEntryV2;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Digest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.Repository;
import io.nydus.registry.TransportMode;
import io.nydus.storage.config.StorageConfig;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A ZRAN image served from a registry: the gzip layer and the ref blob are pushed as they are,
 * and each chunk is inflated from its ZRAN context after a range request of that context.
 */
class ZranStorageTest {
    private static final int CHUNK_SIZE = 64 << 10;

    private static TempDir images;
    private static Map<String, byte[]> files;
    private static Path tarGz;
    private static Path refBlob;
    private static DecodedBootstrap decoded;

    private TempDir dir;
    private RegistryServer registry;

    @BeforeAll
    static void buildImage() throws IOException {
        images = TempDirs.create("zran-storage-images");
        files = TestImage.generate(20, 1, 300_000, 9);
        Path source = Files.createDirectories(images.resolve("source"));
        for (Map.Entry<String, byte[]> file : files.entrySet()) {
            Files.write(source.resolve(file.getKey()), file.getValue());
        }
        tarGz = images.resolve("layer.tar.gz");
        Commands.run(List.of("sh", "-c", "tar -C \"$1\" -cf - . | gzip > \"$2\"", "sh",
                source.toString(), tarGz.toString()), Duration.ofMinutes(2));
        BuildOptions defaults = BuildOptions.defaults();
        BuildOptions options = new BuildOptions(defaults.compressor(), defaults.digester(),
                CHUNK_SIZE, defaults.whiteoutSpec(), 1, false, true);
        BuildResult result = new ImageBuilder(options).buildTargzRef(tarGz,
                images.resolve("image.boot"), ImageBuilder.BlobTarget.inDirectory(
                        Files.createDirectories(images.resolve("blobs"))));
        refBlob = result.blobFile();
        decoded = BootstrapReader.decode(result.bootstrapFile());
    }

    @AfterAll
    static void removeImage() throws IOException {
        images.close();
    }

    @BeforeEach
    void startRegistry() throws Exception {
        dir = TempDirs.create("zran-storage");
        registry = RegistryServer.startWithAccessLog(dir);
        Repository repository = registry.repository(StorageFixture.REPO);
        push(repository, tarGz);
        push(repository, refBlob);
    }

    @AfterEach
    void stopRegistry() throws IOException {
        registry.close();
        dir.close();
    }

    private static Digest push(Repository repository, Path file) throws IOException {
        Digest digest = Digest.of(Files.readAllBytes(file));
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP)
                .credentials(CredentialProvider.anonymous()).build();
                InputStream in = Files.newInputStream(file)) {
            client.pushBlob(repository, digest, Files.size(file), in);
        }
        return digest;
    }

    /**
     * Returns the blob table with the ref blob named by its registry digest, as a merged
     * bootstrap names it, in place of the builder's id.
     */
    private static List<BlobInfo> blobsWithPushedRefBlob() throws IOException {
        String pushed = Digest.of(Files.readAllBytes(refBlob)).hex();
        BlobInfo b = decoded.bootstrap().blobs().getFirst();
        return List.of(new BlobInfo(b.blobId(), b.chunkSize(), b.chunkCount(), b.compressor(),
                b.digester(), b.features(), b.compressedSize(), b.uncompressedSize(),
                b.tocSize(), b.ciCompressor(), b.ciOffset(), b.ciCompressedSize(),
                b.ciUncompressedSize(), b.tocDigest(), pushed, Files.size(refBlob),
                b.mappedBlockAddress()));
    }

    private ImageStorage open() throws IOException {
        StorageConfig config = config(registryBackend(registry, 0),
                fileCache(dir.resolve("cache")), 0, false, null);
        return ImageStorage.open(config, blobsWithPushedRefBlob(), decoded.chunkTable());
    }

    private static byte[] read(ImageStorage storage, String name) throws IOException {
        Node node = decoded.bootstrap().root().child(name.getBytes(StandardCharsets.UTF_8));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Chunk chunk : node.inode().chunks()) {
            byte[] data = new byte[chunk.uncompressedSize()];
            storage.read(chunk, 0, MemorySegment.ofArray(data));
            out.write(data);
        }
        return out.toByteArray();
    }

    @Test
    void everyFileReadsAsSource() throws IOException {
        try (ImageStorage storage = open()) {
            for (Map.Entry<String, byte[]> file : files.entrySet()) {
                assertArrayEquals(file.getValue(), read(storage, file.getKey()), file.getKey());
            }
        }
    }

    @Test
    void chunkTableIsKeptUnderRefBlobDigest() throws IOException {
        String refDigest = blobsWithPushedRefBlob().getFirst().metaDigest();
        try (ImageStorage storage = open()) {
            read(storage, files.keySet().iterator().next());
        }

        assertTrue(Files.isRegularFile(dir.resolve("cache").resolve(refDigest + ".blob.meta")),
                "cache files: " + Files.list(dir.resolve("cache")).toList());
    }

    @Test
    void corruptGzipLayerIsAnIoError() throws IOException {
        String name = files.keySet().stream().filter(n -> files.get(n).length > 200_000)
                .findFirst().orElseThrow();
        Node node = decoded.bootstrap().root().child(name.getBytes(StandardCharsets.UTF_8));
        Chunk chunk = node.inode().chunks().getFirst();
        Digest layer = Digest.of(Files.readAllBytes(tarGz));
        flipStoredByte(registry, layer, chunk.compressedOffset() + chunk.compressedSize() / 2);

        try (ImageStorage storage = open()) {
            IOException e = assertThrows(IOException.class, () -> read(storage, name));
            assertTrue(e.getMessage().contains("blob " + layer.hex()), e.getMessage());
            assertTrue(e.getMessage().contains("chunk"), e.getMessage());
        }
    }

    @Test
    void corruptRefBlobTableIsRejected() throws IOException {
        Digest ref = Digest.of(Files.readAllBytes(refBlob));
        String name = files.keySet().iterator().next();
        // The data field of CI entry 1: its offset in the ZRAN context, which the bootstrap
        // does not record, so only the ToC's digest of the table finds the change.
        flipStoredByte(registry, ref, CiEntryV2.SIZE + 16);

        try (ImageStorage storage = open()) {
            IOException e = assertThrows(IOException.class, () -> {
                for (String file : files.keySet()) {
                    read(storage, file);
                }
            });
            assertTrue(e.getMessage().contains(ref.hex()), e.getMessage());
        }
        Path metaFile = dir.resolve("cache").resolve(ref.hex() + ".blob.meta");
        assertFalse(Files.exists(metaFile), "a corrupt table was kept");

        flipStoredByte(registry, ref, CiEntryV2.SIZE + 16);
        try (ImageStorage storage = open()) {
            assertArrayEquals(files.get(name), read(storage, name));
        }
    }
}
