package io.nydus.fuse;

import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** The tree that the mount tests serve, with the inode numbers the tests look at. */
final class TestTree {

    static final int BIG_DIRECTORY_ENTRIES = 3000;
    static final byte[] NON_UTF8_NAME = {'b', 'a', 'd', (byte) 0xff, (byte) 0xfe, '.', 't'};
    static final byte[] LONG_NAME = filled(255, 'n');
    static final byte[] LONG_TARGET = longTarget();
    static final long LARGE_FILE_SIZE = 8L * 1024 * 1024 + 12_345;
    static final byte[] BINARY_VALUE = {0, 1, 2, (byte) 0xff, (byte) 0xfe, 0, 'x'};
    static final byte[] TEXT_VALUE = bytes("hello");
    /** {@code new_encode_dev(makedev(1, 3))}, the kernel's encoding of /dev/null's number. */
    static final int NULL_DEVICE = (1 << 8) | 3;

    final MemoryFileSystem fileSystem = new MemoryFileSystem();
    final MemoryFileSystem.PatternData largeData;
    final long largeFile;
    final long publicFile;
    final long privateFile;
    final long hardlinked;
    /** A file that lookups and listings do not show until a test makes it visible. */
    final long hiddenFile;

    TestTree(Arena arena) {
        long root = FuseFileSystem.ROOT;
        long big = fileSystem.directory(root, bytes("big"), 0755);
        for (int i = 0; i < BIG_DIRECTORY_ENTRIES; i++) {
            fileSystem.file(big, bytes(String.format("entry-%04d", i)), 0644, 0, 0,
                    new MemoryFileSystem.ArrayData(bytes("entry " + i + "\n")));
        }
        fileSystem.file(root, NON_UTF8_NAME, 0644, 0, 0,
                new MemoryFileSystem.ArrayData(bytes("not utf-8\n")));
        fileSystem.file(root, LONG_NAME, 0644, 0, 0,
                new MemoryFileSystem.ArrayData(bytes("long name\n")));
        fileSystem.symlink(root, bytes("link"), LONG_TARGET);
        hardlinked = fileSystem.file(root, bytes("hard1"), 0644, 0, 0,
                new MemoryFileSystem.ArrayData(bytes("shared\n")));
        fileSystem.hardlink(root, bytes("hard2"), hardlinked);
        fileSystem.special(root, bytes("null"), MemoryFileSystem.S_IFCHR | 0666, NULL_DEVICE);
        fileSystem.special(root, bytes("fifo"), MemoryFileSystem.S_IFIFO | 0644, 0);
        long withXattrs = fileSystem.file(root, bytes("xattrs"), 0644, 0, 0,
                new MemoryFileSystem.ArrayData(new byte[0]));
        fileSystem.xattr(withXattrs, bytes("user.binary"), BINARY_VALUE);
        fileSystem.xattr(withXattrs, bytes("user.text"), TEXT_VALUE);
        largeData = MemoryFileSystem.PatternData.of(arena, LARGE_FILE_SIZE);
        largeFile = fileSystem.file(root, bytes("large"), 0644, 0, 0, largeData);
        publicFile = fileSystem.file(root, bytes("public"), 0644, 0, 0,
                new MemoryFileSystem.ArrayData(bytes("public\n")));
        privateFile = fileSystem.file(root, bytes("private"), 0600, 0, 0,
                new MemoryFileSystem.ArrayData(bytes("private\n")));
        long broken = fileSystem.file(root, bytes("broken"), 0644, 0, 0,
                new MemoryFileSystem.ArrayData(bytes("never read\n")));
        fileSystem.failReads(broken, new IllegalStateException("test failure in read"));
        hiddenFile = fileSystem.file(root, bytes("later"), 0644, 0, 0,
                new MemoryFileSystem.ArrayData(bytes("later\n")));
        fileSystem.setHidden(hiddenFile, true);
    }

    static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] filled(int length, char c) {
        byte[] bytes = new byte[length];
        Arrays.fill(bytes, (byte) c);
        return bytes;
    }

    /** Returns a 4095-byte target of 15-byte components "dir-%010d/", cut at 4095 bytes. */
    private static byte[] longTarget() {
        StringBuilder target = new StringBuilder();
        for (int i = 0; target.length() < 4095; i++) {
            target.append(String.format("dir-%010d/", i));
        }
        return bytes(target.substring(0, 4095));
    }
}
