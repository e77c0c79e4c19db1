package io.nydus.builder.compat;

import io.nydus.rafs.blob.BlobReader;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.DecodedBootstrap;
import io.nydus.rafs.v6.DeviceSlot;
import io.nydus.testkit.Commands;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** The upstream RAFS v6 bootstraps, copied or extracted into a temporary directory. */
final class FixtureImages {
    static final String V6_BOOT = "rafs-v6-2.2.boot";
    static final String TOC_INLINED = "toc-inlined-bootstrap";
    static final String SNAPSHOTTER = "snapshotter-image.boot";
    static final List<String> NAMES = List.of(V6_BOOT, TOC_INLINED, SNAPSHOTTER);

    private static final Duration TAR_TIMEOUT = Duration.ofSeconds(60);

    private FixtureImages() {
    }

    /**
     * Places the bootstrap called {@code name} (one of {@link #NAMES}) in its own folder below
     * {@code dir} and returns its path.
     */
    static Path bootstrap(String name, Path dir) throws IOException {
        Path target = Files.createDirectories(dir.resolve(name + ".d"));
        return switch (name) {
            case V6_BOOT -> UpstreamFixtures.copy(UpstreamFixtures.V6_BOOTSTRAP, target);
            case TOC_INLINED -> inlinedBootstrap(target);
            case SNAPSHOTTER -> layerBootstrap(UpstreamFixtures.SNAPSHOTTER_V6_LAYER, target);
            default -> throw new IllegalArgumentException("unknown fixture image " + name);
        };
    }

    /** Extracts the zstd-compressed bootstrap inlined in the ToC fixture blob. */
    private static Path inlinedBootstrap(Path dir) throws IOException {
        Path blob = UpstreamFixtures.copy(UpstreamFixtures.TOC_BLOB, dir);
        byte[] bootstrap;
        try (BlobReader reader = BlobReader.open(blob, null)) {
            bootstrap = reader.readBootstrap().orElseThrow(() -> new IOException(blob
                    + " has no image.boot section"));
        }
        return Files.write(dir.resolve("image.boot"), bootstrap);
    }

    /** Extracts {@code image/image.boot} from a snapshotter bootstrap layer (tar.gz). */
    static Path layerBootstrap(String fixture, Path dir) throws IOException {
        Path archive = UpstreamFixtures.copy(fixture, dir);
        Commands.run(List.of("tar", "-xzf", archive.toString(), "-C", dir.toString()),
                TAR_TIMEOUT);
        Path bootstrap = dir.resolve("image").resolve("image.boot");
        if (!Files.isRegularFile(bootstrap)) {
            throw new IOException(archive + " has no image/image.boot");
        }
        return bootstrap;
    }

    /**
     * Creates one zero-filled sparse file per device table slot of {@code bootstrap}, as large
     * as the slot's blocks. Readers of metadata need the device count to match, never the data.
     */
    static List<Path> zeroDevices(Path bootstrap, Path dir) throws IOException {
        DecodedBootstrap decoded = BootstrapReader.decode(bootstrap);
        List<Path> devices = new ArrayList<>();
        for (DeviceSlot slot : decoded.devices()) {
            Path device = dir.resolve("zero-" + devices.size() + ".blob");
            try (RandomAccessFile file = new RandomAccessFile(device.toFile(), "rw")) {
                file.setLength(Math.max(4096, slot.blocks() * 4096));
            }
            devices.add(device);
        }
        return devices;
    }
}
