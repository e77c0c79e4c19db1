package io.nydus.snapshotter;

import com.google.protobuf.Empty;
import com.google.protobuf.Timestamp;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.nydus.snapshotter.api.CleanupRequest;
import io.nydus.snapshotter.api.CommitSnapshotRequest;
import io.nydus.snapshotter.api.Info;
import io.nydus.snapshotter.api.Kind;
import io.nydus.snapshotter.api.ListSnapshotsRequest;
import io.nydus.snapshotter.api.ListSnapshotsResponse;
import io.nydus.snapshotter.api.Mount;
import io.nydus.snapshotter.api.MountsRequest;
import io.nydus.snapshotter.api.MountsResponse;
import io.nydus.snapshotter.api.PrepareSnapshotRequest;
import io.nydus.snapshotter.api.PrepareSnapshotResponse;
import io.nydus.snapshotter.api.RemoveSnapshotRequest;
import io.nydus.snapshotter.api.SnapshotsGrpc;
import io.nydus.snapshotter.api.StatSnapshotRequest;
import io.nydus.snapshotter.api.StatSnapshotResponse;
import io.nydus.snapshotter.api.UpdateSnapshotRequest;
import io.nydus.snapshotter.api.UpdateSnapshotResponse;
import io.nydus.snapshotter.api.UsageRequest;
import io.nydus.snapshotter.api.UsageResponse;
import io.nydus.snapshotter.api.ViewSnapshotRequest;
import io.nydus.snapshotter.api.ViewSnapshotResponse;
import java.time.Instant;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** containerd's snapshots gRPC service on top of a {@link Snapshotter}. */
final class SnapshotsService extends SnapshotsGrpc.SnapshotsImplBase {
    private static final Logger LOG = LoggerFactory.getLogger(SnapshotsService.class);
    /** containerd sends at most this many infos per List message; larger walks are split. */
    private static final int LIST_BATCH = 100;

    private final Snapshotter snapshotter;
    private final Metrics metrics;

    SnapshotsService(Snapshotter snapshotter, Metrics metrics) {
        this.snapshotter = snapshotter;
        this.metrics = metrics;
    }

    @FunctionalInterface
    private interface Call<T> {
        T run() throws SnapshotException;
    }

    private <T> void respond(String operation, String key, StreamObserver<T> observer,
            Call<T> call) {
        T response;
        try {
            response = call.run();
        } catch (SnapshotException e) {
            fail(operation, key, observer, e);
            return;
        } catch (RuntimeException e) {
            fail(operation, key, observer, new SnapshotException(SnapshotException.Reason.INTERNAL,
                    operation + " of '" + key + "' failed: " + e, e));
            return;
        }
        observer.onNext(response);
        observer.onCompleted();
    }

    private void fail(String operation, String key, StreamObserver<?> observer,
            SnapshotException e) {
        if (e.reason() == SnapshotException.Reason.ALREADY_EXISTS
                || e.reason() == SnapshotException.Reason.NOT_FOUND) {
            LOG.debug("{} '{}': {}", operation, key, e.getMessage());
        } else {
            metrics.error();
            if (e.reason() == SnapshotException.Reason.INTERNAL) {
                LOG.warn("{} '{}' failed: {}", operation, key, e.getMessage(), e.getCause());
            } else {
                LOG.warn("{} '{}' failed: {}", operation, key, e.getMessage());
            }
        }
        observer.onError(status(e.reason()).withDescription(e.getMessage()).asRuntimeException());
    }

    private static Status status(SnapshotException.Reason reason) {
        return switch (reason) {
            case NOT_FOUND -> Status.NOT_FOUND;
            case ALREADY_EXISTS -> Status.ALREADY_EXISTS;
            case INVALID_ARGUMENT -> Status.INVALID_ARGUMENT;
            case FAILED_PRECONDITION -> Status.FAILED_PRECONDITION;
            case UNAVAILABLE -> Status.UNAVAILABLE;
            case DEADLINE_EXCEEDED -> Status.DEADLINE_EXCEEDED;
            case INTERNAL -> Status.INTERNAL;
        };
    }

    @Override
    public void prepare(PrepareSnapshotRequest request,
            StreamObserver<PrepareSnapshotResponse> observer) {
        respond("prepare", request.getKey(), observer, () -> PrepareSnapshotResponse.newBuilder()
                .addAllMounts(toProto(snapshotter.prepare(request.getKey(), request.getParent(),
                        request.getLabelsMap())))
                .build());
    }

    @Override
    public void view(ViewSnapshotRequest request, StreamObserver<ViewSnapshotResponse> observer) {
        respond("view", request.getKey(), observer, () -> ViewSnapshotResponse.newBuilder()
                .addAllMounts(toProto(snapshotter.view(request.getKey(), request.getParent(),
                        request.getLabelsMap())))
                .build());
    }

    @Override
    public void mounts(MountsRequest request, StreamObserver<MountsResponse> observer) {
        respond("mounts", request.getKey(), observer, () -> MountsResponse.newBuilder()
                .addAllMounts(toProto(snapshotter.mounts(request.getKey()))).build());
    }

    @Override
    public void commit(CommitSnapshotRequest request, StreamObserver<Empty> observer) {
        respond("commit", request.getKey(), observer, () -> {
            snapshotter.commit(request.getName(), request.getKey(), request.getLabelsMap());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void remove(RemoveSnapshotRequest request, StreamObserver<Empty> observer) {
        respond("remove", request.getKey(), observer, () -> {
            snapshotter.remove(request.getKey());
            return Empty.getDefaultInstance();
        });
    }

    @Override
    public void stat(StatSnapshotRequest request, StreamObserver<StatSnapshotResponse> observer) {
        respond("stat", request.getKey(), observer, () -> StatSnapshotResponse.newBuilder()
                .setInfo(toProto(snapshotter.stat(request.getKey()))).build());
    }

    @Override
    public void update(UpdateSnapshotRequest request,
            StreamObserver<UpdateSnapshotResponse> observer) {
        String key = request.getInfo().getName();
        respond("update", key, observer, () -> UpdateSnapshotResponse.newBuilder()
                .setInfo(toProto(snapshotter.update(key, request.getInfo().getLabelsMap(),
                        request.getUpdateMask().getPathsList())))
                .build());
    }

    @Override
    public void list(ListSnapshotsRequest request,
            StreamObserver<ListSnapshotsResponse> observer) {
        List<SnapshotRecord> records;
        try {
            records = snapshotter.walk(request.getFiltersList());
        } catch (SnapshotException e) {
            fail("list", "", observer, e);
            return;
        }
        for (int start = 0; start < records.size(); start += LIST_BATCH) {
            ListSnapshotsResponse.Builder batch = ListSnapshotsResponse.newBuilder();
            records.subList(start, Math.min(records.size(), start + LIST_BATCH))
                    .forEach(r -> batch.addInfo(toProto(r)));
            observer.onNext(batch.build());
        }
        observer.onCompleted();
    }

    @Override
    public void usage(UsageRequest request, StreamObserver<UsageResponse> observer) {
        respond("usage", request.getKey(), observer, () -> {
            long[] usage = snapshotter.usage(request.getKey());
            return UsageResponse.newBuilder().setSize(usage[0]).setInodes(usage[1]).build();
        });
    }

    @Override
    public void cleanup(CleanupRequest request, StreamObserver<Empty> observer) {
        respond("cleanup", "", observer, () -> {
            snapshotter.cleanup();
            return Empty.getDefaultInstance();
        });
    }

    private static List<Mount> toProto(List<MountSpec> mounts) {
        return mounts.stream().map(m -> Mount.newBuilder().setType(m.type())
                .setSource(m.source()).addAllOptions(m.options()).build()).toList();
    }

    private static Info toProto(SnapshotRecord record) {
        return Info.newBuilder().setName(record.key()).setParent(record.parent())
                .setKind(switch (record.kind()) {
                    case VIEW -> Kind.VIEW;
                    case ACTIVE -> Kind.ACTIVE;
                    case COMMITTED -> Kind.COMMITTED;
                })
                .setCreatedAt(timestamp(record.created()))
                .setUpdatedAt(timestamp(record.updated()))
                .putAllLabels(record.labels()).build();
    }

    private static Timestamp timestamp(Instant instant) {
        return Timestamp.newBuilder().setSeconds(instant.getEpochSecond())
                .setNanos(instant.getNano()).build();
    }
}
