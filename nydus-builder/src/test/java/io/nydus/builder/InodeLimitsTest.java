package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class InodeLimitsTest {

    private static Inode withXattrs(int count, int valueBytes) {
        return withXattrs(count, "user.k", valueBytes);
    }

    private static Inode withXattrs(int count, String namePrefix, int valueBytes) {
        Inode inode = new Inode(FileType.REGULAR);
        for (int i = 0; i < count; i++) {
            inode.xattrs().put(String.format("%s%05d", namePrefix, i)
                    .getBytes(StandardCharsets.US_ASCII), new byte[valueBytes]);
        }
        return inode;
    }

    @Test
    void xattrsWithinAreaPass() {
        assertNull(InodeLimits.problem(withXattrs(30, 8000)));
    }

    @Test
    void xattrsBeyondAreaAreNamed() {
        String problem = InodeLimits.problem(withXattrs(33, 8000));

        assertTrue(problem.contains("33 xattrs that take 264"), problem);
        assertTrue(problem.contains("beyond the 262148 bytes"), problem);
    }

    @Test
    void nameListWithinLimitPasses() {
        // 256 names of 255 bytes and their NULs make exactly 65536 bytes.
        assertNull(InodeLimits.problem(withXattrs(256, "user." + "n".repeat(245), 0)));
    }

    @Test
    void nameListBeyondLimitIsNamed() {
        String problem = InodeLimits.problem(withXattrs(257, "user." + "n".repeat(245), 0));

        assertTrue(problem.contains("257 xattrs whose names take 65792 bytes"), problem);
        assertTrue(problem.contains("beyond the 65536 bytes"), problem);
    }
}
