package io.nydus.storage;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BlobInfo;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.Digest;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.Repository;
import io.nydus.registry.TransportMode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * An image built with {@link ImageBuilder} from generated files, with its one blob renamed to
 * the blob file's sha256 (as nydusify names pushed blobs) so that a registry can store it.
 */
public final class TestImage {
    public final Map<String, byte[]> files;
    public final Map<String, List<Chunk>> chunks;
    public final List<BlobInfo> blobs;
    public final List<Chunk> chunkTable;
    public final Path blobFile;
    public final Digest digest;
    public final Path bootstrapFile;

    private TestImage(Map<String, byte[]> files, Map<String, List<Chunk>> chunks,
            List<BlobInfo> blobs, List<Chunk> chunkTable, Path blobFile, Digest digest,
            Path bootstrapFile) {
        this.files = files;
        this.chunks = chunks;
        this.blobs = blobs;
        this.chunkTable = chunkTable;
        this.blobFile = blobFile;
        this.digest = digest;
        this.bootstrapFile = bootstrapFile;
    }

    /**
     * Returns {@code count} files of {@code minSize} to {@code maxSize} bytes, half of them
     * compressible.
     */
    public static Map<String, byte[]> generate(int count, int minSize, int maxSize, long seed) {
        Random random = new Random(seed);
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            byte[] data = new byte[minSize + random.nextInt(maxSize - minSize + 1)];
            if (i % 2 == 0) {
                random.nextBytes(data);
            } else {
                byte[] text = ("file " + i + " line of text for compression\n")
                        .getBytes(StandardCharsets.US_ASCII);
                for (int j = 0; j < data.length; j++) {
                    data[j] = j % 97 == 0 ? (byte) random.nextInt() : text[j % text.length];
                }
            }
            files.put(String.format("f%04d", i), data);
        }
        return files;
    }

    /** Builds an image of {@code files} in {@code dir} with chunks of {@code chunkSize} bytes. */
    public static TestImage build(Path dir, Map<String, byte[]> files, int chunkSize)
            throws IOException {
        Path source = Files.createDirectories(dir.resolve("source"));
        for (Map.Entry<String, byte[]> file : files.entrySet()) {
            Files.write(source.resolve(file.getKey()), file.getValue());
        }
        BuildOptions options = new BuildOptions(Compressor.ZSTD, DigestAlgorithm.BLAKE3,
                chunkSize, WhiteoutSpec.OCI, 2, false, true);
        Path built = dir.resolve("built.blob");
        BuildResult result = new ImageBuilder(options).buildDirectory(source,
                dir.resolve("image.boot"), ImageBuilder.BlobTarget.toFile(built));
        Digest digest = Digest.of(Files.readAllBytes(built));
        Path blobDir = Files.createDirectories(dir.resolve("blobs"));
        Path blobFile = Files.move(built, blobDir.resolve(digest.hex()));
        DecodedBootstrap decoded = BootstrapReader.decode(result.bootstrapFile());
        List<BlobInfo> blobs = decoded.bootstrap().blobs().stream()
                .map(b -> b.withBlobId(digest.hex())).toList();
        Map<String, List<Chunk>> chunks = new LinkedHashMap<>();
        Node root = decoded.bootstrap().root();
        for (String name : files.keySet()) {
            Node node = root.child(name.getBytes(StandardCharsets.UTF_8));
            chunks.put(name, node.inode().chunks());
        }
        return new TestImage(files, chunks, blobs, decoded.chunkTable(), blobFile, digest,
                result.bootstrapFile());
    }

    /**
     * Puts the blob's CI table into {@code cacheDir} as a {@code .blob.meta} file, as a mount
     * tool does with the one a converter ships in the bootstrap layer.
     */
    public void installBlobMeta(Path cacheDir) throws IOException {
        Files.createDirectories(cacheDir);
        try (BlobReader reader = BlobReader.open(blobFile, null)) {
            Files.write(cacheDir.resolve(blobId() + BlobMetaFile.SUFFIX),
                    reader.meta().blobMetaFile().orElseThrow().encode());
        }
    }

    public String blobId() {
        return digest.hex();
    }

    public BlobInfo blob() {
        return blobs.getFirst();
    }

    /** Pushes the blob to {@code repository}. */
    public void push(Repository repository) throws IOException {
        push(repository, CredentialProvider.anonymous());
    }

    /** Pushes the blob to {@code repository} with {@code credentials}. */
    public void push(Repository repository, CredentialProvider credentials) throws IOException {
        try (RegistryClient client = RegistryClient.builder()
                .transportMode(TransportMode.PLAIN_HTTP).credentials(credentials).build();
                InputStream in = Files.newInputStream(blobFile)) {
            client.pushBlob(repository, digest, Files.size(blobFile), in);
        }
    }

    /** Reads file {@code name} through {@code source}, chunk by chunk. */
    public byte[] read(ChunkSource source, String name) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Chunk chunk : chunks.get(name)) {
            byte[] data = new byte[chunk.uncompressedSize()];
            source.read(chunk, 0, MemorySegment.ofArray(data));
            out.write(data);
        }
        return out.toByteArray();
    }

    /** Returns every distinct chunk of the files, in CI order. */
    public List<Chunk> distinctChunks() {
        Map<Integer, Chunk> byIndex = new java.util.TreeMap<>();
        chunks.values().forEach(list -> list.forEach(c -> byIndex.put(c.index(), c)));
        return new ArrayList<>(byIndex.values());
    }

    /** Returns the stored bytes of the blob's chunk data. */
    public long chunkDataSize() {
        return distinctChunks().stream().mapToLong(Chunk::compressedSize).sum();
    }
}
