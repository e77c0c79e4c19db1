/**
 * A containerd proxy snapshotter. It serves containerd's snapshots API on a unix socket, keeps
 * each snapshot as a directory under its root, mounts plain OCI layers with overlayfs as
 * containerd's own overlay snapshotter does, and mounts Nydus images lazily through nydusd.
 *
 * <p>The subpackages {@code api} and {@code cri} contain the generated gRPC types. This package
 * contains the snapshot store, the decision logic, the nydusd manager, the blob cache and the
 * servers.
 */
package io.nydus.snapshotter;
