# Sourced by the benchmarks, which set root first. bench_prepare installs the packages and
# builds the jar if it is missing. bench_tree prints the path of the benchmark tree (a
# debootstrap minbase rootfs plus the Temurin 25 JDK under /opt/jdk-25), making it once.
bench_prepare() {
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
    bash "${root}/scripts/install-deps.sh"
    [[ -f "${root}/nydus-cli/target/nydus.jar" ]] || (cd "${root}" \
        && MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow" mvn -q -B -ntp -DskipTests package)
}

bench_tree() {
    local cache="${NYDUS_BENCH_CACHE:-/var/tmp/nydus-bench}"
    local tree="${cache}/tree"
    if [[ ! -f "${tree}/opt/jdk-25/release" ]]; then
        rm -rf "${cache}/rootfs.partial" "${tree}"
        mkdir -p "${cache}"
        debootstrap --variant=minbase bookworm "${cache}/rootfs.partial" \
            http://deb.debian.org/debian >"${cache}/debootstrap.log" 2>&1 \
            || { tail -20 "${cache}/debootstrap.log" >&2; return 1; }
        mkdir -p "${cache}/rootfs.partial/opt"
        cp -a "${JAVA_HOME}" "${cache}/rootfs.partial/opt/jdk-25"
        mv "${cache}/rootfs.partial" "${tree}"
    fi
    echo "${tree}"
}
