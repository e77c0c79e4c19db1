package io.nydus.storage.config;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Blobs in local files ({@code device.backend.type} {@code localfs}).
 *
 * @param dir the directory that contains blobs named by their id
 * @param blobFile one file that serves every blob, which takes precedence over {@code dir}
 * @param altDirs more directories searched in order when {@code dir} lacks a blob
 */
public record LocalFsConfig(Optional<Path> dir, Optional<Path> blobFile, List<Path> altDirs)
        implements BackendConfig {

    public LocalFsConfig {
        altDirs = List.copyOf(altDirs);
        if (dir.isEmpty() && blobFile.isEmpty() && altDirs.isEmpty()) {
            throw new ConfigException("device.backend.config of a localfs backend needs 'dir',"
                    + " 'blob_file' or 'alt_dirs'");
        }
    }
}
