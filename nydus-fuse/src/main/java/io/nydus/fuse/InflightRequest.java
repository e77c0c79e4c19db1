package io.nydus.fuse;

/**
 * A request that a worker is handling now: what the management API lists so that a manager can
 * tell a hung request from a slow one.
 *
 * @param nodeId the kernel's node id of the inode the request is about (1 for the root)
 * @param opcode the FUSE opcode, such as 15 for READ
 * @param unique the kernel's id of the request
 * @param startedEpochSecond when the worker took the request, in seconds since the epoch
 */
public record InflightRequest(long nodeId, int opcode, long unique, long startedEpochSecond) {
}
