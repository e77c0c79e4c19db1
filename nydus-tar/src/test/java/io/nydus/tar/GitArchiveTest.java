package io.nydus.tar;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Archives from {@code git archive}, which start with a global PAX header naming the commit. */
class GitArchiveTest {

    @TempDir
    Path work;

    @Test
    void globalHeaderThenEntries() throws IOException {
        Path tarball = gitArchive("""
                mkdir -p src && printf 'hello\\n' > src/a.txt && printf '#!/bin/sh\\n' > run.sh
                chmod 755 run.sh
                ln -s src/a.txt link
                git add . && git commit -q -m files
                """);

        List<ArchiveChecks.ReadEntry> entries = ArchiveChecks.readAll(tarball);

        assertEquals(List.of("link SYMLINK 0777", "run.sh FILE 0775", "src DIRECTORY 0775",
                "src/a.txt FILE 0664"),
                entries.stream().map(read -> describe(read.entry())).toList());
        assertEquals(Bytes.ofUtf8("src/a.txt"), entries.get(0).entry().linkName());
        assertEquals(ArchiveChecks.sha256("hello\n".getBytes()), entries.get(3).sha256());
    }

    @Test
    void emptyTreeHasOnlyGlobalHeader() throws IOException {
        Path tarball = gitArchive("git commit -q --allow-empty -m empty\n");

        assertEquals(List.of(), ArchiveChecks.readAll(tarball));
    }

    private Path gitArchive(String commands) {
        Path repository = work.resolve("repository");
        Path tarball = work.resolve("archive.tar");
        Shell.run("""
                mkdir "$1" && cd "$1"
                git init -q .
                git config user.email test@example.invalid
                git config user.name test
                """ + commands + """
                git archive --format=tar -o "$2" HEAD
                """, repository.toString(), tarball.toString());
        try {
            if (Files.size(tarball) == 0) {
                throw new AssertionError("git archive wrote nothing");
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return tarball;
    }

    private static String describe(TarEntry entry) {
        return entry.name() + " " + entry.type() + " 0" + Integer.toOctalString(entry.mode());
    }
}
