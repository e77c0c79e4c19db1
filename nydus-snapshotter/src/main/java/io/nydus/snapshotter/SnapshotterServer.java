package io.nydus.snapshotter;

import com.sun.net.httpserver.HttpServer;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.nydus.posix.UnixSockets;
import io.nydus.registry.CredentialProvider;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running snapshotter: the snapshots gRPC service (and, with the CRI keychain, the CRI
 * image service proxy) on a unix socket, the Prometheus endpoint and the cache's periodic
 * garbage collection.
 */
public final class SnapshotterServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SnapshotterServer.class);

    private final SnapshotterConfig config;
    private final Snapshotter snapshotter;
    private final Metrics metrics;
    private final EventLoopGroup events;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final ScheduledExecutorService scheduler =
            Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon()
                    .name("nydus-gc").factory());
    private ManagedChannel containerd;
    private Server server;
    private HttpServer metricsServer;
    private final NydusdManager mounter;
    private SystemServer system;

    private SnapshotterServer(SnapshotterConfig config, Snapshotter snapshotter,
            Metrics metrics, NydusdManager mounter) {
        this.config = config;
        this.snapshotter = snapshotter;
        this.metrics = metrics;
        this.mounter = mounter;
        this.events = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
    }

    /** Returns {@code dir}, which must be a directory when set, as upstream requires. */
    private static Path requireMirrorsDir(Path dir) throws IOException {
        if (dir != null && !Files.isDirectory(dir)) {
            throw new IOException("the mirrors config directory " + dir
                    + " (remote.mirrors_config.dir) does not exist");
        }
        return dir;
    }

    /**
     * Opens the state under the config's root, recovers the mounts of running containers and
     * starts serving.
     *
     * @throws IOException naming the path or address that could not be used
     */
    public static SnapshotterServer start(SnapshotterConfig config,
            CredentialProvider credentials) throws IOException {
        Files.createDirectories(config.root());
        Files.setPosixFilePermissions(config.root(), PosixFilePermissions.fromString("rwx------"));
        Metrics metrics = new Metrics();
        CredentialStore store = new CredentialStore(credentials);
        DaemonConfigs configs = DaemonConfigs.load(config.nydusdConfig(), config.cacheDir(),
                store).withMirrorsDir(requireMirrorsDir(config.mirrorsConfigDir()));
        NydusdManager mounter = new NydusdManager(config, configs, metrics);
        BlobCache cache = new BlobCache(config.cacheDir(), config.cacheLimitBytes());
        Snapshotter snapshotter = new Snapshotter(config.root(), mounter, cache, metrics,
                Clock.systemUTC(), config.volatileOverlays());
        SnapshotterServer server = new SnapshotterServer(config, snapshotter, metrics, mounter);
        try {
            snapshotter.recover();
            server.serve(store);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    public Metrics metrics() {
        return metrics;
    }

    public Snapshotter snapshotter() {
        return snapshotter;
    }

    private void serve(CredentialStore credentials) throws IOException {
        Path socket = config.address();
        Files.createDirectories(socket.getParent());
        UnixSockets.deleteStale(socket, "snapshotter socket");
        GrpcWarmUp.run(config.root().resolve("warm-up.sock"), events);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(
                        new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(events).workerEventLoopGroup(events).executor(executor)
                .addService(new SnapshotsService(snapshotter, metrics));
        if (config.criKeychain()) {
            containerd = NettyChannelBuilder.forAddress(
                            new DomainSocketAddress(config.imageServiceAddress().toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(events)
                    .usePlaintext().build();
            builder.fallbackHandlerRegistry(new CriImageProxy(containerd, credentials));
            LOG.info("serving the CRI image service as a proxy of {}",
                    config.imageServiceAddress());
        }
        server = builder.build().start();
        LOG.info("nydus snapshotter listening on {} (root {}, daemon mode {})", socket,
                config.root(), config.daemonMode().name().toLowerCase(Locale.ROOT));
        startMetrics();
        if (config.systemAddress() != null) {
            system = SystemServer.start(config.systemAddress(), mounter, events);
        }
        if (!config.cacheDisabled()) {
            long period = config.gcPeriod().toMillis();
            scheduler.scheduleAtFixedRate(this::collectGarbage, period, period,
                    TimeUnit.MILLISECONDS);
        }
    }

    private void startMetrics() throws IOException {
        if (config.metricsAddress().isEmpty()) {
            return;
        }
        String address = config.metricsAddress();
        int colon = address.lastIndexOf(':');
        if (colon < 0) {
            throw new IOException("invalid metrics address '" + address
                    + "': expected HOST:PORT");
        }
        String host = colon == 0 ? "127.0.0.1" : address.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(address.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IOException("invalid port in metrics address '" + address + "'");
        }
        metricsServer = HttpServer.create(new InetSocketAddress(host, port), 0);
        metricsServer.createContext("/metrics", exchange -> {
            byte[] body = metrics.render().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        metricsServer.start();
        LOG.info("serving Prometheus metrics on http://{}/metrics", address);
    }

    private void collectGarbage() {
        try {
            long freed = snapshotter.collectGarbage();
            LOG.info("cache garbage collection freed {} bytes", freed);
        } catch (IOException | RuntimeException e) {
            LOG.warn("cache garbage collection failed: {}", e.toString());
        }
    }

    /** Blocks until the gRPC server stops. */
    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    /** Stops serving; nydusd processes keep running unless {@code cleanup_on_close} is set. */
    @Override
    public void close() {
        scheduler.shutdownNow();
        if (system != null) {
            system.close();
        }
        if (metricsServer != null) {
            metricsServer.stop(0);
        }
        if (server != null) {
            server.shutdown();
            try {
                if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                    server.shutdownNow();
                }
            } catch (InterruptedException e) {
                server.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
        if (containerd != null) {
            containerd.shutdownNow();
        }
        snapshotter.close();
        events.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        executor.shutdownNow();
        LOG.info("nydus snapshotter stopped");
    }
}
