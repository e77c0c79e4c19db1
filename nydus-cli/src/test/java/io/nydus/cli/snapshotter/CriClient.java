package io.nydus.cli.snapshotter;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.nydus.snapshotter.cri.AuthConfig;
import io.nydus.snapshotter.cri.ImageServiceGrpc;
import io.nydus.snapshotter.cri.ImageSpec;
import io.nydus.snapshotter.cri.ListImagesRequest;
import io.nydus.snapshotter.cri.PullImageRequest;
import io.nydus.snapshotter.cri.RemoveImageRequest;
import io.nydus.snapshotter.cri.RuntimeServiceGrpc;
import io.nydus.snapshotter.cri.VersionRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** A CRI image service client on a unix socket, pulling images as kubelet does. */
final class CriClient implements AutoCloseable {

    private final EventLoopGroup events = new MultiThreadIoEventLoopGroup(1,
            EpollIoHandler.newFactory());
    /** How long a pull waits for containerd to reach the snapshotter. */
    private static final Duration SNAPSHOTTER_WAIT = Duration.ofSeconds(30);

    private final ManagedChannel channel;

    CriClient(Path socket) {
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(events)
                .usePlaintext().build();
    }

    private ImageServiceGrpc.ImageServiceBlockingStub images() {
        return ImageServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(ContainerdServer.COMMAND_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    /** Pulls {@code image} and returns the image id containerd reports. */
    String pull(String image) {
        return pull(PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image)).build());
    }

    /** Pulls {@code image} with credentials given only in the request. */
    String pull(String image, String username, String password) {
        return pull(PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image))
                .setAuth(AuthConfig.newBuilder().setUsername(username).setPassword(password))
                .build());
    }

    /**
     * Sends {@code request}, and sends it again while containerd reports that it cannot reach
     * the snapshotter. After a failed connection, containerd's gRPC client fails calls at once
     * until its back-off ends. That happens when the first handshake with a snapshotter that
     * has just started takes too long on a loaded machine.
     */
    private String pull(PullImageRequest request) {
        long deadline = System.nanoTime() + SNAPSHOTTER_WAIT.toNanos();
        while (true) {
            try {
                return images().pullImage(request).getImageRef();
            } catch (StatusRuntimeException e) {
                if (!isSnapshotterUnreachable(e) || System.nanoTime() > deadline) {
                    throw e;
                }
            }
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting to pull", e);
            }
        }
    }

    private static boolean isSnapshotterUnreachable(StatusRuntimeException e) {
        String description = String.valueOf(e.getStatus().getDescription());
        return e.getStatus().getCode() == Status.Code.UNAVAILABLE
                && (description.contains("server handshake")
                        || description.contains("transport: "));
    }

    /** Returns the tags of every image that containerd's CRI plugin lists. */
    java.util.List<String> imageTags() {
        return images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList()
                .stream().flatMap(image -> image.getRepoTagsList().stream()).toList();
    }

    /** Calls the runtime service's Version, which only containerd itself serves. */
    String runtimeVersion() {
        return RuntimeServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(30, TimeUnit.SECONDS)
                .version(VersionRequest.getDefaultInstance()).getRuntimeName();
    }

    void remove(String image) {
        images().removeImage(RemoveImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image)).build());
    }

    @Override
    public void close() {
        channel.shutdownNow();
        events.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
