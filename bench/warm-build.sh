#!/usr/bin/env bash
# Builds the benchmark tree RUNS times in one JVM (bench/WarmBuild.java) and prints the wall and
# CPU time of each build: the first pays for the JVM's class loading and JIT compilation, the
# later ones show the builder's steady state.
# Usage: sudo bench/warm-build.sh [RUNS]   (default 5)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-5}"
source "${root}/bench/tree.sh"
bench_prepare
tree="$(bench_tree)"
# The same JVM options as bin/nydus-image, without the CDS archive, which was made for the
# launcher's main class.
"${JAVA_HOME}/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --sun-misc-unsafe-memory-access=allow -XX:+UseParallelGC -Xmn64m \
    -cp "${root}/nydus-cli/target/nydus.jar" "${root}/bench/WarmBuild.java" "${tree}" "${runs}" \
    2> >(grep -v -e "WARNING: Using incubator modules" -e " INFO " >&2)
