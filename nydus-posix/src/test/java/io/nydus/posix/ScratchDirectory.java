package io.nydus.posix;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A temporary directory on the machine's disk for one test, deleted with byte-exact calls. */
final class ScratchDirectory implements AutoCloseable {

    private final BytePath path;

    private ScratchDirectory(BytePath path) {
        this.path = path;
    }

    static ScratchDirectory create() throws IOException {
        Path base = Path.of(System.getProperty("java.io.tmpdir"));
        return new ScratchDirectory(BytePath.of(Files.createTempDirectory(base, "nydus-posix")));
    }

    BytePath path() {
        return path;
    }

    BytePath resolve(String name) {
        return path.resolve(name);
    }

    BytePath resolve(byte[] name) {
        return path.resolve(name);
    }

    @Override
    public void close() throws IOException {
        FileTrees.deleteRecursively(path);
    }
}
