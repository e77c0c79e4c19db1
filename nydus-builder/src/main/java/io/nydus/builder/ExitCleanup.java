package io.nydus.builder;

import io.nydus.posix.BytePath;
import io.nydus.posix.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Temporary files and work directories that exist only while a command runs. The command
 * registers each one when it creates it and unregisters it once it is renamed into place or
 * deleted. When the JVM stops first (SIGTERM, Ctrl-C), a shutdown hook deletes what is still
 * registered, so that an interrupted build or convert leaves no temporary blob, bootstrap or
 * run directory behind. SIGKILL runs no Java code, so it still leaves them.
 *
 * <p>Other threads of the command may still write while the hook runs. A file they write
 * after its deletion is already unlinked, and creating a file in a deleted directory fails,
 * so the hook only tries a directory again when a file appears in it meanwhile.
 */
public final class ExitCleanup {
    private static final Logger LOG = LoggerFactory.getLogger(ExitCleanup.class);
    private static final int DELETE_ATTEMPTS = 3;
    private static final Set<Path> PATHS = ConcurrentHashMap.newKeySet();
    private static final Thread HOOK = new Thread(ExitCleanup::deleteAll, "exit-cleanup");

    static {
        Runtime.getRuntime().addShutdownHook(HOOK);
    }

    private ExitCleanup() {
    }

    /**
     * Deletes {@code path}, a file or a directory with all it contains, if the JVM stops before
     * {@link #unregister} is called for it.
     *
     * @return {@code path}
     */
    public static Path deleteAtExit(Path path) {
        PATHS.add(path.toAbsolutePath());
        return path;
    }

    /** Keeps {@code path} at exit: it was renamed into place, deleted or handed on. */
    public static void unregister(Path path) {
        PATHS.remove(path.toAbsolutePath());
    }

    /** Deletes {@code path} if it exists, and unregisters it. */
    public static void delete(Path path) throws IOException {
        try {
            Files.deleteIfExists(path);
        } finally {
            unregister(path);
        }
    }

    /** Returns whether {@code path} would be deleted at exit, for tests. */
    static boolean isRegistered(Path path) {
        return PATHS.contains(path.toAbsolutePath());
    }

    private static void deleteAll() {
        List<Path> paths = List.copyOf(PATHS);
        if (paths.isEmpty()) {
            return;
        }
        LOG.info("stopping before the command ended: deleting {} temporary paths: {}",
                paths.size(), paths);
        for (Path path : paths) {
            try {
                deleteTree(path);
            } catch (IOException e) {
                LOG.warn("could not delete temporary path {}: {}", path, e.toString());
            }
        }
    }

    /**
     * Deletes {@code root} like {@code rm -rf}, with byte names and without following
     * symlinks, and tries again when a file appeared or vanished in a directory meanwhile.
     */
    private static void deleteTree(Path root) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                FileTrees.deleteRecursively(BytePath.of(root));
                return;
            } catch (IOException e) {
                if (attempt == DELETE_ATTEMPTS) {
                    throw e;
                }
            }
        }
    }
}
