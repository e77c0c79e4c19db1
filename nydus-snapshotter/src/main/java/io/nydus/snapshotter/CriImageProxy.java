package io.nydus.snapshotter;

import com.google.protobuf.InvalidProtocolBufferException;
import io.grpc.CallOptions;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.HandlerRegistry;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import io.nydus.snapshotter.cri.AuthConfig;
import io.nydus.snapshotter.cri.PullImageRequest;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A CRI image service proxy: kubelet's image requests reach containerd's CRI plugin through
 * it unchanged, and the credentials of each PullImage request are remembered, so that nydusd
 * can read a private image's blobs with the same credentials later. Unary calls of the
 * {@code runtime.v1} and {@code runtime.v1alpha2} image services are forwarded as raw bytes;
 * other services get UNIMPLEMENTED.
 */
final class CriImageProxy extends HandlerRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(CriImageProxy.class);
    static final MethodDescriptor.Marshaller<byte[]> BYTES = new BytesMarshaller();

    private final ManagedChannel containerd;
    private final CredentialStore credentials;

    CriImageProxy(ManagedChannel containerd, CredentialStore credentials) {
        this.containerd = containerd;
        this.credentials = credentials;
    }

    @Override
    public ServerMethodDefinition<?, ?> lookupMethod(String methodName, String authority) {
        // Only the image service: kubelet sends runtime calls to containerd directly.
        if (!methodName.startsWith("runtime.v1.ImageService/")
                && !methodName.startsWith("runtime.v1alpha2.ImageService/")) {
            return null;
        }
        MethodDescriptor<byte[], byte[]> method = MethodDescriptor.<byte[], byte[]>newBuilder()
                .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName(methodName)
                .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
        ServerCallHandler<byte[], byte[]> handler = ServerCalls.asyncUnaryCall(
                (request, observer) -> forward(method, request, observer));
        return ServerMethodDefinition.create(method, handler);
    }

    private void forward(MethodDescriptor<byte[], byte[]> method, byte[] request,
            StreamObserver<byte[]> observer) {
        if (method.getFullMethodName().endsWith("ImageService/PullImage")) {
            remember(request);
        }
        CallOptions options = CallOptions.DEFAULT;
        Deadline deadline = Context.current().getDeadline();
        if (deadline != null) {
            options = options.withDeadline(deadline);
        }
        try {
            byte[] response = ClientCalls.blockingUnaryCall(containerd, method, options, request);
            observer.onNext(response);
            observer.onCompleted();
        } catch (StatusRuntimeException e) {
            observer.onError(e);
        } catch (RuntimeException e) {
            LOG.warn("forwarding {} to containerd failed: {}", method.getFullMethodName(),
                    e.toString());
            observer.onError(Status.UNAVAILABLE.withDescription("forwarding "
                    + method.getFullMethodName() + " to containerd failed: " + e)
                    .asRuntimeException());
        }
    }

    private void remember(byte[] request) {
        try {
            PullImageRequest pull = PullImageRequest.parseFrom(request);
            if (pull.hasAuth()) {
                AuthConfig auth = pull.getAuth();
                credentials.rememberCriAuth(pull.getImage().getImage(), auth.getUsername(),
                        auth.getPassword(), auth.getAuth(), auth.getRegistryToken(),
                        auth.getIdentityToken());
            }
        } catch (InvalidProtocolBufferException e) {
            LOG.warn("cannot read a CRI PullImage request to remember its credentials: {}",
                    e.getMessage());
        }
    }

    /** Passes messages through as bytes. */
    private static final class BytesMarshaller implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
