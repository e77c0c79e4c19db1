package io.nydus.builder;

import io.nydus.posix.BytePath;
import io.nydus.posix.FileTrees;
import io.nydus.posix.NoSuchEntryException;
import io.nydus.posix.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
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
 * <p>Other threads of the command keep running while the hook runs. Once the hook has
 * started, new temporary files are refused. The hook renames a directory before deleting
 * it, so that a command renaming the same directory into place at that moment either wins
 * with the whole tree or fails, and never ends with a half-deleted output. Outputs that
 * belong together are renamed into place in {@link #commit}, which the hook waits for.
 */
public final class ExitCleanup {
    private static final Logger LOG = LoggerFactory.getLogger(ExitCleanup.class);
    /** A writer may still add files to a directory, so its deletion is tried for 1 second. */
    private static final int DELETE_ATTEMPTS = 20;
    private static final long RETRY_PAUSE_MILLIS = 50;
    private static final Object COMMIT_LOCK = new Object();
    private static final Set<Path> PATHS = ConcurrentHashMap.newKeySet();
    private static volatile boolean stopping;

    static {
        try {
            Runtime.getRuntime().addShutdownHook(
                    new Thread(ExitCleanup::deleteAll, "exit-cleanup"));
        } catch (IllegalStateException e) {
            // First used while the JVM stops: no hook can be added, and new temporary files
            // are refused from now on.
            stopping = true;
        }
    }

    private ExitCleanup() {
    }

    /** Returns whether the JVM is stopping and its temporary files are being deleted. */
    public static boolean isStopping() {
        return stopping;
    }

    /** An action on files that may fail. */
    @FunctionalInterface
    public interface FileAction {
        void run() throws IOException;
    }

    /**
     * Runs {@code action}, which renames outputs that belong together into place, unless the
     * JVM is stopping. The hook waits for it, so that it never deletes the temporary file of
     * one output after another was renamed.
     */
    public static void commit(FileAction action) throws IOException {
        synchronized (COMMIT_LOCK) {
            requireRunning("the outputs");
            action.run();
        }
    }

    /**
     * Throws if the JVM is stopping, before a command creates a temporary file or directory
     * for {@code purpose}, such as the parent directories of one.
     */
    public static void requireRunning(Object purpose) throws IOException {
        if (stopping) {
            throw new IOException("not writing " + purpose + ": the JVM is stopping");
        }
    }

    /**
     * Deletes {@code path}, a file or a directory with all it contains, if the JVM stops before
     * {@link #unregister} is called for it.
     *
     * @return {@code path}
     * @throws IOException if the JVM is stopping, after deleting {@code path} at once
     */
    public static Path deleteAtExit(Path path) throws IOException {
        PATHS.add(path.toAbsolutePath());
        // Checked after the add, so the hook either finds the path or it is deleted here.
        if (stopping) {
            deleteQuietly(path.toAbsolutePath());
            unregister(path);
            requireRunning(path);
        }
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

    /** Returns the registered paths below {@code dir}, for tests. */
    static List<Path> registeredUnder(Path dir) {
        Path root = dir.toAbsolutePath();
        return PATHS.stream().filter(path -> path.startsWith(root)).sorted().toList();
    }

    private static void deleteAll() {
        List<Path> paths;
        synchronized (COMMIT_LOCK) {
            stopping = true;
            paths = List.copyOf(PATHS);
        }
        if (paths.isEmpty()) {
            return;
        }
        LOG.info("deleting {} temporary paths left at exit: {}", paths.size(), paths);
        for (Path path : paths) {
            deleteQuietly(path);
        }
    }

    private static void deleteQuietly(Path path) {
        try {
            deleteTree(path);
        } catch (IOException e) {
            LOG.warn("could not delete temporary path {}: {}", path, e.toString());
        }
    }

    /**
     * Deletes {@code path} like {@code rm -rf}, with byte names and without following
     * symlinks. A directory is renamed first, and deleted again when a file appeared or
     * vanished in it meanwhile.
     */
    private static void deleteTree(Path path) throws IOException {
        BytePath target = BytePath.of(path);
        if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
            BytePath moved = BytePath.of(path.resolveSibling(
                    "." + path.getFileName() + ".exit-" + System.nanoTime()));
            try {
                Posix.rename(target, moved);
            } catch (NoSuchEntryException e) {
                return;
            }
            target = moved;
        }
        for (int attempt = 1; ; attempt++) {
            try {
                FileTrees.deleteRecursively(target);
                return;
            } catch (IOException e) {
                if (attempt == DELETE_ATTEMPTS) {
                    throw e;
                }
                pause();
            }
        }
    }

    private static void pause() {
        try {
            Thread.sleep(RETRY_PAUSE_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
