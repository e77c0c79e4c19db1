package io.nydus.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.nydus.builder.AtomicFiles;
import io.nydus.builder.BuildResult;
import io.nydus.builder.ImageChecker;
import io.nydus.rafs.v6.Bootstrap;
import io.nydus.rafs.v6.BootstrapReader;
import io.nydus.rafs.v6.BlobInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The `--output-json` summaries, with upstream's keys where upstream has them. The class loads
 * only on first use, so commands that print no JSON skip Jackson's start-up (about 0.1 s).
 */
final class JsonOutput {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT);

    private JsonOutput() {
    }

    static void writeBuild(Path file, BuildResult result) throws IOException {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "6");
        root.put("bootstrap", result.bootstrapFile().toString());
        List<String> ids = new ArrayList<>();
        List<Map<String, Object>> blobs = new ArrayList<>();
        for (BlobInfo b : result.bootstrap().blobs()) {
            ids.add(b.blobId());
            blobs.add(blob(b));
        }
        root.put("blobs", ids);
        root.put("blob_details", blobs);
        root.put("blob_size",
                result.blob() == null ? 0 : java.nio.file.Files.size(result.blobFile()));
        root.put("new_blob", result.blob() == null ? null : result.blob().blobId());
        root.put("bytes_read", result.bytesRead());
        root.put("chunks_reused", result.chunksReused());
        write(file, root);
    }

    /**
     * Writes the result of check.
     *
     * @param bootstrapFile the bootstrap that was checked
     * @param named the bootstrap or data blob as the command line named it
     */
    static void writeCheck(Path file, Path bootstrapFile, Path named,
            ImageChecker.Summary summary) throws IOException {
        Bootstrap image = BootstrapReader.read(bootstrapFile);
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", Version.current());
        root.put("bootstrap", named.toString());
        root.put("blobs", image.blobs().stream().map(BlobInfo::blobId).toList());
        root.put("fs_version", "6");
        root.put("compressor", image.compressor().label());
        root.put("entries", summary.entries());
        root.put("regular_files", summary.regularFiles());
        root.put("data_bytes", summary.dataBytes());
        root.put("chunks", summary.chunks());
        root.put("unique_chunks", summary.uniqueChunks());
        root.put("chunks_verified", summary.chunksVerified());
        root.put("bytes_verified", summary.bytesVerified());
        write(file, root);
    }

    static Map<String, Object> blob(BlobInfo b) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("blob_id", b.blobId());
        m.put("chunk_count", b.chunkCount());
        m.put("compressor", b.compressor().label());
        m.put("digester", b.digester().label());
        m.put("compressed_size", b.compressedSize());
        m.put("uncompressed_size", b.uncompressedSize());
        m.put("features", String.format("0x%08x", b.features()));
        return m;
    }

    static void write(Path file, Object value) throws IOException {
        AtomicFiles.write(file, JSON.writeValueAsBytes(value));
    }

    /** Formats {@code value} as indented JSON text. */
    static String toText(Object value) throws IOException {
        return JSON.writeValueAsString(value);
    }
}
