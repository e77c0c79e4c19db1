package io.nydus.daemon;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.fuse.FuseSession;
import io.nydus.fuse.MountOptions;
import io.nydus.nydusify.ConvertOptions;
import io.nydus.nydusify.Converter;
import io.nydus.nydusify.ImageLocation;
import io.nydus.nydusify.MountSource;
import io.nydus.nydusify.PlatformSpec;
import io.nydus.nydusify.SeedImage;
import io.nydus.posix.BytePath;
import io.nydus.registry.CredentialProvider;
import io.nydus.registry.ImageReference;
import io.nydus.registry.RegistryClient;
import io.nydus.registry.RegistryServer;
import io.nydus.registry.TransportMode;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import io.nydus.testkit.TreeComparator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * An image converted with nydusify convert --oci-ref, mounted by the daemon through FUSE from
 * the registry: chunks come from the source's gzip layers through their ZRAN contexts, and the
 * mounted tree equals the tree that the source layers unpack to.
 */
class OciRefMountTest {

    @Test
    void mountedOciRefImageEqualsSource() throws Exception {
        try (TempDir temp = TempDirs.create("oci-ref-mount-");
                RegistryServer registry = RegistryServer.start(temp);
                RegistryClient client = RegistryClient.builder()
                        .transportMode(TransportMode.PLAIN_HTTP).build()) {
            ImageReference source = registry.repository("ociref/app").tag("v1");
            ImageReference target = registry.repository("ociref/app").tag("v1-nydus");
            SeedImage seed = SeedImage.threeLayers(temp.resolve("seed"));
            seed.push(client, source);
            new Converter(client, client).convert(ConvertOptions.defaults(source, target)
                    .withWorkDir(temp.resolve("convert-work"))
                    .withPlatform(PlatformSpec.parse("linux/amd64")).withOciRef(true));
            Path cache = temp.resolve("cache");
            MountSource image = MountSource.fetch(ImageLocation.registry(target), client,
                    TransportMode.PLAIN_HTTP, CredentialProvider.anonymous(),
                    PlatformSpec.parse("linux/amd64"), temp.resolve("fetched"));
            String json = "{\"device\": {\"backend\": " + image.backend() + ", \"cache\":"
                    + " {\"type\": \"blobcache\", \"config\": {\"work_dir\": \"" + cache
                    + "\"}}}, \"mode\": \"direct\", \"digest_validate\": false}";
            Path mnt = Files.createDirectories(temp.resolve("mnt"));
            // The bootstrap layer ships each ref blob's chunk table under the ref blob's
            // digest, which is where the daemon looks for a ZRAN blob's table.
            image.installBlobMetas(cache);
            for (var blob : image.blobs()) {
                Path table = cache.resolve(blob.digest().hex() + ".blob.meta");
                assertTrue(Files.isRegularFile(table), "missing " + table);
            }

            try (Daemon daemon = new Daemon("oci-ref", false, StorageImageData::open)) {
                daemon.mount("/", image.bootstrap(), DaemonConfig.parse("test", json),
                        List.of());
                try (FuseSession session = FuseSession.mount(mnt, daemon.vfs(),
                        new MountOptions("nydusd", "nydusd", 4,
                                MountOptions.DEFAULT_READ_AHEAD_KIB))) {
                    TreeComparator.assertSameTree(BytePath.of(seed.expected()),
                            BytePath.of(mnt),
                            TreeComparator.Options.defaults().ignoringRootMtime());
                }
            }
            assertFalse(TempDirs.isMountPoint(mnt));
        }
    }
}
