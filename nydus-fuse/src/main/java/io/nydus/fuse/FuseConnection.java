package io.nydus.fuse;

/**
 * What the kernel and the server agreed on in init.
 *
 * @param major protocol major version
 * @param minor protocol minor version the session speaks
 * @param maxRead largest read request, bytes
 * @param maxWrite largest write request, bytes
 */
public record FuseConnection(int major, int minor, int maxRead, int maxWrite) {
}
