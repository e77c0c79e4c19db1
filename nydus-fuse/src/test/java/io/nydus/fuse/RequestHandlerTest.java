package io.nydus.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.fuse.Request.MalformedRequestException;
import io.nydus.posix.Errno;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Feeds hand-made requests to {@link RequestHandler}: the cases a read-only kernel mount never
 * sends, such as writing opcodes, malformed requests and old protocol versions.
 */
class RequestHandlerTest {

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    private final Arena arena = Arena.ofConfined();
    private final TestTree tree = new TestTree(arena);
    private final List<FuseConnection> initialized = tree.fileSystem.connections();
    private final RequestHandler handler = new RequestHandler(tree.fileSystem, "/test");
    private final MemorySegment requestBuffer =
            arena.allocate(Protocol.REQUEST_BUFFER_SIZE, 8);
    private final Request request = new Request(requestBuffer);
    private final List<byte[]> replies = new ArrayList<>();
    private final Reply reply = new Reply(
            arena.allocate(Protocol.OUT_HEADER_SIZE + Protocol.MAX_READ, 8), segment -> {
                replies.add(segment.toArray(ValueLayout.JAVA_BYTE));
                return segment.byteSize();
            });
    private long nextUnique = 1;

    @AfterEach
    void freeMemory() {
        arena.close();
    }

    @Test
    void writingOpcodesAreReadOnly() {
        int[] opcodes = {Protocol.SETATTR, Protocol.SYMLINK, Protocol.MKNOD, Protocol.MKDIR,
            Protocol.UNLINK, Protocol.RMDIR, Protocol.RENAME, Protocol.LINK, Protocol.WRITE,
            Protocol.SETXATTR, Protocol.REMOVEXATTR, Protocol.CREATE, Protocol.FALLOCATE,
            Protocol.RENAME2, Protocol.COPY_FILE_RANGE, Protocol.TMPFILE,
            Protocol.COPY_FILE_RANGE_64};
        for (int opcode : opcodes) {
            byte[] answer = send(opcode, FuseFileSystem.ROOT, new byte[64]);

            assertEquals(-Errno.EROFS, error(answer), Protocol.opcodeName(opcode));
        }
    }

    @Test
    void unknownOpcodesAreNotImplemented() {
        assertEquals(-Errno.ENOSYS, error(send(37, FuseFileSystem.ROOT, new byte[16])));
        assertEquals(-Errno.ENOSYS, error(send(4095, FuseFileSystem.ROOT, new byte[0])));
    }

    @Test
    void replyCarriesRequestUnique() {
        byte[] answer = send(Protocol.GETATTR, FuseFileSystem.ROOT, new byte[16]);

        assertEquals(nextUnique - 1, MemorySegment.ofArray(answer).get(LONG, 8));
        assertEquals(Protocol.OUT_HEADER_SIZE + Protocol.ATTR_OUT_SIZE, answer.length);
        assertEquals(Protocol.OUT_HEADER_SIZE + Protocol.ATTR_OUT_SIZE,
                MemorySegment.ofArray(answer).get(INT, 0));
    }

    @Test
    void forgetSendsNoReply() {
        send(Protocol.LOOKUP, FuseFileSystem.ROOT, nameBody("public"));
        send(Protocol.LOOKUP, FuseFileSystem.ROOT, nameBody("public"));
        replies.clear();

        assertNull(send(Protocol.FORGET, tree.publicFile, longs(2)));
        assertEquals(0, tree.fileSystem.lookupCount(tree.publicFile));
    }

    @Test
    void batchForgetForgetsEachInode() {
        send(Protocol.LOOKUP, FuseFileSystem.ROOT, nameBody("public"));
        send(Protocol.LOOKUP, FuseFileSystem.ROOT, nameBody("private"));
        replies.clear();
        byte[] body = concat(ints(2, 0), longs(tree.publicFile, 1, tree.privateFile, 1));

        assertNull(send(Protocol.BATCH_FORGET, 0, body));
        assertEquals(0, tree.fileSystem.lookupCount(tree.publicFile));
        assertEquals(0, tree.fileSystem.lookupCount(tree.privateFile));
    }

    @Test
    void batchForgetBeyondBodyIsIgnored() {
        send(Protocol.LOOKUP, FuseFileSystem.ROOT, nameBody("public"));
        replies.clear();
        byte[] body = concat(ints(5, 0), longs(tree.publicFile, 1));

        assertNull(send(Protocol.BATCH_FORGET, 0, body));
        assertEquals(1, tree.fileSystem.lookupCount(tree.publicFile));
    }

    @Test
    void interruptSendsNoReply() {
        assertNull(send(Protocol.INTERRUPT, 0, longs(1)));
    }

    @Test
    void truncatedBodyIsInvalid() {
        assertEquals(-Errno.EINVAL, error(send(Protocol.READ, tree.largeFile, new byte[8])));
    }

    @Test
    void nameWithoutNulIsInvalid() {
        byte[] answer = send(Protocol.LOOKUP, FuseFileSystem.ROOT, TestTree.bytes("public"));

        assertEquals(-Errno.EINVAL, error(answer));
    }

    @Test
    void headerLengthMismatchIsInvalid() {
        writeRequest(Protocol.GETATTR, FuseFileSystem.ROOT, new byte[16]);
        requestBuffer.set(INT, 0, 1000);
        MalformedRequestException e = parseFailure(Protocol.IN_HEADER_SIZE + 16);

        handler.rejectMalformed(request, reply, e);
        assertTrue(e.getMessage().contains("header length 1000"), e.getMessage());
        assertEquals(-Errno.EINVAL, error(replies.getLast()));
    }

    @Test
    void shortHeaderIsInvalid() {
        MalformedRequestException e = parseFailure(20);

        assertTrue(e.getMessage().contains("request of 20 bytes"), e.getMessage());
    }

    @Test
    void initAgreesOnVersionAndFlags() {
        byte[] answer = send(Protocol.INIT, 0, initBody(7, 45, -1));
        MemorySegment out = payload(answer);

        assertEquals(0, error(answer));
        assertEquals(Protocol.OUT_HEADER_SIZE + Protocol.INIT_OUT_SIZE, answer.length);
        assertEquals(7, out.get(INT, 0));
        assertEquals(Protocol.MAX_MINOR, out.get(INT, 4));
        assertEquals(1 << 20, out.get(INT, 8));
        assertEquals(Protocol.WANTED_FLAGS, out.get(INT, 12));
        assertEquals(Protocol.MAX_WRITE, out.get(INT, 20));
        assertEquals(256, out.get(ValueLayout.JAVA_SHORT_UNALIGNED, 28));
        assertEquals(List.of(new FuseConnection(7, Protocol.MAX_MINOR, 1 << 20,
                Protocol.MAX_WRITE)), initialized);
    }

    @Test
    void initTakesOnlyOfferedFlags() {
        int offered = Protocol.ASYNC_READ | Protocol.DO_READDIRPLUS | (1 << 31);
        byte[] answer = send(Protocol.INIT, 0, initBody(7, 31, offered));

        assertEquals(31, payload(answer).get(INT, 4));
        assertEquals(Protocol.ASYNC_READ | Protocol.DO_READDIRPLUS, payload(answer).get(INT, 12));
        assertEquals(128 * 1024, initialized.getFirst().maxRead());
    }

    @Test
    void initFromOldKernelIsProtocolError() {
        byte[] answer = send(Protocol.INIT, 0, initBody(7, 27, -1));

        assertEquals(-Protocol.EPROTO, error(answer));
        assertTrue(initialized.isEmpty());
    }

    @Test
    void initWithNewerMajorOffersOurs() {
        byte[] answer = send(Protocol.INIT, 0, initBody(8, 0, -1));

        assertEquals(7, payload(answer).get(INT, 0));
        assertEquals(Protocol.MAX_MINOR, payload(answer).get(INT, 4));
        assertTrue(initialized.isEmpty());
    }

    @Test
    void fileSystemFailureIsEio() {
        long broken = lookupInode("broken");

        assertEquals(-Errno.EIO, error(send(Protocol.READ, broken, readBody(0, 4096))));
        assertEquals(0, error(send(Protocol.GETATTR, broken, new byte[16])));
    }

    @Test
    void readReturnsRequestedRange() {
        byte[] answer = send(Protocol.READ, tree.largeFile, readBody(1000, 5000));

        assertArrayEquals(tree.largeData.bytes(1000, 5000), payloadBytes(answer));
    }

    @Test
    void readPastEndIsEmpty() {
        byte[] answer = send(Protocol.READ, tree.largeFile,
                readBody(TestTree.LARGE_FILE_SIZE, 4096));

        assertEquals(0, error(answer));
        assertEquals(Protocol.OUT_HEADER_SIZE, answer.length);
    }

    @Test
    void openRepliesKeepCache() {
        byte[] answer = send(Protocol.OPEN, tree.largeFile, ints(0, 0));

        int flags = payload(answer).get(INT, 8);
        assertEquals(Protocol.FOPEN_KEEP_CACHE | Protocol.FOPEN_NOFLUSH, flags);
    }

    @Test
    void readdirContinuesFromLastOffset() {
        long big = lookupInode("big");
        List<String> names = new ArrayList<>();
        long offset = 0;
        int requests = 0;
        while (true) {
            byte[] answer = send(Protocol.READDIR, big, readBody(offset, 4096));
            if (answer.length == Protocol.OUT_HEADER_SIZE) {
                break;
            }
            offset = collectDirents(payload(answer), names);
            requests++;
        }

        assertEquals(TestTree.BIG_DIRECTORY_ENTRIES + 2, names.size());
        assertEquals(".", names.getFirst());
        assertEquals("entry-2999", names.getLast());
        assertTrue(requests > 10, "listing took " + requests + " requests");
    }

    @Test
    void readdirTooSmallForOneEntryIsEmpty() {
        byte[] answer = send(Protocol.READDIR, FuseFileSystem.ROOT, readBody(0, 16));

        assertEquals(0, error(answer));
        assertEquals(Protocol.OUT_HEADER_SIZE, answer.length);
    }

    @Test
    void longLookupNameIsTooLong() {
        byte[] name = new byte[256];
        Arrays.fill(name, (byte) 'n');

        byte[] answer = send(Protocol.LOOKUP, FuseFileSystem.ROOT, concat(name, new byte[1]));
        assertEquals(-Errno.ENAMETOOLONG, error(answer));
    }

    // --- request building and reply parsing ---

    private byte[] send(int opcode, long nodeId, byte[] body) {
        int before = replies.size();
        writeRequest(opcode, nodeId, body);
        try {
            request.parse(Protocol.IN_HEADER_SIZE + body.length);
        } catch (MalformedRequestException e) {
            throw new AssertionError(e);
        }
        handler.handle(request, reply);
        return replies.size() == before ? null : replies.getLast();
    }

    private void writeRequest(int opcode, long nodeId, byte[] body) {
        requestBuffer.set(INT, 0, Protocol.IN_HEADER_SIZE + body.length);
        requestBuffer.set(INT, 4, opcode);
        requestBuffer.set(LONG, 8, nextUnique++);
        requestBuffer.set(LONG, 16, nodeId);
        requestBuffer.asSlice(24, 16).fill((byte) 0);
        MemorySegment.copy(body, 0, requestBuffer, ValueLayout.JAVA_BYTE,
                Protocol.IN_HEADER_SIZE, body.length);
    }

    private MalformedRequestException parseFailure(long length) {
        try {
            request.parse(length);
        } catch (MalformedRequestException e) {
            return e;
        }
        throw new AssertionError("request of " + length + " bytes was accepted");
    }

    private long lookupInode(String name) {
        return payload(send(Protocol.LOOKUP, FuseFileSystem.ROOT, nameBody(name))).get(LONG, 0);
    }

    private static long collectDirents(MemorySegment payload, List<String> names) {
        long position = 0;
        long lastOffset = 0;
        while (position < payload.byteSize()) {
            lastOffset = payload.get(LONG, position + 8);
            int nameLength = payload.get(INT, position + 16);
            byte[] name = payload.asSlice(position + Protocol.DIRENT_NAME_OFFSET, nameLength)
                    .toArray(ValueLayout.JAVA_BYTE);
            names.add(new String(name, StandardCharsets.UTF_8));
            position += (Protocol.DIRENT_NAME_OFFSET + nameLength + 7) & ~7;
        }
        return lastOffset;
    }

    private static int error(byte[] answer) {
        return MemorySegment.ofArray(answer).get(INT, 4);
    }

    private static MemorySegment payload(byte[] answer) {
        return MemorySegment.ofArray(answer).asSlice(Protocol.OUT_HEADER_SIZE);
    }

    private static byte[] payloadBytes(byte[] answer) {
        return Arrays.copyOfRange(answer, Protocol.OUT_HEADER_SIZE, answer.length);
    }

    private static byte[] nameBody(String name) {
        return concat(TestTree.bytes(name), new byte[1]);
    }

    private static byte[] initBody(int major, int minor, int flags) {
        return ints(major, minor, 128 * 1024, flags, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    private static byte[] readBody(long offset, int size) {
        return concat(longs(0, offset), ints(size, 0), longs(0), ints(0, 0));
    }

    private static byte[] ints(int... values) {
        MemorySegment segment = MemorySegment.ofArray(new byte[values.length * 4]);
        for (int i = 0; i < values.length; i++) {
            segment.set(INT, i * 4L, values[i]);
        }
        return segment.toArray(ValueLayout.JAVA_BYTE);
    }

    private static byte[] longs(long... values) {
        MemorySegment segment = MemorySegment.ofArray(new byte[values.length * 8]);
        for (int i = 0; i < values.length; i++) {
            segment.set(LONG, i * 8L, values[i]);
        }
        return segment.toArray(ValueLayout.JAVA_BYTE);
    }

    private static byte[] concat(byte[]... parts) {
        int total = 0;
        for (byte[] part : parts) {
            total += part.length;
        }
        byte[] joined = new byte[total];
        int position = 0;
        for (byte[] part : parts) {
            System.arraycopy(part, 0, joined, position, part.length);
            position += part.length;
        }
        return joined;
    }
}
