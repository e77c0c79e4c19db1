#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, builds every module and runs every test,
# including the ones that mount images with the kernel's EROFS driver (needs root).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
bash scripts/install-deps.sh
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow"
export PATH="${JAVA_HOME}/bin:${PATH}"
mvn -B -ntp install "$@"
# The build made a CDS archive for each tool, and -Xshare:on fails where the JVM cannot map it.
for tool in nydus-image nydusify nydusd nydusctl; do
    if ! NYDUS_JAVA_OPTS="-Xshare:on" "bin/${tool}" --version >/dev/null; then
        echo "error: bin/${tool} cannot start with its CDS archive in nydus-cli/target/cds" >&2
        exit 1
    fi
done
# Without a locale, as under systemd or in a minimal container, the JVM would decode arguments
# as ASCII and reject every path with a non-ASCII name.
# The command fails on the missing file, so its output is taken before the match.
missing="/nonexistent/caf$(printf '\303\251').boot"
output=$(env -u LANG -u LC_ALL -u LC_CTYPE bin/nydus-image inspect "${missing}" 2>&1 || true)
if ! grep -qF "no such file: ${missing}" <<<"${output}"; then
    echo "error: bin/nydus-image does not read the path ${missing} without a locale" >&2
    exit 1
fi
