package io.nydus.snapshotter;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes one gRPC call through a throwaway server on a unix socket before the snapshotter
 * listens, so that the classes of the HTTP/2 path are loaded (about 0.3 s here). Loaded on
 * containerd's first connection instead, they delayed the handshake past containerd 1.6's
 * limit on a loaded machine in tests here, and containerd failed pulls while it backed off.
 */
final class GrpcWarmUp {
    private static final Logger LOG = LoggerFactory.getLogger(GrpcWarmUp.class);
    private static final MethodDescriptor<byte[], byte[]> PING = MethodDescriptor
            .<byte[], byte[]>newBuilder().setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName("nydus.WarmUp/Ping").setRequestMarshaller(CriImageProxy.BYTES)
            .setResponseMarshaller(CriImageProxy.BYTES).build();

    private GrpcWarmUp() {
    }

    /**
     * Serves on {@code socket} and calls a method that the server does not have, then stops
     * both. A failure only costs the warm-up, so it is logged and the start goes on.
     */
    static void run(Path socket, EventLoopGroup events) {
        long start = System.nanoTime();
        Server server = null;
        ManagedChannel channel = null;
        try {
            Files.deleteIfExists(socket);
            server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                    .channelType(EpollServerDomainSocketChannel.class)
                    .bossEventLoopGroup(events).workerEventLoopGroup(events).build().start();
            channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(events)
                    .usePlaintext().build();
            try {
                ClientCalls.blockingUnaryCall(channel, PING,
                        CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), new byte[0]);
            } catch (StatusRuntimeException expected) {
                // UNIMPLEMENTED: the call went through the whole request and response path.
            }
            LOG.debug("gRPC warm-up took {} ms", (System.nanoTime() - start) / 1_000_000);
        } catch (IOException | RuntimeException e) {
            LOG.warn("gRPC warm-up failed, so containerd's first connection may be slow: {}",
                    e.toString());
        } finally {
            close(channel, server);
            try {
                Files.deleteIfExists(socket);
            } catch (IOException e) {
                LOG.debug("cannot remove warm-up socket {}: {}", socket, e.toString());
            }
        }
    }

    private static void close(ManagedChannel channel, Server server) {
        try {
            if (channel != null) {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
            if (server != null) {
                server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
