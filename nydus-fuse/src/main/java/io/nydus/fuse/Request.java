package io.nydus.fuse;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One request as read from {@code /dev/fuse}: the {@code fuse_in_header} fields and accessors
 * for the body that follows it. A view over the worker's request buffer, valid until the next
 * read.
 */
final class Request {

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final MemorySegment buffer;
    private MemorySegment body;
    private int opcode;
    private long unique;
    private long nodeId;
    private int uid;

    Request(MemorySegment buffer) {
        this.buffer = buffer;
    }

    /**
     * Decodes the header of a request of {@code length} bytes.
     *
     * @throws MalformedRequestException if the header's length field disagrees with the count
     *     read, or the extensions run past the end; {@link #unique()} is set when known
     */
    void parse(long length) throws MalformedRequestException {
        unique = 0;
        opcode = 0;
        nodeId = 0;
        uid = 0;
        if (length < Protocol.IN_HEADER_SIZE) {
            unique = length >= 16 ? buffer.get(LONG, 8) : 0;
            throw new MalformedRequestException("request of " + length
                    + " bytes is shorter than its " + Protocol.IN_HEADER_SIZE + "-byte header");
        }
        int declared = buffer.get(INT, 0);
        opcode = buffer.get(INT, 4);
        unique = buffer.get(LONG, 8);
        nodeId = buffer.get(LONG, 16);
        uid = buffer.get(INT, 24);
        if (declared != length) {
            throw new MalformedRequestException("header length " + declared
                    + " differs from the " + length + " bytes read");
        }
        int extensions = Short.toUnsignedInt(buffer.get(SHORT, 36)) * 8;
        if (extensions > length - Protocol.IN_HEADER_SIZE) {
            throw new MalformedRequestException("extensions of " + extensions
                    + " bytes exceed the request of " + length + " bytes");
        }
        body = buffer.asSlice(Protocol.IN_HEADER_SIZE,
                length - Protocol.IN_HEADER_SIZE - extensions);
    }

    /** Returns the buffer that requests are read into. */
    MemorySegment buffer() {
        return buffer;
    }

    int opcode() {
        return opcode;
    }

    /**
     * Returns the file system uid that the caller acts with, as the mount's user namespace
     * maps it: root of a container with a user namespace of its own arrives as its host uid.
     */
    int uid() {
        return uid;
    }

    long unique() {
        return unique;
    }

    long nodeId() {
        return nodeId;
    }

    /** Returns the body's length in bytes, without extensions. */
    long bodySize() {
        return body.byteSize();
    }

    /** Returns the 32-bit field at {@code offset} of the body. */
    int intAt(int offset) throws MalformedRequestException {
        requireBody(offset + 4L);
        return body.get(INT, offset);
    }

    /** Returns the 64-bit field at {@code offset} of the body. */
    long longAt(int offset) throws MalformedRequestException {
        requireBody(offset + 8L);
        return body.get(LONG, offset);
    }

    /** Returns the body as a segment from {@code offset} on. */
    MemorySegment bodyFrom(int offset) throws MalformedRequestException {
        requireBody(offset);
        return body.asSlice(offset);
    }

    /**
     * Returns the NUL-terminated name starting at {@code offset} of the body, without its NUL.
     *
     * @throws MalformedRequestException if the name is empty or has no NUL
     */
    byte[] nameAt(int offset) throws MalformedRequestException {
        requireBody(offset);
        long end = offset;
        long size = body.byteSize();
        while (end < size && body.get(ValueLayout.JAVA_BYTE, end) != 0) {
            end++;
        }
        if (end == size) {
            throw new MalformedRequestException("name at body offset " + offset
                    + " has no terminating NUL");
        }
        if (end == offset) {
            throw new MalformedRequestException("empty name at body offset " + offset);
        }
        return body.asSlice(offset, end - offset).toArray(ValueLayout.JAVA_BYTE);
    }

    private void requireBody(long size) throws MalformedRequestException {
        if (body.byteSize() < size) {
            throw new MalformedRequestException(Protocol.opcodeName(opcode) + " body of "
                    + body.byteSize() + " bytes is shorter than the " + size + " bytes needed");
        }
    }

    /** A request that breaks the protocol, so the server replies EINVAL. */
    static final class MalformedRequestException extends Exception {

        private static final long serialVersionUID = 1L;

        MalformedRequestException(String message) {
            super(message);
        }
    }
}
