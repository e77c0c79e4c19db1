package io.nydus.storage;

import static io.nydus.storage.StorageFixture.blobGets;
import static io.nydus.storage.StorageFixture.bytes;
import static io.nydus.storage.StorageFixture.config;
import static io.nydus.storage.StorageFixture.fileCache;
import static io.nydus.storage.StorageFixture.flipStoredByte;
import static io.nydus.storage.StorageFixture.localFsBackend;
import static io.nydus.storage.StorageFixture.readyChunks;
import static io.nydus.storage.StorageFixture.registryBackend;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.blob.BlobMetaFile;
import io.nydus.rafs.tree.Chunk;
import io.nydus.registry.ForwardingProxy;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.RegistryServer.AccessLogEntry;
import io.nydus.storage.config.StorageConfig;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Reads of images built from generated files, from a real docker-registry or local files. */
class ImageStorageTest {
    private static final int CHUNK_SIZE = 64 << 10;
    private static final int AMPLIFY = 1 << 20;

    private static TempDir images;
    private static TestImage image;

    private TempDir dir;
    private RegistryServer registry;
    private Path workDir;

    @BeforeAll
    static void buildImage() throws IOException {
        images = TempDirs.create("storage-images");
        image = TestImage.build(images.path(),
                TestImage.generate(30, 1, 200_000, 11), CHUNK_SIZE);
    }

    @AfterAll
    static void removeImage() throws IOException {
        images.close();
    }

    @BeforeEach
    void startRegistry() throws Exception {
        dir = TempDirs.create("storage-test");
        registry = RegistryServer.startWithAccessLog(dir);
        image.push(registry.repository(StorageFixture.REPO));
        workDir = dir.resolve("cache");
        image.installBlobMeta(workDir);
    }

    @AfterEach
    void stopRegistry() throws IOException {
        registry.close();
        dir.close();
    }

    private StorageConfig registryConfig(int amplify, boolean cache) {
        return config(registryBackend(registry, 0), cache ? fileCache(workDir) : null, amplify,
                false, null);
    }

    private ImageStorage open(StorageConfig config) throws IOException {
        return ImageStorage.open(config, image.blobs, image.chunkTable);
    }

    static Stream<Arguments> configurations() {
        List<Arguments> cases = new ArrayList<>();
        for (String backend : List.of("registry", "localfs")) {
            for (int amplify : new int[] {0, AMPLIFY}) {
                for (boolean cache : new boolean[] {false, true}) {
                    cases.add(Arguments.of(backend, amplify, cache));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} cache {1}")
    @MethodSource("backendsAndCaches")
    void readAfterCloseNamesBlob(String backend, boolean cache) throws IOException {
        String backendJson = backend.equals("registry") ? registryBackend(registry, 0)
                : localFsBackend(image.blobFile.getParent());
        StorageConfig config = config(backendJson, cache ? fileCache(workDir) : null, 0, false,
                null);
        List<String> names = new ArrayList<>(image.files.keySet());
        ImageStorage storage = open(config);
        image.read(storage, names.getFirst());
        storage.close();

        // As when an image is unmounted while the kernel still sends reads of its files.
        for (String name : List.of(names.getFirst(), names.getLast())) {
            IOException e = assertThrows(IOException.class, () -> image.read(storage, name));
            String message = String.valueOf(e.getMessage());
            assertTrue(message.contains(image.blobId()), name + ": " + message);
            assertTrue(message.contains("closed"), name + ": " + message);
        }
    }

    static Stream<Arguments> backendsAndCaches() {
        return Stream.of(Arguments.of("registry", true), Arguments.of("registry", false),
                Arguments.of("localfs", true), Arguments.of("localfs", false));
    }

    @ParameterizedTest(name = "{0} amplify {1} cache {2}")
    @MethodSource("configurations")
    void readsMatchSourceFiles(String backend, int amplify, boolean cache) throws IOException {
        String backendJson = backend.equals("registry") ? registryBackend(registry, 0)
                : localFsBackend(image.blobFile.getParent());
        StorageConfig config = config(backendJson, cache ? fileCache(workDir) : null, amplify,
                false, null);
        try (ImageStorage storage = open(config)) {
            for (Map.Entry<String, byte[]> file : image.files.entrySet()) {
                assertArrayEquals(file.getValue(), image.read(storage, file.getKey()),
                        file.getKey());
            }
        }
    }

    @Test
    void oneFileFetchesOnlyItsChunks() throws Exception {
        String name = fileWithChunks(3);
        List<Chunk> chunks = image.chunks.get(name);
        try (ImageStorage storage = open(registryConfig(0, true))) {
            image.read(storage, name);
        }
        List<AccessLogEntry> gets = blobGets(registry, image.blobId());

        assertEquals(chunks.size(), gets.size());
        assertEquals(chunks.stream().mapToLong(Chunk::compressedSize).sum(), bytes(gets));
    }

    @Test
    void sequentialReadsAreAmplifiedWithinAmplifyIo() throws Exception {
        List<Chunk> chunks = image.distinctChunks();
        long cached;
        try (ImageStorage storage = open(registryConfig(128 << 10, true))) {
            for (Chunk chunk : chunks) {
                readChunk(storage, chunk);
            }
            cached = readyChunks(storage);
        }
        List<AccessLogEntry> gets = blobGets(registry, image.blobId());

        assertTrue(gets.size() < chunks.size(), gets::toString);
        assertTrue(gets.stream().allMatch(e -> e.bytes() <= 128 << 10), gets::toString);
        assertEquals(chunks.size(), cached);
        assertEquals(image.chunkDataSize(), bytes(gets));
    }

    @Test
    void amplificationStopsAtChunksNoFileUses() throws Exception {
        List<Chunk> chunks = image.distinctChunks();
        Chunk unused = chunks.get(chunks.size() / 2);
        List<Chunk> table = image.chunkTable.stream()
                .filter(chunk -> chunk.index() != unused.index()).toList();
        try (ImageStorage storage = ImageStorage.open(registryConfig(AMPLIFY, true),
                image.blobs, table)) {
            for (Chunk chunk : chunks) {
                if (chunk.index() != unused.index()) {
                    readChunk(storage, chunk);
                }
            }
        }

        assertTrue(registry.accessLog().stream().noneMatch(e -> e.method().equals("HEAD")
                && e.status() == 200),
                "the blob's digest array was read: " + registry.accessLog());
        assertEquals(image.chunkDataSize() - unused.compressedSize(),
                bytes(blobGets(registry, image.blobId())));
    }

    @Test
    void scatteredReadsAreNotAmplified() throws Exception {
        List<Chunk> chunks = image.distinctChunks().reversed().stream()
                .filter(chunk -> chunk.index() % 2 == 0).toList();
        try (ImageStorage storage = open(registryConfig(AMPLIFY, true))) {
            for (Chunk chunk : chunks) {
                readChunk(storage, chunk);
            }
        }
        List<AccessLogEntry> gets = blobGets(registry, image.blobId());

        assertEquals(chunks.size(), gets.size());
        assertEquals(chunks.stream().mapToLong(Chunk::compressedSize).sum(), bytes(gets));
    }

    private static void readChunk(ImageStorage storage, Chunk chunk) throws IOException {
        storage.read(chunk, 0, java.lang.foreign.MemorySegment.ofArray(
                new byte[chunk.uncompressedSize()]));
    }

    @Test
    void stoppedRegistryFailsAfterRetries() throws Exception {
        String cachedFile = fileWithChunks(1);
        String otherFile = otherFileThan(cachedFile);
        StorageConfig config = config(registryBackend(registry, 2), fileCache(workDir), 0,
                false, null);
        try (ImageStorage storage = open(config)) {
            image.read(storage, cachedFile);
            registry.stop();

            IOException e = assertThrows(IOException.class,
                    () -> image.read(storage, otherFile));
            assertTrue(e.getMessage().contains(image.blobId()), e.getMessage());
            String event = ErrorEvents.DAEMON.snapshot().errors().getLast();
            assertTrue(event.contains(image.blobId()), event);
            assertEquals(2L, storage.backendMetrics().get("read_retries"));
            assertEquals(1L, storage.backendMetrics().get("read_errors"));
            assertArrayEquals(image.files.get(cachedFile), image.read(storage, cachedFile));

            registry.restart();
            assertArrayEquals(image.files.get(otherFile), image.read(storage, otherFile));
        }
    }

    @Test
    void flippedChunkByteNamesBlobAndChunk() throws Exception {
        String name = fileWithChunks(2);
        Chunk bad = image.chunks.get(name).get(1);
        String other = otherFileThan(name);
        flipStoredByte(registry, image.digest,
                bad.compressedOffset() + bad.compressedSize() / 2);
        try (ImageStorage storage = open(registryConfig(0, true))) {
            IOException e = assertThrows(IOException.class, () -> image.read(storage, name));

            assertTrue(e.getMessage().contains("blob " + image.blobId()), e.getMessage());
            assertTrue(e.getMessage().contains("chunk " + bad.index()), e.getMessage());
            String event = ErrorEvents.DAEMON.snapshot().errors().getLast();
            assertTrue(event.contains("chunk " + bad.index()), event);
            assertTrue(e.getMessage().contains("expected digest " + bad.digest())
                    || e.getMessage().contains("expected " + bad.digest()), e.getMessage());
            assertEquals(1L, readyChunks(storage));
            assertThrows(IOException.class, () -> image.read(storage, name));
            assertArrayEquals(image.files.get(other), image.read(storage, other));
        }
        // The good first chunk once, the bad one for each of the two reads, the other file.
        assertEquals(3 + image.chunks.get(other).size(),
                blobGets(registry, image.blobId()).size());
    }

    @Test
    void flippedChunkInAmplifiedRangeSparesNeighbours() throws Exception {
        List<Chunk> chunks = image.distinctChunks();
        Chunk bad = chunks.get(chunks.size() / 2);
        flipStoredByte(registry, image.digest,
                bad.compressedOffset() + bad.compressedSize() / 2);
        List<String> inBlobOrder = image.chunks.entrySet().stream()
                .filter(e -> !e.getValue().isEmpty())
                .sorted(java.util.Comparator.comparingInt(e -> e.getValue().getFirst().index()))
                .map(Map.Entry::getKey).toList();
        try (ImageStorage storage = open(registryConfig(AMPLIFY, true))) {
            for (String name : inBlobOrder) {
                if (image.chunks.get(name).contains(bad)) {
                    IOException e = assertThrows(IOException.class,
                            () -> image.read(storage, name));
                    assertTrue(e.getMessage().contains("chunk " + bad.index()), e.getMessage());
                } else {
                    assertArrayEquals(image.files.get(name), image.read(storage, name), name);
                }
            }

            assertEquals(chunks.size() - 1, readyChunks(storage));
        }
        assertTrue(blobGets(registry, image.blobId()).size() < chunks.size() / 2,
                "sequential reads were not amplified");
    }

    @Test
    void readsWithoutBootstrapChunkTable() throws Exception {
        StorageConfig config = registryConfig(AMPLIFY, true);
        try (ImageStorage storage = ImageStorage.open(config, image.blobs, List.of())) {
            for (Map.Entry<String, byte[]> file : image.files.entrySet()) {
                assertArrayEquals(file.getValue(), image.read(storage, file.getKey()),
                        file.getKey());
            }
        }
    }

    @Test
    void flippedCiByteFailsTheFetchedTable() throws Exception {
        Files.delete(workDir.resolve(image.blobId() + BlobMetaFile.SUFFIX));
        flipStoredByte(registry, image.digest,
                image.blob().ciOffset() + image.blob().ciCompressedSize() / 2);
        StorageConfig config = registryConfig(AMPLIFY, true);
        try (ImageStorage storage = ImageStorage.open(config, image.blobs, List.of())) {
            String name = image.files.keySet().iterator().next();
            IOException e = assertThrows(IOException.class, () -> image.read(storage, name));

            assertTrue(e.getMessage().contains("blob " + image.blobId()), e.getMessage());
            assertTrue(e.getMessage().contains("CI"), e.getMessage());
            assertEquals(0L, readyChunks(storage));
        }
    }

    @Test
    void missingBitAfterCrashIsFetchedAgain() throws Exception {
        readAll(registryConfig(0, true));
        long before = blobGets(registry, image.blobId()).size();
        Chunk lost = image.chunks.get(fileWithChunks(1)).getFirst();
        Path map = workDir.resolve(image.blobId() + ".blob.data.chunk_map");
        try (RandomAccessFile file = new RandomAccessFile(map.toFile(), "rw")) {
            long at = 4096 + lost.index() / 8;
            file.seek(at);
            int value = file.read();
            file.seek(at);
            file.write(value & ~(0x80 >>> (lost.index() % 8)));
        }

        readAll(registryConfig(0, true));
        List<AccessLogEntry> gets = blobGets(registry, image.blobId());

        assertEquals(before + 1, gets.size());
        assertEquals(lost.compressedSize(), gets.getLast().bytes());
    }

    @Test
    void chunkMapOfWrongSizeIsDiscarded() throws Exception {
        readAll(registryConfig(0, true));
        Path map = workDir.resolve(image.blobId() + ".blob.data.chunk_map");
        long size = Files.size(map);
        Files.write(map, new byte[] {(byte) 0xFF}, StandardOpenOption.APPEND);

        readAll(registryConfig(0, true));

        assertEquals(2L * image.distinctChunks().size(),
                blobGets(registry, image.blobId()).size());
        assertEquals(size, Files.size(map));
        assertEquals(4096 + (image.blob().chunkCount() + 7) / 8, size);
    }

    @Test
    void restartedStorageReusesCache() throws Exception {
        readAll(registryConfig(AMPLIFY, true));
        long before = blobGets(registry, image.blobId()).size();

        Map<String, Object> metrics = readAll(registryConfig(AMPLIFY, true));

        assertEquals(before, blobGets(registry, image.blobId()).size());
        assertEquals(metrics.get("total"), metrics.get("whole_hits"));
    }

    @Test
    void cachedChunkIsRevalidated() throws Exception {
        readAll(registryConfig(0, true));
        flipCachedByte(image.chunks.get(fileWithChunks(1)).getFirst());
        StorageConfig validating = config(registryBackend(registry, 0), fileCache(workDir), 0,
                true, null);

        Map<String, Object> metrics = readAll(validating);

        assertEquals(1L, metrics.get("cache_digest_errors"));
        assertEquals(1L, metrics.get("misses"));
    }

    @Test
    void cacheDamagedBetweenRunsIsCheckedWithoutValidation() throws Exception {
        readAll(registryConfig(0, true));
        flipCachedByte(image.chunks.get(fileWithChunks(1)).getFirst());

        Map<String, Object> metrics = readAll(registryConfig(0, true));

        assertEquals(1L, metrics.get("cache_digest_errors"));
        assertEquals(1L, metrics.get("misses"));
    }

    @Test
    void truncatedCacheIsFetchedAgain() throws Exception {
        readAll(registryConfig(0, true));
        long before = blobGets(registry, image.blobId()).size();
        Path data = workDir.resolve(image.blobId() + ".blob.data");
        try (RandomAccessFile file = new RandomAccessFile(data.toFile(), "rw")) {
            file.setLength(file.length() / 2);
        }

        Map<String, Object> metrics = readAll(registryConfig(0, true));

        assertTrue((Long) metrics.get("misses") > 0, metrics.toString());
        assertTrue(blobGets(registry, image.blobId()).size() > before);
        assertEquals(metrics.get("misses"), metrics.get("cache_digest_errors"));
    }

    @Test
    void cacheTruncatedWhileOpenServesNoZeros() throws Exception {
        List<String> byOffset = image.chunks.entrySet().stream()
                .filter(e -> !e.getValue().isEmpty())
                .sorted(Comparator.comparingLong(e -> e.getValue().getFirst()
                        .uncompressedOffset()))
                .map(Map.Entry::getKey).toList();
        String last = byOffset.getLast();
        Path data = workDir.resolve(image.blobId() + ".blob.data");
        try (ImageStorage storage = open(registryConfig(0, true))) {
            for (String name : byOffset.subList(0, byOffset.size() - 1)) {
                image.read(storage, name);
            }
            try (RandomAccessFile file = new RandomAccessFile(data.toFile(), "rw")) {
                file.setLength(CHUNK_SIZE);
            }

            // The last file's chunks were not cached, so storing them extends the file again.
            assertArrayEquals(image.files.get(last), image.read(storage, last), last);
            for (String name : byOffset) {
                assertArrayEquals(image.files.get(name), image.read(storage, name), name);
            }
        }
    }

    @Test
    void chunkMapTruncatedWhileOpenIsRestored() throws Exception {
        List<String> names = new ArrayList<>(image.files.keySet());
        List<String> cachedFirst = names.subList(0, names.size() / 2);
        Path chunkMap = workDir.resolve(image.blobId() + ".blob.data.chunk_map");
        long mapSize;
        try (ImageStorage storage = open(registryConfig(0, true))) {
            for (String name : cachedFirst) {
                image.read(storage, name);
            }
            mapSize = Files.size(chunkMap);
            try (RandomAccessFile file = new RandomAccessFile(chunkMap.toFile(), "rw")) {
                file.setLength(0);
            }

            for (String name : names) {
                assertArrayEquals(image.files.get(name), image.read(storage, name), name);
            }
        }
        assertEquals(mapSize, Files.size(chunkMap));

        // The next process finds every chunk ready, so it fetches nothing.
        long before = blobGets(registry, image.blobId()).size();
        try (ImageStorage storage = open(registryConfig(0, true))) {
            for (String name : names) {
                assertArrayEquals(image.files.get(name), image.read(storage, name), name);
            }
        }
        assertEquals(before, blobGets(registry, image.blobId()).size());
    }

    @Test
    void twoImagesShareOneWorkDir() throws Exception {
        StorageConfig config = registryConfig(0, true);
        String name = fileWithChunks(2);
        try (ImageStorage first = open(config)) {
            try (ImageStorage second = open(config)) {
                image.read(second, name);
            }
            assertArrayEquals(image.files.get(name), image.read(first, name));
            assertEquals(image.chunks.get(name).size(), blobGets(registry, image.blobId()).size());
        }
    }

    @Test
    void prefetchAllFetchesEveryChunkOnce() throws Exception {
        String prefetch = """
                {"enable": true, "threads_count": 4, "merging_size": 262144,
                 "prefetch_all": true}""";
        StorageConfig config = config(registryBackend(registry, 0), fileCache(workDir), 0,
                false, prefetch);
        try (ImageStorage storage = open(config)) {
            String name = fileWithChunks(2);
            long before = System.currentTimeMillis();
            storage.prefetch(image.chunks.get(name)).get(60, java.util.concurrent.TimeUnit.SECONDS);
            long after = System.currentTimeMillis();
            List<AccessLogEntry> gets = blobGets(registry, image.blobId());
            Map<String, Object> metrics = storage.cacheMetrics();
            long begin = epochMillis(metrics, "prefetch_begin_time");
            long end = epochMillis(metrics, "prefetch_end_time");

            assertEquals(image.chunkDataSize(), bytes(gets));
            assertTrue(gets.stream().allMatch(g -> g.bytes() <= 262144), gets::toString);
            assertEquals((long) image.blob().chunkCount(), readyChunks(storage));
            assertEquals(true, metrics.get("prefetch_finished"));
            assertTrue(before <= begin, "prefetch began at " + begin + ", before " + before);
            assertTrue(begin <= end, "prefetch ended at " + end + ", before " + begin);
            assertTrue(end <= after, "prefetch ended at " + end + ", after " + after);
            assertEquals((long) gets.size(), metrics.get("prefetch_requests_count"));
            assertEquals(image.distinctChunks().stream().mapToLong(Chunk::uncompressedSize)
                    .sum(), metrics.get("prefetch_data_amount"));
            for (Map.Entry<String, byte[]> file : image.files.entrySet()) {
                assertArrayEquals(file.getValue(), image.read(storage, file.getKey()));
            }
            assertEquals(gets.size(), blobGets(registry, image.blobId()).size());
        }
    }

    /** Returns a time that the metrics split, as upstream's, into seconds and milliseconds. */
    private static long epochMillis(Map<String, Object> metrics, String prefix) {
        long millis = (long) metrics.get(prefix + "_millis");
        assertTrue(millis >= 0, prefix + "_millis " + millis);
        assertTrue(millis < 1000, prefix + "_millis " + millis);
        return (long) metrics.get(prefix + "_secs") * 1000 + millis;
    }

    @Test
    void prefetchFetchesListedChunksOnly() throws Exception {
        String prefetch = """
                {"enable": true, "threads_count": 2, "prefetch_all": false}""";
        StorageConfig config = config(registryBackend(registry, 0), fileCache(workDir), 0,
                false, prefetch);
        String name = fileWithChunks(3);
        List<Chunk> listed = image.chunks.get(name);
        try (ImageStorage storage = open(config)) {
            storage.prefetch(listed).get(60, java.util.concurrent.TimeUnit.SECONDS);

            assertEquals((long) listed.size(), readyChunks(storage));
            assertEquals((long) listed.size(), storage.cacheMetrics()
                    .get("prefetch_unmerged_chunks"));
            assertArrayEquals(image.files.get(name), image.read(storage, name));
        }
        List<AccessLogEntry> gets = blobGets(registry, image.blobId());
        assertEquals(listed.stream().mapToLong(Chunk::compressedSize).sum(), bytes(gets));
        assertEquals(1, gets.size());
    }

    @Test
    void failedPrefetchLetsWaitingReadFetch() throws Exception {
        String name = fileWithChunks(2);
        try (ForwardingProxy proxy = ForwardingProxy.start("http://" + registry.address())) {
            String backend = """
                    {"type": "registry", "config": {"scheme": "http", "host": "%s",
                     "repo": "%s", "timeout": 5, "connect_timeout": 5}}"""
                    .formatted(proxy.address(), StorageFixture.REPO);
            String prefetch = """
                    {"enable": true, "threads_count": 1, "prefetch_all": false}""";
            try (ImageStorage storage = open(config(backend, fileCache(workDir), 0, false,
                    prefetch))) {
                proxy.holdNext("GET");
                CompletableFuture<Void> prefetched = storage.prefetch(image.chunks.get(name));
                awaitRequests(proxy, 1);
                FutureTask<byte[]> reader = new FutureTask<>(() -> image.read(storage, name));
                Thread readerThread = Thread.ofPlatform().start(reader);
                awaitWaiting(readerThread);

                proxy.failHeld(503);

                assertArrayEquals(image.files.get(name), reader.get(30, TimeUnit.SECONDS));
                prefetched.get(30, TimeUnit.SECONDS);
                assertEquals(1L, storage.cacheMetrics().get("prefetch_errors"));
            }
        }
    }

    private static void awaitRequests(ForwardingProxy proxy, int count)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (proxy.requests().size() < count) {
            assertTrue(System.nanoTime() < deadline, "requests: " + proxy.requests());
            Thread.sleep(10);
        }
    }

    /** Waits until {@code thread} blocks, as a reader does that waits for a fetch. */
    private static void awaitWaiting(Thread thread) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (thread.getState() != Thread.State.WAITING) {
            assertTrue(System.nanoTime() < deadline, "reader state " + thread.getState());
            Thread.sleep(10);
        }
    }

    @Test
    void closeEndsRunningPrefetch() throws Exception {
        String prefetch = """
                {"enable": true, "threads_count": 1, "bandwidth_rate": 4096,
                 "prefetch_all": true}""";
        StorageConfig config = config(registryBackend(registry, 0), fileCache(workDir), 0,
                false, prefetch);
        java.util.concurrent.CompletableFuture<Void> running;
        try (ImageStorage storage = open(config)) {
            running = storage.prefetch(List.of());
        }

        running.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(blobGets(registry, image.blobId()).size() < image.distinctChunks().size());
    }

    @Test
    void closeDuringPrefetchLogsNoError() throws Exception {
        String prefetch = """
                {"enable": true, "threads_count": 1, "prefetch_all": true}""";
        StorageConfig config = config(registryBackend(registry, 0), fileCache(workDir), 0,
                false, prefetch);
        java.util.concurrent.CompletableFuture<Void> running;
        try (io.nydus.registry.LogCapture log =
                new io.nydus.registry.LogCapture("io.nydus.storage.Prefetcher")) {
            try (ImageStorage storage = open(config)) {
                running = storage.prefetch(List.of());
                // The whole-blob prefetch waits for on-demand reads to be quiet for 3 s, so the
                // storage closes while the worker waits.
                Thread.sleep(300);
            }
            running.get(30, java.util.concurrent.TimeUnit.SECONDS);

            assertEquals(List.of(), log.messages(ch.qos.logback.classic.Level.ERROR));
            assertTrue(log.messages().stream().anyMatch(m -> m.contains("prefetch stopped")),
                    log.messages().toString());
        }
    }

    @Test
    void unsupportedBlobFeatureIsRejected() {
        List<io.nydus.rafs.v6.BlobInfo> batch = List.of(image.blob().withFeatures(
                image.blob().features() | io.nydus.rafs.v6.BlobFeatures.BATCH));

        IOException e = assertThrows(IOException.class, () -> ImageStorage.open(
                registryConfig(0, false), batch, image.chunkTable));

        assertTrue(e.getMessage().contains("blob " + image.blobId()), e.getMessage());
        assertTrue(e.getMessage().contains("not support"), e.getMessage());
    }

    @Test
    void silentRegistryTimesOut() throws Exception {
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50,
                java.net.InetAddress.getLoopbackAddress())) {
            String backend = """
                    {"type": "registry", "config": {"scheme": "http", "host": "127.0.0.1:%d",
                     "repo": "storage/test", "timeout": 1, "connect_timeout": 1}}"""
                    .formatted(silent.getLocalPort());
            StorageConfig config = config(backend, null, 0, false, null);
            try (ImageStorage storage = open(config)) {
                String name = fileWithChunks(1);
                IOException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                        java.time.Duration.ofSeconds(30), () -> assertThrows(IOException.class,
                                () -> image.read(storage, name)));

                assertTrue(e.getMessage().contains(image.blobId()), e.getMessage());
            }
        }
    }

    /** Flips the first cached byte of {@code chunk} in the blob cache's data file. */
    private void flipCachedByte(Chunk chunk) throws IOException {
        Path data = workDir.resolve(image.blobId() + ".blob.data");
        try (RandomAccessFile file = new RandomAccessFile(data.toFile(), "rw")) {
            file.seek(chunk.uncompressedOffset());
            int value = file.read();
            file.seek(chunk.uncompressedOffset());
            file.write(value ^ 0x01);
        }
    }

    private Map<String, Object> readAll(StorageConfig config) throws IOException {
        try (ImageStorage storage = open(config)) {
            for (Map.Entry<String, byte[]> file : image.files.entrySet()) {
                assertArrayEquals(file.getValue(), image.read(storage, file.getKey()),
                        file.getKey());
            }
            return storage.cacheMetrics();
        }
    }


    private static String fileWithChunks(int count) {
        return image.chunks.entrySet().stream().filter(e -> e.getValue().size() >= count)
                .map(Map.Entry::getKey).findFirst().orElseThrow();
    }

    private static String otherFileThan(String name) {
        return image.chunks.entrySet().stream()
                .filter(e -> !e.getKey().equals(name) && !e.getValue().isEmpty()
                        && e.getValue().stream().noneMatch(image.chunks.get(name)::contains))
                .map(Map.Entry::getKey).findFirst().orElseThrow();
    }

}
