package io.nydus.snapshotter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.nydus.posix.UnixSockets;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The snapshotter's system API on a unix socket, under upstream's paths: {@code GET
 * /api/v1/daemons} lists the nydusd processes, and {@code PUT /api/v1/daemons/upgrade} with
 * {@code {"nydusd_path": "/path/to/nydusd"}} replaces each of them by one of that executable,
 * which takes its FUSE mount over while containers keep running. {@code PUT /api/v1/prefetch}
 * sets the prefetch lists of images about to start.
 */
final class SystemServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SystemServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_BODY = 64 << 10;

    private final NydusdManager manager;
    private final ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor();
    private final Path socket;
    private Channel channel;

    SystemServer(Path socket, NydusdManager manager) {
        this.socket = socket;
        this.manager = manager;
    }

    /** Listens on {@code socket}, replacing a socket file left there. */
    static SystemServer start(Path socket, NydusdManager manager, EventLoopGroup events)
            throws IOException {
        Files.createDirectories(socket.getParent());
        UnixSockets.deleteStale(socket, "system socket");
        SystemServer server = new SystemServer(socket, manager);
        ServerBootstrap bootstrap = new ServerBootstrap().group(events)
                .channel(EpollServerDomainSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel child) {
                        child.pipeline().addLast(new HttpServerCodec(),
                                new HttpObjectAggregator(MAX_BODY), server.new Handler());
                    }
                });
        try {
            server.channel = bootstrap.bind(new DomainSocketAddress(socket.toString())).sync()
                    .channel();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while binding system socket " + socket, e);
        } catch (RuntimeException e) {
            throw new IOException("cannot listen on system socket " + socket + ": "
                    + e.getMessage(), e);
        }
        LOG.info("system API listening on {}", socket);
        return server;
    }

    /** A response: status and JSON body, or no body. */
    record Reply(HttpResponseStatus status, Object body) {
    }

    /** Handles one request. Slow requests, such as an upgrade, run off the event loop. */
    private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext context, FullHttpRequest request) {
            if (!request.decoderResult().isSuccess()) {
                respond(context, error(HttpResponseStatus.BAD_REQUEST, "BadRequest",
                        "invalid HTTP request"));
                return;
            }
            String method = request.method().name();
            String path = request.uri().split("\\?", 2)[0];
            String body = request.content().toString(StandardCharsets.UTF_8);
            try {
                requests.execute(() -> respond(context, route(method, path, body)));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                respond(context, error(HttpResponseStatus.SERVICE_UNAVAILABLE, "Stopping",
                        "the snapshotter is stopping"));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext context, Throwable cause) {
            LOG.debug("system API connection failed: {}", cause.toString());
            context.close();
        }
    }

    Reply route(String method, String path, String body) {
        try {
            return switch (method + " " + path) {
                case "GET /api/v1/daemons" ->
                        new Reply(HttpResponseStatus.OK, manager.describeDaemons());
                // Upstream's snapshotter serves the first path, its documentation the second.
                case "PUT /api/v1/daemons/upgrade", "PUT /api/v1/nydusd/upgrade" ->
                        upgrade(body);
                case "PUT /api/v1/prefetch" -> new Reply(HttpResponseStatus.OK,
                        Map.of("images", manager.setPrefetchLists(body)));
                default -> unknown(method, path);
            };
        } catch (IllegalArgumentException e) {
            return error(HttpResponseStatus.BAD_REQUEST, "InvalidArgument", e.getMessage());
        } catch (IllegalStateException e) {
            return error(HttpResponseStatus.CONFLICT, "InvalidState", e.getMessage());
        } catch (IOException | RuntimeException e) {
            LOG.error("system API {} {} failed: {}", method, path, e.getMessage());
            return error(HttpResponseStatus.INTERNAL_SERVER_ERROR, "InternalError",
                    String.valueOf(e.getMessage()));
        }
    }

    private Reply upgrade(String body) throws IOException {
        JsonNode request;
        try {
            request = JSON.readTree(body.isEmpty() ? "{}" : body);
        } catch (IOException e) {
            throw new IllegalArgumentException("the body is not JSON: " + e.getMessage());
        }
        String path = request.path("nydusd_path").asText("");
        if (path.isEmpty()) {
            throw new IllegalArgumentException("the body needs \"nydusd_path\", the new nydusd"
                    + " executable");
        }
        LOG.info("upgrade of every nydusd to {} requested through the system API", path);
        int upgraded = manager.upgrade(Path.of(path));
        return new Reply(HttpResponseStatus.OK, Map.of("upgraded", upgraded));
    }

    private static Reply unknown(String method, String path) {
        boolean known = path.equals("/api/v1/daemons") || path.equals("/api/v1/daemons/upgrade")
                || path.equals("/api/v1/nydusd/upgrade") || path.equals("/api/v1/prefetch");
        return known ? error(HttpResponseStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed", method
                + " is not allowed on " + path) : error(HttpResponseStatus.NOT_FOUND,
                "NotFound", "no endpoint " + method + " " + path);
    }

    private static Reply error(HttpResponseStatus status, String code, String message) {
        return new Reply(status, Map.of("code", code, "message", message));
    }

    private static void respond(ChannelHandlerContext context, Reply reply) {
        byte[] bytes;
        try {
            bytes = reply.body() == null ? new byte[0] : JSON.writeValueAsBytes(reply.body());
        } catch (IOException e) {
            LOG.error("system API reply with status {} cannot be written as JSON: {}",
                    reply.status().code(), e.getMessage());
            bytes = new byte[0];
        }
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                reply.status(), Unpooled.wrappedBuffer(bytes));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
        response.headers().set(HttpHeaderNames.CONNECTION, "close");
        context.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.close().syncUninterruptibly();
        }
        // An upgrade in progress finishes: stopping it half-way could leave a mount unserved.
        requests.shutdown();
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.debug("cannot delete system socket {}: {}", socket, e.getMessage());
        }
    }
}
