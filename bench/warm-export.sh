#!/usr/bin/env bash
# Builds the benchmark tree into an image, then exports it as a block image ROUNDS times with
# 1, 2 and 4 threads in one JVM (bench/WarmExport.java), and prints each export's wall time.
# Usage: sudo bench/warm-export.sh [ROUNDS]   (default 3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"
source "${root}/bench/tree.sh"
bench_prepare
tree="$(bench_tree)"
work="$(mktemp -d /var/tmp/nydus-bench-export.XXXXXX)"
trap 'rm -rf "${work}"' EXIT INT TERM
"${root}/bin/nydus-image" create "${tree}" --bootstrap "${work}/image.boot" \
    --blob-dir "${work}/blobs" >/dev/null 2>&1
# The same JVM options as bin/nydus-image, without its CDS archive.
"${JAVA_HOME}/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --sun-misc-unsafe-memory-access=allow -XX:+UseParallelGC -Xmn64m \
    -cp "${root}/nydus-cli/target/nydus.jar" "${root}/bench/WarmExport.java" \
    "${work}/image.boot" "${work}/blobs" "${work}/image.disk" "${rounds}" \
    2> >(grep -v -e "WARNING: Using incubator modules" -e " INFO " >&2)
