package io.nydus.cli.snapshotter;

import io.grpc.ManagedChannel;
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
import java.util.concurrent.TimeUnit;

/** A CRI image service client on a unix socket, pulling images as kubelet does. */
final class CriClient implements AutoCloseable {

    private final EventLoopGroup events = new MultiThreadIoEventLoopGroup(1,
            EpollIoHandler.newFactory());
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
        return images().pullImage(PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image)).build()).getImageRef();
    }

    /** Pulls {@code image} with credentials given only in the request. */
    String pull(String image, String username, String password) {
        return images().pullImage(PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image))
                .setAuth(AuthConfig.newBuilder().setUsername(username).setPassword(password))
                .build()).getImageRef();
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
