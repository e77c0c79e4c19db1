#!/usr/bin/env bash
# Common part of the launchers in bin/: finds Java 25 and the built jar, builds it if missing,
# and runs the main class given as the first argument with the remaining arguments.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
main_class="$1"
shift
if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/java" ]] \
        || ! "${JAVA_HOME}/bin/java" -version 2>&1 | grep -q '"25'; then
    JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
if [[ ! -x "${JAVA_HOME}/bin/java" ]]; then
    echo "error: Java 25 not found at ${JAVA_HOME}; install Temurin 25 or set JAVA_HOME" >&2
    exit 1
fi
export JAVA_HOME
# The JVM decodes arguments and file names with the locale's character set. Without a locale,
# as under systemd or in a minimal container, that is ASCII, and a path argument with a
# non-ASCII name cannot be opened. UTF-8 keeps UTF-8 names, but a name with bytes that are not
# UTF-8 still cannot be given on the command line.
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
    "" | C | POSIX) export LC_ALL=C.UTF-8 ;;
esac
jar="${root}/nydus-cli/target/nydus.jar"
if [[ ! -f "${jar}" ]]; then
    echo "nydus: ${jar} is missing, building it (mvn package)..." >&2
    # Maven 3.8 prints colour resets even in batch mode, which would reach the terminal as
    # stray escape codes; sed drops them.
    (cd "${root}" && MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow" \
        mvn -q -B -DskipTests package 2>&1 | sed -u $'s/\e\\[0m//g' >&2)
fi
# A small young generation keeps reusing memory that is already mapped, because chunk buffers
# are short-lived. Sized from the machine's memory, it grew the peak RSS of a 494 MiB build from
# 200 MiB to 900 MiB and added page-fault time. A launcher may set NYDUS_MEMORY_OPTS to size a
# long-running process instead. A tool's launcher may add options of its own in
# NYDUS_TOOL_OPTS. NYDUS_JAVA_OPTS comes last, so its settings win.
memory_opts="${NYDUS_MEMORY_OPTS:--XX:+UseParallelGC -Xmn64m}"
# scripts/cds-archives.sh, which the build runs, records the classes each tool loads into a CDS
# archive. Mapping it saves parsing and verifying those classes at every start. The JVM ignores
# an archive that does not match the jar or the JVM, and -Xlog keeps its messages about that
# off standard output, which may carry a command's JSON. The archive's contents are not
# checksummed at start (-XX:+VerifySharedSpaces): for the 20 MiB nydusify archive that took
# 0.1 s of every start, and the build moves an archive into place only once it is complete.
# NYDUS_CDS=off starts without the archive.
cds_opts=()
archive="${root}/nydus-cli/target/cds/${main_class##*.}.jsa"
if [[ -f "${archive}" && "${NYDUS_CDS:-on}" != off ]]; then
    cds_opts=("-XX:SharedArchiveFile=${archive}" -Xlog:cds*=off -Xlog:aot*=off)
fi
# The JDK's HTTP client gets a 4 MiB socket receive buffer. With the default one, a 900 KB
# range GET over a 1 Gbit/s link with a 10 ms round trip took 34 to 54 ms (curl: 20 ms).
# With 4 MiB it took 21 to 25 ms.
# The JVM prints a warning about the incubating vector module on every start, and no option
# turns it off, so grep removes it. It passes each other line on at once: without
# --line-buffered, a daemon's log lines would wait in grep's buffer while stderr is a file.
# The JDK leaves a Basic Proxy-Authorization header out of the CONNECT request of an HTTPS
# tunnel unless this property allows it. Registry clients send the user and password of an
# HTTPS_PROXY URL in that header, as Go programs do.
exec "${JAVA_HOME}/bin/java" --add-modules jdk.incubator.vector \
    --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -Djdk.httpclient.receiveBufferSize=4194304 -Djdk.http.auth.tunneling.disabledSchemes= \
    "${cds_opts[@]}" ${memory_opts} ${NYDUS_TOOL_OPTS:-} ${NYDUS_JAVA_OPTS:-} \
    -cp "${jar}" "${main_class}" "$@" \
    2> >(grep -a --line-buffered -v "WARNING: Using incubator modules" >&2)
