/** nydusd: mounts RAFS v6 images with FUSE and serves the management API on a unix socket. */
package io.nydus.daemon;
