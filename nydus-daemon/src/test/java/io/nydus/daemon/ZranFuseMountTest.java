package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.nydus.builder.BuildOptions;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageBuilder;
import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.posix.BytePath;
import io.nydus.testkit.Commands;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import io.nydus.testkit.TreeGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A ZRAN (targz-ref) image mounted by the daemon through FUSE, with the gzip layer and the ref
 * blob read from a local directory through the blob cache: the mounted tree equals the tree
 * that GNU tar archived.
 */
class ZranFuseMountTest {
    private static final Duration TIMEOUT = Duration.ofMinutes(2);
    private static TempDir work;
    private static Path source;
    private static BuildResult image;

    @BeforeAll
    static void build() throws IOException {
        work = TempDirs.create("zran-fuse-");
        source = work.resolve("source");
        TreeGenerator.createEveryCase(BytePath.of(source));
        Path tarGz = work.resolve("layer.tar.gz");
        Commands.run(List.of("tar", "--format=posix", "--xattrs", "--xattrs-include=*",
                "--numeric-owner", "--gzip", "-cf", tarGz.toString(), "-C", source.toString(),
                "."), TIMEOUT);
        Path blobs = Files.createDirectories(work.resolve("blobs"));
        image = new ImageBuilder(BuildOptions.defaults()).buildTargzRef(tarGz,
                work.resolve("image.boot"), ImageBuilder.BlobTarget.inDirectory(blobs));
        Files.copy(tarGz, blobs.resolve(image.blob().blobId()));
    }

    @AfterAll
    static void remove() throws IOException {
        work.close();
    }

    @Test
    void mountedZranTreeEqualsSource() throws Exception {
        Path mnt = Files.createDirectories(work.resolve("mnt"));
        String json = "{\"device\": {\"backend\": {\"type\": \"localfs\", \"config\": {\"dir\":"
                + " \"" + work.resolve("blobs") + "\"}}, \"cache\": {\"type\": \"blobcache\","
                + " \"config\": {\"work_dir\": \"" + work.resolve("cache") + "\"}}},"
                + " \"mode\": \"direct\", \"digest_validate\": false, \"enable_xattr\": true}";
        DaemonConfig config = DaemonConfig.parse("test", json);
        MountOptions options = new MountOptions("nydusd", "nydusd", 4,
                MountOptions.DEFAULT_READ_AHEAD_KIB);
        try (Daemon daemon = new Daemon("zran", false, StorageImageData::open)) {
            daemon.mount("/", image.bootstrapFile(), config, List.of());
            try (FuseSession session = FuseSession.mount(mnt, daemon.vfs(), options)) {
                TreeComparator.assertSameTree(BytePath.of(source), BytePath.of(mnt),
                        TreeComparator.Options.defaults().skippingSockets());
            }
        }
        assertFalse(TempDirs.isMountPoint(mnt));
    }
}
