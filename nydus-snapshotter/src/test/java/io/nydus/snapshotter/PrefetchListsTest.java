package io.nydus.snapshotter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nydus.registry.ImageReference;
import io.nydus.testkit.TempDir;
import io.nydus.testkit.TempDirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class PrefetchListsTest {
    private final PrefetchLists lists = new PrefetchLists();
    private TempDir dir;
    private Path listFile;

    @BeforeEach
    void writeList() throws IOException {
        dir = TempDirs.create("prefetch-lists-");
        listFile = dir.resolve("nginx.list");
        Files.writeString(listFile, "/usr/sbin/nginx\n\n  /etc/nginx/nginx.conf  \n");
    }

    @AfterEach
    void delete() throws IOException {
        dir.close();
    }

    private String body(String image, Path file) {
        return "[{\"image\": \"" + image + "\", \"prefetch\": \"" + file + "\"}]";
    }

    @Test
    void shortNameMatchesFullReference() {
        assertEquals(1, lists.set(body("nginx", listFile)));

        Optional<List<String>> taken =
                lists.take(ImageReference.parse("docker.io/library/nginx:latest"));

        assertEquals(Optional.of(List.of("/usr/sbin/nginx", "/etc/nginx/nginx.conf")), taken);
    }

    @Test
    void listIsTakenOnce() {
        lists.set(body("127.0.0.1:5000/app:v1", listFile));
        ImageReference image = ImageReference.parse("127.0.0.1:5000/app:v1");

        assertTrue(lists.take(image).isPresent());
        assertEquals(Optional.empty(), lists.take(image));
    }

    @Test
    void otherImageGetsNoList() {
        lists.set(body("127.0.0.1:5000/app:v1", listFile));

        assertEquals(Optional.empty(), lists.take(ImageReference.parse("127.0.0.1:5000/app:v2")));
    }

    @Test
    void unreadableFileCountsAsNone() {
        lists.set(body("app", dir.resolve("missing.list")));

        assertEquals(Optional.empty(), lists.take(ImageReference.parse("app")));
    }

    @Test
    void badBodiesAreRejectedByEntry() {
        IllegalArgumentException notJson = assertThrows(IllegalArgumentException.class,
                () -> lists.set("nginx"));
        IllegalArgumentException notArray = assertThrows(IllegalArgumentException.class,
                () -> lists.set("{\"image\": \"nginx\"}"));
        IllegalArgumentException noFile = assertThrows(IllegalArgumentException.class,
                () -> lists.set("[{\"image\": \"nginx\"}]"));
        IllegalArgumentException badImage = assertThrows(IllegalArgumentException.class,
                () -> lists.set(body("a", listFile).replace("]", ", {\"image\": \"Bad Name\","
                        + " \"prefetch\": \"/x\"}]")));

        assertTrue(notJson.getMessage().contains("not JSON"), notJson.getMessage());
        assertTrue(notArray.getMessage().contains("JSON array"), notArray.getMessage());
        assertTrue(noFile.getMessage().contains("entry 0"), noFile.getMessage());
        assertTrue(badImage.getMessage().contains("entry 1"), badImage.getMessage());
        assertTrue(badImage.getMessage().contains("Bad Name"), badImage.getMessage());
        assertEquals(Optional.empty(), lists.take(ImageReference.parse("a")),
                "a rejected body sets no list");
    }
}
