package io.nydus.builder.compat;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.builder.WhiteoutSpec;
import io.nydus.rafs.Compressor;
import io.nydus.rafs.DigestAlgorithm;
import io.nydus.rafs.tree.Chunk;
import io.nydus.rafs.tree.FileType;
import io.nydus.rafs.tree.Inode;
import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Instant;
import java.util.EnumSet;
import java.util.Set;

/**
 * Rebuilds the tree of the upstream v6 fixture. Its files are recovered from the fixture blob
 * through the fixture bootstrap and given the fixture's metadata. The build uses the fixture's
 * options: directory source, zstd, BLAKE3, 1 MiB chunks and no inlined bootstrap.
 *
 * @param fixtureBootstrap the copied fixture bootstrap
 * @param fixtureBlob the copied fixture blob
 * @param fixture the fixture bootstrap as decoded
 * @param source the directory of recovered files
 * @param result the build of {@code source}
 * @param rebuilt our bootstrap as decoded
 */
record FixtureRebuild(Path fixtureBootstrap, Path fixtureBlob, DecodedBootstrap fixture,
        Path source, BuildResult result, DecodedBootstrap rebuilt) {

    /** The options upstream's 2.2 builder used for the fixture. */
    static final BuildOptions FIXTURE_OPTIONS = new BuildOptions(Compressor.ZSTD,
            DigestAlgorithm.BLAKE3, 0x10_0000, WhiteoutSpec.OCI, 2, false, true);

    /** Copies the fixture into {@code dir}, recovers its files and rebuilds them there. */
    static FixtureRebuild run(Path dir) throws IOException {
        Path bootstrap = UpstreamFixtures.copy(UpstreamFixtures.V6_BOOTSTRAP, dir);
        Path blob = UpstreamFixtures.copy(UpstreamFixtures.V6_BLOB, dir);
        DecodedBootstrap fixture = BootstrapReader.decode(bootstrap);
        Path source = dir.resolve("source");
        Files.createDirectory(source);
        recoverFiles(fixture, blob, source);
        Path out = dir.resolve("rebuilt");
        Path blobDir = out.resolve("blobs");
        Files.createDirectories(blobDir);
        BuildResult result = new ImageBuilder(FIXTURE_OPTIONS).buildDirectory(source,
                out.resolve("bootstrap"), ImageBuilder.BlobTarget.inDirectory(blobDir));
        return new FixtureRebuild(bootstrap, blob, fixture, source, result,
                BootstrapReader.decode(result.bootstrapFile()));
    }

    /** Writes the fixture's regular files into {@code target} with their metadata. */
    private static void recoverFiles(DecodedBootstrap fixture, Path blob, Path target)
            throws IOException {
        Node root = fixture.bootstrap().root();
        try (FileChannel channel = FileChannel.open(blob, StandardOpenOption.READ)) {
            for (Node child : root.children()) {
                if (child.inode().type() != FileType.REGULAR) {
                    throw new IOException(fixture.source() + ": expected only regular files in"
                            + " the root, found " + child.path() + " of type "
                            + child.inode().type());
                }
                Path file = target.resolve(child.path().substring(1));
                try (OutputStream out = Files.newOutputStream(file)) {
                    for (Chunk chunk : child.inode().chunks()) {
                        out.write(UpstreamFixtures.readChunk(channel,
                                fixture.bootstrap().blobs().get(chunk.blobIndex()), chunk));
                    }
                }
                applyMetadata(file, child.inode());
            }
        }
        // The directory's mtime changes while files are written, so it is set last.
        applyMetadata(target, root.inode());
    }

    private static void applyMetadata(Path path, Inode inode) throws IOException {
        Files.setPosixFilePermissions(path, permissions(inode.permissions()));
        Files.setAttribute(path, "unix:uid", (int) inode.uid());
        Files.setAttribute(path, "unix:gid", (int) inode.gid());
        Files.setLastModifiedTime(path, FileTime.from(
                Instant.ofEpochSecond(inode.mtimeSeconds(), inode.mtimeNanos())));
    }

    private static Set<PosixFilePermission> permissions(int bits) {
        if ((bits & ~0777) != 0) {
            throw new IllegalArgumentException("permission bits 0" + Integer.toOctalString(bits)
                    + " include setuid, setgid or sticky, which Files cannot set");
        }
        Set<PosixFilePermission> set = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] order = {
            PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
            PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.GROUP_READ,
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE,
            PosixFilePermission.OTHERS_EXECUTE};
        for (int i = 0; i < order.length; i++) {
            if ((bits & (0400 >> i)) != 0) {
                set.add(order[i]);
            }
        }
        return set;
    }

}
