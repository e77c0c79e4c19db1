package io.nydus.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.FieldMask;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.nydus.posix.BytePath;
import io.nydus.posix.MountFlags;
import io.nydus.posix.Posix;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.RegistryServer;
import io.nydus.snapshotter.api.CleanupRequest;
import io.nydus.snapshotter.api.CommitSnapshotRequest;
import io.nydus.snapshotter.api.Info;
import io.nydus.snapshotter.api.Kind;
import io.nydus.snapshotter.api.ListSnapshotsRequest;
import io.nydus.snapshotter.api.Mount;
import io.nydus.snapshotter.api.MountsRequest;
import io.nydus.snapshotter.api.PrepareSnapshotRequest;
import io.nydus.snapshotter.api.RemoveSnapshotRequest;
import io.nydus.snapshotter.api.SnapshotsGrpc;
import io.nydus.snapshotter.api.StatSnapshotRequest;
import io.nydus.snapshotter.api.UpdateSnapshotRequest;
import io.nydus.snapshotter.api.UsageRequest;
import io.nydus.snapshotter.api.ViewSnapshotRequest;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The snapshots gRPC service on its unix socket, driven as containerd drives it. */
class SnapshotsServiceTest {
    private static final String BLOB = "sha256:" + "ab".repeat(32);
    private static final String IMAGE = "127.0.0.1:5000/library/app:v1";

    private TempDir dir;
    private Path root;
    private Path socket;
    private int metricsPort;
    private SnapshotterServer server;
    private EventLoopGroup events;
    private ManagedChannel channel;
    private SnapshotsGrpc.SnapshotsBlockingStub snapshots;

    @BeforeEach
    void start() throws Exception {
        dir = TempDirs.create("service");
        root = dir.resolve("root");
        socket = dir.resolve("snapshotter.sock");
        metricsPort = RegistryServer.freePort();
        Path hangingNydusd = dir.resolve("hanging-nydusd");
        // It writes its pid, which stays the same through exec, when it starts.
        Files.writeString(hangingNydusd, "#!/bin/sh\necho $$ > %1$s.tmp && mv %1$s.tmp %1$s\n"
                .formatted(nydusdPid()) + "exec sleep 600\n");
        hangingNydusd.toFile().setExecutable(true);
        startServer("nydusd_path = \"" + hangingNydusd + "\"\n");
        events = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(events)
                .usePlaintext().build();
        snapshots = SnapshotsGrpc.newBlockingStub(channel);
    }

    private void startServer(String daemonToml) throws Exception {
        startServer(daemonToml, "2s");
    }

    private void startServer(String daemonToml, String mountTimeout) throws Exception {
        Path config = dir.resolve("config.toml");
        Files.writeString(config, """
                root = "%s"
                address = "%s"
                [daemon]
                nydusd_config = "%s"
                mount_timeout = "%s"
                %s
                [metrics]
                address = "127.0.0.1:%d"
                """.formatted(root, socket, dir.resolve("no-template.json"), mountTimeout,
                daemonToml, metricsPort));
        server = SnapshotterServer.start(SnapshotterConfig.load(config),
                CredentialProvider.anonymous());
    }

    @AfterEach
    void stop() throws Exception {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (events != null) {
            events.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        if (server != null) {
            server.close();
        }
        TempDirs.remove(dir.path());
    }

    private SnapshotsGrpc.SnapshotsBlockingStub stub() {
        return snapshots.withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private List<Mount> prepare(String key, String parent, Map<String, String> labels) {
        return stub().prepare(PrepareSnapshotRequest.newBuilder().setKey(key).setParent(parent)
                .putAllLabels(labels).build()).getMountsList();
    }

    private void commit(String name, String key) {
        stub().commit(CommitSnapshotRequest.newBuilder().setName(name).setKey(key).build());
    }

    private Info stat(String key) {
        return stub().stat(StatSnapshotRequest.newBuilder().setKey(key).build()).getInfo();
    }

    private Path fs(Mount mount) {
        return Path.of(mount.getSource());
    }

    private static Status.Code code(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    private static String message(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus()
                .getDescription();
    }

    @Test
    void baseLayerIsWritableBind() {
        List<Mount> mounts = prepare("a", "", Map.of());

        assertEquals(1, mounts.size());
        assertEquals("bind", mounts.getFirst().getType());
        assertTrue(mounts.getFirst().getOptionsList().contains("rw"));
        assertTrue(fs(mounts.getFirst()).startsWith(root));
    }

    @Test
    void childLayerIsOverlayOnParents() {
        prepare("a", "", Map.of());
        commit("base", "a");
        prepare("b", "base", Map.of());
        commit("middle", "b");

        Mount mount = prepare("c", "middle", Map.of()).getFirst();

        assertEquals("overlay", mount.getType());
        String lowerdir = mount.getOptionsList().stream().filter(o -> o.startsWith("lowerdir="))
                .findFirst().orElseThrow();
        assertEquals("lowerdir=" + root.resolve("snapshots/2/fs") + ":"
                + root.resolve("snapshots/1/fs"), lowerdir);
        assertTrue(mount.getOptionsList().contains("upperdir=" + root.resolve("snapshots/3/fs")));
        assertTrue(mount.getOptionsList().contains("workdir=" + root.resolve("snapshots/3/work")));
    }

    @Test
    void volatileLabelAddsOverlayOption() {
        prepare("a", "", Map.of());
        commit("base", "a");

        Mount labelled = prepare("b", "base", Map.of(SnapshotLabels.OVERLAY_VOLATILE, "true"))
                .getFirst();
        Mount plain = prepare("c", "base", Map.of()).getFirst();

        assertTrue(labelled.getOptionsList().contains("volatile"), labelled.toString());
        assertFalse(plain.getOptionsList().contains("volatile"), plain.toString());
    }

    @Test
    void volatileConfigAddsOverlayOptionToAll() throws Exception {
        server.close();
        startServer("[snapshot]\nenable_overlayfs_volatile = true");
        prepare("a", "", Map.of());
        commit("base", "a");

        Mount mount = prepare("b", "base", Map.of()).getFirst();

        assertTrue(mount.getOptionsList().contains("volatile"), mount.toString());
    }

    @Test
    void viewOfOneLayerIsReadOnlyBind() {
        prepare("a", "", Map.of());
        commit("base", "a");

        Mount mount = stub().view(ViewSnapshotRequest.newBuilder().setKey("v").setParent("base")
                .build()).getMounts(0);

        assertEquals("bind", mount.getType());
        assertEquals(root.resolve("snapshots/1/fs").toString(), mount.getSource());
        assertTrue(mount.getOptionsList().contains("ro"));
        assertEquals(Kind.VIEW, stat("v").getKind());
    }

    @Test
    void mountsRepeatPrepare() {
        prepare("a", "", Map.of());
        commit("base", "a");
        List<Mount> prepared = prepare("b", "base", Map.of());

        List<Mount> mounts = stub().mounts(MountsRequest.newBuilder().setKey("b").build())
                .getMountsList();

        assertEquals(prepared, mounts);
    }

    @Test
    void commitKeepsPrepareLabels() {
        prepare("a", "", Map.of("containerd.io/snapshot/x", "1"));
        stub().commit(CommitSnapshotRequest.newBuilder().setName("base").setKey("a")
                .putLabels("containerd.io/snapshot/y", "2").build());

        Info info = stat("base");

        assertEquals(Kind.COMMITTED, info.getKind());
        assertEquals("1", info.getLabelsMap().get("containerd.io/snapshot/x"));
        assertEquals("2", info.getLabelsMap().get("containerd.io/snapshot/y"));
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("a")));
    }

    @Test
    void removeWithChildFails() {
        prepare("a", "", Map.of());
        commit("base", "a");
        prepare("b", "base", Map.of());

        Status.Code result = code(() -> stub().remove(RemoveSnapshotRequest.newBuilder()
                .setKey("base").build()));

        assertEquals(Status.Code.FAILED_PRECONDITION, result);
    }

    @Test
    void removeDeletesDirectory() {
        Path fs = fs(prepare("a", "", Map.of()).getFirst());

        stub().remove(RemoveSnapshotRequest.newBuilder().setKey("a").build());

        assertFalse(Files.exists(fs.getParent()));
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("a")));
    }

    @Test
    void failedSaveOfPrepareLeavesNoSnapshot() throws Exception {
        Path blocker = blockMetadataWrites();

        Status.Code failed = code(() -> prepare("a", "", Map.of()));
        List<Path> dirsAfterFailure = snapshotDirs();
        unblock(blocker);

        assertEquals(Status.Code.INTERNAL, failed);
        assertEquals(List.of(), dirsAfterFailure);
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("a")));
        assertTrue(Files.isDirectory(fs(prepare("a", "", Map.of()).getFirst())));
    }

    @Test
    void failedSaveOfRemoveKeepsSnapshot() throws Exception {
        Path file = fs(prepare("a", "", Map.of()).getFirst()).resolve("data");
        Files.writeString(file, "kept");
        Path blocker = blockMetadataWrites();

        Status.Code failed = code(() -> stub().remove(RemoveSnapshotRequest.newBuilder()
                .setKey("a").build()));
        unblock(blocker);
        stub().cleanup(CleanupRequest.getDefaultInstance());

        assertEquals(Status.Code.INTERNAL, failed);
        assertEquals(Kind.ACTIVE, stat("a").getKind());
        assertEquals("kept", Files.readString(file));
    }

    @Test
    void failedSaveOfCommitKeepsActiveSnapshot() throws Exception {
        prepare("a", "", Map.of());
        Path blocker = blockMetadataWrites();

        Status.Code failed = code(() -> commit("base", "a"));
        unblock(blocker);

        assertEquals(Status.Code.INTERNAL, failed);
        assertEquals(Kind.ACTIVE, stat("a").getKind());
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("base")));
    }

    /**
     * Makes every save of the snapshot metadata fail, as a full disk would, by putting a
     * non-empty directory where the store writes its temporary file.
     */
    private Path blockMetadataWrites() throws IOException {
        Path blocker = Files.createDirectories(root.resolve("metadata.json.tmp"));
        Files.writeString(blocker.resolve("in-the-way"), "");
        return blocker;
    }

    private static void unblock(Path blocker) throws IOException {
        Files.delete(blocker.resolve("in-the-way"));
        Files.delete(blocker);
    }

    @Test
    void removeWorksBesideNonUtf8Mount() throws Exception {
        // mountinfo lists every mount point of the host as raw bytes, which need not be UTF-8.
        BytePath mountpoint = BytePath.of(dir.path()).resolve(new byte[] {'m', (byte) 0xff});
        Posix.mkdir(mountpoint, 0700);
        Posix.mount(BytePath.of("tmpfs"), mountpoint, "tmpfs", 0, "size=1m");
        try {
            Path fs = fs(prepare("a", "", Map.of()).getFirst());

            stub().remove(RemoveSnapshotRequest.newBuilder().setKey("a").build());

            assertFalse(Files.exists(fs.getParent()));
        } finally {
            Posix.umount2(mountpoint, MountFlags.MNT_DETACH);
            Posix.rmdir(mountpoint);
        }
    }

    @Test
    void duplicateKeyFails() {
        prepare("a", "", Map.of());

        assertEquals(Status.Code.ALREADY_EXISTS, code(() -> prepare("a", "", Map.of())));
    }

    @Test
    void missingParentFails() {
        assertEquals(Status.Code.NOT_FOUND, code(() -> prepare("a", "nothing", Map.of())));
    }

    @Test
    void activeParentFails() {
        prepare("a", "", Map.of());

        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> prepare("b", "a", Map.of())));
    }

    @Test
    void updateReplacesNamedLabel() {
        prepare("a", "", Map.of("keep", "1", "change", "old"));

        Info updated = stub().update(UpdateSnapshotRequest.newBuilder()
                .setInfo(Info.newBuilder().setName("a").putLabels("change", "new"))
                .setUpdateMask(FieldMask.newBuilder().addPaths("labels.change")).build())
                .getInfo();

        assertEquals(Map.of("keep", "1", "change", "new"), updated.getLabelsMap());
    }

    @Test
    void listFiltersByLabel() {
        prepare("a", "", Map.of("team", "x"));
        prepare("b", "", Map.of("team", "y"));
        List<String> names = new ArrayList<>();

        stub().list(ListSnapshotsRequest.newBuilder().addFilters("labels.team==y").build())
                .forEachRemaining(batch -> batch.getInfoList().forEach(i -> names.add(
                        i.getName())));

        assertEquals(List.of("b"), names);
    }

    @Test
    void invalidFilterFails() {
        Status.Code result = code(() -> stub().list(ListSnapshotsRequest.newBuilder()
                .addFilters("size>3").build()).forEachRemaining(batch -> { }));

        assertEquals(Status.Code.INVALID_ARGUMENT, result);
    }

    @Test
    void usageCountsFiles() throws Exception {
        Path fs = fs(prepare("a", "", Map.of()).getFirst());
        Files.write(fs.resolve("data"), new byte[1000]);

        var usage = stub().usage(UsageRequest.newBuilder().setKey("a").build());

        assertEquals(diskUsage(fs), usage.getSize());
        assertTrue(usage.getSize() >= 1000, "size " + usage.getSize());
        assertEquals(2, usage.getInodes());
    }

    /** Usage counts allocated blocks once per inode, as {@code du} does. */
    @Test
    void usageCountsAllocatedBlocksOnce() throws Exception {
        Path fs = fs(prepare("a", "", Map.of()).getFirst());
        try (var file = new java.io.RandomAccessFile(fs.resolve("sparse").toFile(), "rw")) {
            file.setLength(1L << 30);
        }
        Files.write(fs.resolve("data"), new byte[100_000]);
        Files.createLink(fs.resolve("link"), fs.resolve("data"));
        Path dir = Files.createDirectories(fs.resolve("dir"));
        // A name that is not UTF-8, which the JDK's file API cannot name.
        Process printf = new ProcessBuilder("sh", "-c", "printf x > \"$1/n$(printf '\\377')\"",
                "sh", dir.toString()).start();
        assertEquals(0, printf.waitFor());

        var usage = stub().usage(UsageRequest.newBuilder().setKey("a").build());

        assertEquals(diskUsage(fs), usage.getSize());
        assertTrue(usage.getSize() < 1L << 20, "size " + usage.getSize());
        assertEquals(5, usage.getInodes());
    }

    /** Returns the bytes that GNU du counts for {@code dir}: allocated, each inode once. */
    private static long diskUsage(Path dir) throws Exception {
        Process du = new ProcessBuilder("du", "-s", "-B1", dir.toString())
                .redirectErrorStream(true).start();
        String output = new String(du.getInputStream().readAllBytes());
        assertEquals(0, du.waitFor(), output);
        return Long.parseLong(output.split("\\s+")[0]);
    }

    @Test
    void fileAtSocketPathIsKept() throws Exception {
        server.close();
        server = null;
        Files.deleteIfExists(socket);
        Files.writeString(socket, "notes");

        IOException e = assertThrows(IOException.class, () -> startServer(""));

        assertTrue(e.getMessage().contains(socket + ": the path exists and is not a socket"),
                e.getMessage());
        assertEquals("notes", Files.readString(socket));
    }

    @Test
    void secondServerOnSameRootFails() throws Exception {
        prepare("a", "", Map.of());
        Path config = Files.writeString(dir.resolve("second.toml"), """
                root = "%s"
                address = "%s"
                """.formatted(root, dir.resolve("second.sock")));
        SnapshotterServer second = null;
        String message = null;
        try {
            second = SnapshotterServer.start(SnapshotterConfig.load(config),
                    CredentialProvider.anonymous());
        } catch (IOException e) {
            message = e.getMessage();
        } finally {
            if (second != null) {
                second.close();
            }
        }

        assertNotNull(message);
        assertTrue(message.contains(root.toString()), message);
        assertEquals(Kind.ACTIVE, stat("a").getKind());
    }

    @Test
    void snapshotsSurviveRestart() throws Exception {
        prepare("a", "", Map.of("containerd.io/snapshot/x", "1"));
        commit("base", "a");
        server.close();

        startServer("");

        assertEquals(Kind.COMMITTED, stat("base").getKind());
        assertEquals("1", stat("base").getLabelsMap().get("containerd.io/snapshot/x"));
    }

    @Test
    void nydusDataLayerIsCommittedEmpty() throws Exception {
        Map<String, String> labels = dataLayerLabels("chain-1", BLOB, IMAGE);

        Status.Code result = code(() -> prepare("extract-1", "", labels));

        assertEquals(Status.Code.ALREADY_EXISTS, result);
        assertEquals(Kind.COMMITTED, stat("chain-1").getKind());
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("extract-1")));
        assertTrue(metrics().contains("nydus_snapshotter_lazy_layers_total 1"), metrics());
    }

    @Test
    void stargzReferenceLabelIsRead() {
        Map<String, String> labels = Map.of(SnapshotLabels.TARGET_REF, "chain-1",
                SnapshotLabels.NYDUS_BLOB, "true",
                SnapshotLabels.STARGZ_LAYER_DIGEST, BLOB,
                SnapshotLabels.STARGZ_IMAGE_REF, IMAGE);

        assertEquals(Status.Code.ALREADY_EXISTS, code(() -> prepare("extract-1", "", labels)));
        assertEquals(IMAGE, stat("chain-1").getLabelsMap().get(SnapshotLabels.IMAGE_REF));
    }

    @Test
    void hostileLabelsAreRejected() throws Exception {
        List<Map<String, String>> cases = List.of(
                dataLayerLabels("t1", "sha256:../../../etc/passwd", IMAGE),
                dataLayerLabels("t2", "md5:" + "ab".repeat(16), IMAGE),
                dataLayerLabels("t3", BLOB, "http://127.0.0.1:5000/../../x"),
                dataLayerLabels("t4", BLOB, "127.0.0.1:5000/UPPER/case"),
                dataLayerLabels("t5", BLOB, "x".repeat(300)),
                Map.of(SnapshotLabels.TARGET_REF, "t6", SnapshotLabels.NYDUS_BLOB, "true",
                        SnapshotLabels.CRI_LAYER_DIGEST, BLOB),
                Map.of(SnapshotLabels.TARGET_REF, "t7", SnapshotLabels.NYDUS_BLOB, "true",
                        SnapshotLabels.CRI_IMAGE_REF, IMAGE),
                Map.of("containerd.io/snapshot/big", "v".repeat(5000)));
        for (Map<String, String> labels : cases) {
            Status.Code result = code(() -> prepare("extract", "", labels));

            assertEquals(Status.Code.INVALID_ARGUMENT, result, labels.toString());
        }
        assertEquals(List.of(), snapshotDirs());
    }

    @Test
    void conflictingImageReferencesAreRejected() throws Exception {
        List<Path> before = listing(dir.path());
        String foreign = "198.51.100.7:5000/library/app:v1";
        Map<String, String> dataLayer = new java.util.HashMap<>(dataLayerLabels("t1", BLOB,
                IMAGE));
        dataLayer.put(SnapshotLabels.STARGZ_IMAGE_REF, foreign);
        Map<String, String> bootstrapLayer = Map.of(SnapshotLabels.TARGET_REF, "t2",
                SnapshotLabels.NYDUS_BOOTSTRAP, "true", SnapshotLabels.CRI_IMAGE_REF, IMAGE,
                SnapshotLabels.STARGZ_IMAGE_REF, "registry.invalid/library/app:v1");

        String dataError = message(() -> prepare("extract-1", "", dataLayer));
        String bootstrapError = message(() -> prepare("extract-2", "", bootstrapLayer));

        assertTrue(dataError.contains(SnapshotLabels.STARGZ_IMAGE_REF + "='" + foreign + "'"),
                dataError);
        assertTrue(dataError.contains(SnapshotLabels.CRI_IMAGE_REF + "='" + IMAGE + "'"),
                dataError);
        assertTrue(bootstrapError.contains("registry.invalid/library/app"), bootstrapError);
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("t1")));
        assertEquals(List.of(), snapshotDirs());
        assertEquals(before, listing(dir.path()));
    }

    @Test
    void conflictingReferenceAtCommitIsRejected() {
        prepare("extract", "", Map.of(SnapshotLabels.TARGET_REF, "boot",
                SnapshotLabels.NYDUS_BOOTSTRAP, "true", SnapshotLabels.CRI_IMAGE_REF, IMAGE));

        Status.Code result = code(() -> stub().commit(CommitSnapshotRequest.newBuilder()
                .setName("boot").setKey("extract").putLabels(SnapshotLabels.STARGZ_IMAGE_REF,
                        "192.0.2.1/library/app:v1").build()));

        assertEquals(Status.Code.INVALID_ARGUMENT, result);
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("boot")));
    }

    @Test
    void agreeingImageReferencesAreAccepted() {
        Map<String, String> labels = new java.util.HashMap<>(dataLayerLabels("chain-1", BLOB,
                IMAGE));
        labels.put(SnapshotLabels.STARGZ_IMAGE_REF, IMAGE.replace(":v1", ":v2"));

        assertEquals(Status.Code.ALREADY_EXISTS, code(() -> prepare("extract-1", "", labels)));
        assertEquals(IMAGE, stat("chain-1").getLabelsMap().get(SnapshotLabels.IMAGE_REF));
    }

    @Test
    void pathLikeKeysStayUnderRoot() throws Exception {
        List<Path> before = listing(dir.path());

        prepare("../../escape", "", Map.of());
        commit("/etc/passwd", "../../escape");
        prepare("../x/../../y", "/etc/passwd", Map.of());

        assertEquals(before, listing(dir.path()));
        assertEquals(List.of(root.resolve("snapshots/1"), root.resolve("snapshots/2")),
                snapshotDirs());
    }

    @Test
    void missingBootstrapFailsCommit() {
        prepare("extract", "", Map.of(SnapshotLabels.TARGET_REF, "boot",
                SnapshotLabels.NYDUS_BOOTSTRAP, "true", SnapshotLabels.CRI_IMAGE_REF, IMAGE));

        String result = message(() -> commit("boot", "extract"));

        assertTrue(result.contains("contains no image/image.boot"), result);
    }

    @Test
    void unlabeledLayerOnDataLayerFailsPrepare() throws Exception {
        // containerd 1.6's "ctr images pull" unpacks without layer labels. Where the data
        // layers of the image exist from a lazy pull, it unpacks only the bootstrap layer, on
        // top of them, as if it were a plain layer.
        code(() -> prepare("extract-1", "", dataLayerLabels("chain-1", BLOB, IMAGE)));

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> prepare("extract-2", "chain-1", Map.of()));

        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        String message = e.getStatus().getDescription();
        assertTrue(message.contains("'extract-2'"), message);
        assertTrue(message.contains("'chain-1'"), message);
        assertTrue(message.contains(IMAGE), message);
        assertTrue(message.contains("ctr-remote images rpull"), message);
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("extract-2")));
        assertEquals(List.of(root.resolve("snapshots/1")), snapshotDirs());
    }

    @Test
    void viewOfDataLayerIsAllowed() {
        code(() -> prepare("extract-1", "", dataLayerLabels("chain-1", BLOB, IMAGE)));

        List<Mount> mounts = stub().view(ViewSnapshotRequest.newBuilder().setKey("view")
                .setParent("chain-1").build()).getMountsList();

        assertEquals(1, mounts.size());
        assertEquals(Kind.VIEW, stat("view").getKind());
    }

    @Test
    void hangingDaemonTimesOut() throws Exception {
        Path boot = fs(prepareBootstrapLayer()).resolve("image/image.boot");
        assertTrue(Files.exists(boot));
        commit("boot", "extract");

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> prepare("container", "boot", Map.of()));

        assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("did not start within 2 s"),
                e.getStatus().getDescription());
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("container")));
        assertEquals(List.of(root.resolve("snapshots/1")), snapshotDirs());
    }

    @Test
    void failedPrepareSparesKeyPreparedAgain() throws Exception {
        prepareBootstrapLayer();
        commit("boot", "extract");
        AtomicInteger firstCode = new AtomicInteger(-1);
        Thread first = Thread.ofPlatform().start(() -> firstCode.set(
                code(() -> prepare("container", "boot", Map.of())).value()));
        awaitSnapshot("container");

        // The first Prepare waits for its hanging nydusd while the key is removed and taken.
        stub().remove(RemoveSnapshotRequest.newBuilder().setKey("container").build());
        Path fs = fs(prepare("container", "", Map.of()).getFirst());
        first.join();
        stub().cleanup(CleanupRequest.getDefaultInstance());

        assertEquals(Status.Code.DEADLINE_EXCEEDED.value(), firstCode.get());
        assertEquals(Kind.ACTIVE, stat("container").getKind());
        assertTrue(Files.isDirectory(fs));
    }

    @Test
    void staleMountIsDetachedUnderSymlinkedRoot() throws Exception {
        // Hosts often link /var/lib/containerd to a larger disk, and the mount table lists
        // the linked-to path.
        server.close();
        Path realRoot = Files.createDirectories(dir.resolve("disk/root"));
        root = Files.createSymbolicLink(dir.resolve("linked-root"), realRoot);
        Path mountpoint = Files.createDirectories(realRoot.resolve("mnt"));
        Posix.mount(BytePath.of("tmpfs"), BytePath.of(mountpoint), "tmpfs", 0, "size=1m");
        try {
            startServer("nydusd_path = \"" + dir.resolve("hanging-nydusd") + "\"\n");
            prepareBootstrapLayer();
            commit("boot", "extract");

            Status.Code failed = code(() -> prepare("container", "boot", Map.of()));

            assertEquals(Status.Code.DEADLINE_EXCEEDED, failed);
            assertFalse(MountTable.isMountpoint(mountpoint));
        } finally {
            if (MountTable.isMountpoint(mountpoint)) {
                Posix.umount2(BytePath.of(mountpoint), MountFlags.MNT_DETACH);
            }
        }
    }

    @Test
    void removeOfImageWaitsNotForDaemonStart() throws Exception {
        // The nydusd hangs until the test kills it, and the mount timeout outlasts the calls'
        // deadlines, so the checks below run while the daemon start is in progress.
        server.close();
        startServer("nydusd_path = \"" + dir.resolve("hanging-nydusd") + "\"\n", "120s");
        prepareBootstrapLayer("extract-1", "boot-1");
        commit("boot-1", "extract-1");
        prepareBootstrapLayer("extract-2", "boot-2");
        commit("boot-2", "extract-2");
        prepare("plain", "", Map.of());
        Thread container = Thread.ofPlatform().start(() ->
                code(() -> prepare("container", "boot-1", Map.of())));
        long nydusd = awaitNydusdStart();
        Thread remover = null;
        try {
            // The remove waits for the daemon start to unmount the image of boot-2, but its
            // record goes first, so the snapshot is gone while the remove still runs.
            remover = Thread.ofPlatform().start(() -> stub().remove(
                    RemoveSnapshotRequest.newBuilder().setKey("boot-2").build()));
            awaitGone("boot-2");

            assertEquals("plain", stat("plain").getName());
            assertTrue(container.isAlive(), "the container's Prepare ended before the checks");
        } finally {
            ProcessHandle.of(nydusd).ifPresent(ProcessHandle::destroyForcibly);
        }
        container.join();
        remover.join();
    }

    @Test
    void interruptedPrepareRollsBack() throws Exception {
        // The server's shutdown interrupts the threads of calls still running.
        prepareBootstrapLayer();
        commit("boot", "extract");
        AtomicReference<Exception> failure = new AtomicReference<>();
        Thread call = Thread.ofPlatform().start(() -> {
            try {
                server.snapshotter().prepare("container", "boot", Map.of());
            } catch (SnapshotException e) {
                failure.set(e);
            }
        });
        awaitSnapshot("container");
        awaitNydusdStart();

        call.interrupt();
        call.join();
        server.close();
        startServer("");

        assertTrue(failure.get() != null, "Prepare returned mounts");
        assertEquals(Status.Code.NOT_FOUND, code(() -> stat("container")));
        assertEquals(List.of(root.resolve("snapshots/1")), snapshotDirs());
    }

    @Test
    void missingDaemonFailsClearly() throws Exception {
        server.close();
        startServer("nydusd_path = \"" + dir.resolve("no-such-nydusd") + "\"\n");
        prepareBootstrapLayer();
        commit("boot", "extract");

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> prepare("container", "boot", Map.of()));

        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("failed to start nydusd"),
                e.getStatus().getDescription());
    }

    @Test
    void failedPidFileWriteStopsDaemon() throws Exception {
        server.close();
        Path nydusd = dir.resolve("pid-file-nydusd");
        Files.writeString(nydusd, "#!/bin/sh\nexec sleep 617\n");
        assertTrue(nydusd.toFile().setExecutable(true));
        Path pidFile = Files.createDirectories(root.resolve("socket/shared/nydusd.pid"));
        Files.writeString(pidFile.resolve("in-the-way"), "");
        startServer("nydusd_path = \"" + nydusd + "\"\n");
        prepareBootstrapLayer();
        commit("boot", "extract");

        Status.Code failed = code(() -> prepare("container", "boot", Map.of()));
        List<ProcessHandle> left = ProcessHandle.current().descendants()
                .filter(p -> p.isAlive() && p.info().commandLine().orElse("").contains("617"))
                .toList();
        left.forEach(ProcessHandle::destroyForcibly);

        assertEquals(Status.Code.UNAVAILABLE, failed);
        assertEquals(List.of(), left);
    }

    @Test
    void failedStartQuotesOnlyItsOwnLog() throws Exception {
        server.close();
        Path failing = dir.resolve("failing-nydusd");
        Files.writeString(failing, "#!/bin/sh\necho 'invalid option --bogus'\nexit 2\n");
        assertTrue(failing.toFile().setExecutable(true));
        Path log = Files.createDirectories(root.resolve("socket/shared")).resolve("nydusd.log");
        Files.writeString(log, "a line of an earlier nydusd\n");
        startServer("nydusd_path = \"" + failing + "\"\n");
        prepareBootstrapLayer();
        commit("boot", "extract");

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> prepare("container", "boot", Map.of()));

        String message = e.getStatus().getDescription();
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), message);
        assertTrue(message.contains("exited with status 2"), message);
        assertTrue(message.contains("invalid option --bogus"), message);
        assertFalse(message.contains("earlier nydusd"), message);
    }

    @Test
    void cleanupSparesSnapshotsPreparedMeanwhile() throws Exception {
        // containerd calls Cleanup from its garbage collector while containers start, so a
        // directory made during a cleanup must not look orphaned to it.
        AtomicBoolean preparing = new AtomicBoolean(true);
        AtomicInteger cleanups = new AtomicInteger();
        Thread cleaner = Thread.ofPlatform().start(() -> {
            while (preparing.get()) {
                stub().cleanup(CleanupRequest.getDefaultInstance());
                cleanups.incrementAndGet();
            }
        });
        List<Path> prepared = new ArrayList<>();
        try {
            for (int i = 0; i < 300; i++) {
                prepared.add(fs(prepare("during-cleanup-" + i, "", Map.of()).getFirst()));
            }
        } finally {
            preparing.set(false);
            cleaner.join();
        }

        assertTrue(cleanups.get() > 1, "cleanups: " + cleanups.get());
        List<Path> missing = prepared.stream().filter(fs -> !Files.isDirectory(fs)).toList();
        assertEquals(List.of(), missing);
    }

    @Test
    void unusedBlobIsFreed() throws Exception {
        Path cache = root.resolve("cache");
        String kept = "cd".repeat(32);
        String unused = "ef".repeat(32);
        code(() -> prepare("extract-1", "", dataLayerLabels("chain-1", "sha256:" + kept,
                IMAGE)));
        Files.write(cache.resolve(kept + ".blob.data"), new byte[10]);
        Files.write(cache.resolve(unused + ".blob.data"), new byte[10]);
        Files.write(cache.resolve(unused + ".blob.meta"), new byte[10]);

        stub().cleanup(CleanupRequest.getDefaultInstance());

        assertTrue(Files.exists(cache.resolve(kept + ".blob.data")));
        assertFalse(Files.exists(cache.resolve(unused + ".blob.data")));
        assertFalse(Files.exists(cache.resolve(unused + ".blob.meta")));
    }

    @Test
    void removingLastLayerFreesBlob() throws Exception {
        String blob = "cd".repeat(32);
        code(() -> prepare("extract-1", "", dataLayerLabels("chain-1", "sha256:" + blob,
                IMAGE)));
        code(() -> prepare("extract-2", "", dataLayerLabels("chain-2", "sha256:" + blob,
                "127.0.0.1:5000/library/other:v1")));
        Path data = root.resolve("cache").resolve(blob + ".blob.data");
        Files.write(data, new byte[10]);

        stub().remove(RemoveSnapshotRequest.newBuilder().setKey("chain-1").build());
        boolean keptWhileShared = Files.exists(data);
        stub().remove(RemoveSnapshotRequest.newBuilder().setKey("chain-2").build());

        assertTrue(keptWhileShared);
        assertFalse(Files.exists(data));
    }

    @Test
    void ociRefLayerKeepsSourceBlobCache() throws Exception {
        Path cache = root.resolve("cache");
        String refBlob = "ab".repeat(32);
        String gzipLayer = "cd".repeat(32);
        Map<String, String> labels = new HashMap<>(dataLayerLabels("chain-1",
                "sha256:" + refBlob, IMAGE));
        labels.put(SnapshotLabels.NYDUS_REF, "sha256:" + gzipLayer);
        code(() -> prepare("extract-1", "", labels));
        Path meta = Files.write(cache.resolve(refBlob + ".blob.meta"), new byte[10]);
        Path data = Files.write(cache.resolve(gzipLayer + ".blob.data"), new byte[10]);

        stub().cleanup(CleanupRequest.getDefaultInstance());
        boolean keptByCleanup = Files.exists(meta) && Files.exists(data);
        stub().remove(RemoveSnapshotRequest.newBuilder().setKey("chain-1").build());

        assertTrue(keptByCleanup, "cleanup deleted the cache of an OCI-ref layer in use");
        assertFalse(Files.exists(meta));
        assertFalse(Files.exists(data));
    }

    private Path nydusdPid() {
        return dir.resolve("hanging-nydusd.pid");
    }

    /** Waits until the hanging nydusd runs, and returns its pid. */
    private long awaitNydusdStart() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(nydusdPid())) {
            assertTrue(System.nanoTime() < deadline, "the hanging nydusd did not start");
            Thread.sleep(10);
        }
        return Long.parseLong(Files.readString(nydusdPid()).strip());
    }

    /** Waits until Stat of {@code key} fails with NOT_FOUND. */
    private void awaitGone(String key) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                stat(key);
                assertTrue(System.nanoTime() < deadline, key + " was not removed");
                Thread.sleep(10);
            } catch (StatusRuntimeException e) {
                assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode(), "Stat of " + key);
                return;
            }
        }
    }

    private void awaitSnapshot(String key) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                stat(key);
                return;
            } catch (StatusRuntimeException e) {
                assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
                assertTrue(System.nanoTime() < deadline, key + " was not created");
                Thread.sleep(10);
            }
        }
    }

    private Mount prepareBootstrapLayer() throws Exception {
        return prepareBootstrapLayer("extract", "boot");
    }

    private Mount prepareBootstrapLayer(String key, String target) throws Exception {
        Mount mount = prepare(key, "", Map.of(SnapshotLabels.TARGET_REF, target,
                SnapshotLabels.NYDUS_BOOTSTRAP, "true", SnapshotLabels.CRI_IMAGE_REF, IMAGE))
                .getFirst();
        Path image = Files.createDirectories(fs(mount).resolve("image"));
        Files.write(image.resolve("image.boot"), new byte[4096]);
        return mount;
    }

    private static Map<String, String> dataLayerLabels(String target, String digest,
            String image) {
        return Map.of(SnapshotLabels.TARGET_REF, target, SnapshotLabels.NYDUS_BLOB, "true",
                SnapshotLabels.CRI_LAYER_DIGEST, digest, SnapshotLabels.CRI_IMAGE_REF, image);
    }

    private String metrics() throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + metricsPort + "/metrics")).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        }
    }

    private List<Path> snapshotDirs() throws Exception {
        try (Stream<Path> dirs = Files.list(root.resolve("snapshots"))) {
            return dirs.sorted().toList();
        }
    }

    private List<Path> listing(Path top) throws Exception {
        try (Stream<Path> files = Files.walk(top)) {
            return files.filter(p -> !p.startsWith(root)).sorted().toList();
        }
    }
}
