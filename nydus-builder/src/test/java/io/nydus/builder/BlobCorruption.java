package io.nydus.builder;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Damages blob files in place for tests of the readers' checks. */
final class BlobCorruption {
    private BlobCorruption() {
    }

    /** Inverts every bit of the byte at {@code offset}. */
    static void flip(Path file, long offset) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            if (channel.read(one, offset) != 1) {
                throw new IOException(file + " has no byte at offset " + offset);
            }
            one.put(0, (byte) ~one.get(0));
            channel.write(one.rewind(), offset);
        }
    }
}
