package io.nydus.cli;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Takes nydusify's option defaults from the environment variables that upstream's nydusify
 * reads, such as {@code SOURCE}, {@code TARGET} and {@code WORK_DIR}, so that pipelines that
 * configure it through the environment work unchanged. An option on the command line wins
 * over its variable, and an empty variable counts as unset.
 */
final class NydusifyEnvironment implements IDefaultValueProvider {
    /** Each option, by its longest name, and the variables upstream reads for it in order. */
    private static final Map<String, List<String>> VARIABLES = Map.ofEntries(
            Map.entry("--source", List.of("SOURCE")),
            Map.entry("--source-archive", List.of("SOURCE_ARCHIVE")),
            Map.entry("--target", List.of("TARGET")),
            Map.entry("--target-suffix", List.of("TARGET_SUFFIX")),
            Map.entry("--target-archive", List.of("TARGET_ARCHIVE")),
            Map.entry("--source-insecure", List.of("SOURCE_INSECURE")),
            Map.entry("--target-insecure", List.of("TARGET_INSECURE")),
            Map.entry("--plain-http", List.of("PLAIN_HTTP")),
            Map.entry("--merge-platform", List.of("MERGE_PLATFORM")),
            Map.entry("--multi-platform", List.of("MULTI_PLATFORM")),
            Map.entry("--oci", List.of("OCI")),
            Map.entry("--oci-ref", List.of("OCI_REF")),
            Map.entry("--reverse", List.of("REVERSE")),
            Map.entry("--with-referrer", List.of("WITH_REFERRER")),
            Map.entry("--fs-version", List.of("FS_VERSION")),
            Map.entry("--backend-aligned-chunk", List.of("BACKEND_ALIGNED_CHUNK",
                    "FS_ALIGN_CHUNK")),
            Map.entry("--prefetch-dir", List.of("PREFETCH_DIR")),
            Map.entry("--prefetch-patterns", List.of("PREFETCH_PATTERNS")),
            Map.entry("--compressor", List.of("COMPRESSOR")),
            Map.entry("--fs-chunk-size", List.of("FS_CHUNK_SIZE")),
            Map.entry("--chunk-size", List.of("CHUNK_SIZE")),
            Map.entry("--chunk-dict", List.of("CHUNK_DICT")),
            Map.entry("--chunk-dict-insecure", List.of("CHUNK_DICT_INSECURE")),
            Map.entry("--parent-bootstrap", List.of("PARENT_BOOTSTRAP")),
            Map.entry("--build-cache", List.of("BUILD_CACHE")),
            Map.entry("--build-cache-tag", List.of("BUILD_CACHE_TAG")),
            Map.entry("--build-cache-version", List.of("BUILD_CACHE_VERSION")),
            Map.entry("--build-cache-insecure", List.of("BUILD_CACHE_INSECURE")),
            Map.entry("--build-cache-max-records", List.of("BUILD_CACHE_MAX_RECORDS")),
            Map.entry("--work-dir", List.of("WORK_DIR")),
            Map.entry("--output-json", List.of("OUTPUT_JSON")),
            Map.entry("--push-retry-count", List.of("PUSH_RETRY_COUNT")),
            Map.entry("--push-retry-delay", List.of("PUSH_RETRY_DELAY")),
            Map.entry("--mount-path", List.of("MOUNT_PATH")),
            Map.entry("--prefetch", List.of("PREFETCH")),
            Map.entry("--source-dir", List.of("SOURCE_DIR")),
            Map.entry("--target-dir", List.of("SOURCE_DIR")),
            Map.entry("--output-dir", List.of("OUTPUT_DIR")),
            Map.entry("--bootstrap", List.of("BOOTSTRAP", "IMAGE_NAME")),
            Map.entry("--log-level", List.of("LOG_LEVEL")),
            Map.entry("--log-file", List.of("LOG_FILE")),
            Map.entry("--debug", List.of("DEBUG_LOG_LEVEL")));

    private final Map<String, String> environment;

    NydusifyEnvironment(Map<String, String> environment) {
        this.environment = Map.copyOf(environment);
    }

    @Override
    public String defaultValue(ArgSpec argument) {
        if (!(argument instanceof OptionSpec option)) {
            return null;
        }
        return variableFor(option).map(name -> isFlag(option)
                ? goBoolean(environment.get(name)) : environment.get(name)).orElse(null);
    }

    /** Returns the variable that sets {@code option}'s default, if one is set. */
    Optional<String> variableFor(OptionSpec option) {
        for (String name : VARIABLES.getOrDefault(option.longestName(), List.of())) {
            String value = environment.get(name);
            if (value != null && !value.isEmpty()) {
                return Optional.of(name);
            }
        }
        return Optional.empty();
    }

    private static boolean isFlag(OptionSpec option) {
        return option.type() == boolean.class || option.type() == Boolean.class;
    }

    /** Spells a boolean as picocli reads it, from any form that Go's strconv.ParseBool takes. */
    private static String goBoolean(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "1", "t", "true" -> "true";
            case "0", "f", "false" -> "false";
            default -> value;
        };
    }
}
