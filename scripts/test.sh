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
