package io.nydus.builder;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nydus.rafs.tree.Node;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Builds a directory that contains the build's own outputs, as {@code nydus-image create .} does,
 * and expects the image to list the source's files but not the files the build writes.
 */
class OutputsInSourceTest {

    @Test
    void temporaryOutputsAreLeftOut() throws IOException {
        try (TempDir work = TempDirs.create("outputs-in-source-")) {
            Path source = Files.createDirectories(work.resolve("source"));
            Files.writeString(Files.createDirectories(source.resolve("data")).resolve("x"), "x");

            Path bootstrap = source.resolve("image.boot");
            new ImageBuilder(BuildOptions.defaults()).buildDirectory(source, bootstrap,
                    ImageBuilder.BlobTarget.inDirectory(source.resolve("blobs")));

            assertEquals(Set.of("/", "/blobs", "/data", "/data/x"), paths(bootstrap));
        }
    }

    @Test
    void bootstrapOfEarlierBuildIsLeftOut() throws IOException {
        try (TempDir work = TempDirs.create("outputs-in-source-")) {
            Path source = Files.createDirectories(work.resolve("source"));
            Files.writeString(source.resolve("x"), "x");
            Path bootstrap = source.resolve("image.boot");
            Files.writeString(bootstrap, "the bootstrap of an earlier build");
            Path blob = source.resolve("image.blob");
            Files.writeString(blob, "the blob of an earlier build");

            new ImageBuilder(BuildOptions.defaults()).buildDirectory(source, bootstrap,
                    ImageBuilder.BlobTarget.toFile(blob));

            assertEquals(Set.of("/", "/x"), paths(bootstrap));
        }
    }

    private static Set<String> paths(Path bootstrap) throws IOException {
        Set<String> paths = new TreeSet<>();
        Deque<Node> pending = new ArrayDeque<>(List.of(BootstrapReader.read(bootstrap).root()));
        while (!pending.isEmpty()) {
            Node node = pending.poll();
            paths.add(node.path());
            pending.addAll(node.children());
        }
        return paths;
    }
}
