package io.nydus.nydusify;

import io.nydus.registry.RegistryClient;
import java.io.IOException;
import java.nio.file.Path;

/** Opens the {@link ImageStore} of an {@link ImageLocation}. */
public final class ImageStores {
    private ImageStores() {
    }

    /**
     * Opens a location to read an image from.
     *
     * @param client the client for a registry location
     * @param workDir where an archive is unpacked while the store is open
     * @throws IOException if a layout or archive cannot be read or is not an OCI image layout
     */
    public static ImageStore openSource(ImageLocation location, RegistryClient client,
            Path workDir) throws IOException {
        return switch (location.kind()) {
            case REGISTRY -> new RegistryStore(location, client);
            case LAYOUT -> LayoutStore.openSource(location);
            case ARCHIVE -> ArchiveStore.openSource(location, workDir);
        };
    }

    /**
     * Opens a location to write an image to. A layout directory is created if missing; an
     * archive is written when the store closes.
     *
     * @param client the client for a registry location
     * @param workDir where an archive is assembled while the store is open
     */
    public static ImageStore openTarget(ImageLocation location, RegistryClient client,
            Path workDir) throws IOException {
        return switch (location.kind()) {
            case REGISTRY -> new RegistryStore(location, client);
            case LAYOUT -> LayoutStore.openTarget(location);
            case ARCHIVE -> ArchiveStore.openTarget(location, workDir);
        };
    }
}
