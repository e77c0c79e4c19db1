#!/usr/bin/env bash
# Benchmarks `nydusify convert` of the seeded Debian and JDK images (the test kit's RealImages)
# from one local docker-registry to another, side by side with `skopeo copy
# --dest-compress-format zstd` between the same registries: both pull gzip layers, recompress
# them with zstd and push the result. Prints a Markdown table with the median wall time of RUNS
# runs of each, the time ratio and nydusify's peak RSS (from /usr/bin/time).
# Usage: bench/convert.sh [RUNS]   (default 3). Needs root only for debootstrap on a first run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow"
[[ -f "${root}/nydus-cli/target/nydus.jar" ]] || (cd "${root}" && mvn -q -B -DskipTests package)

work="$(mktemp -d /var/tmp/nydus-bench-convert.XXXXXX)"
declare -A registry_pid
cleanup() {
    for name in "${!registry_pid[@]}"; do
        kill "${registry_pid[$name]}" 2>/dev/null || true
        wait "${registry_pid[$name]}" 2>/dev/null || true
    done
    rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Builds or finds the cached seed images with the test kit and prints the layout directory.
seed_layout() {
    local classes="${root}/nydus-testkit/target/classes:${root}/nydus-posix/target/classes"
    [[ -d "${root}/nydus-testkit/target/classes" ]] || (cd "${root}" \
        && mvn -q -B -DskipTests -pl nydus-testkit -am install >&2)
    cat >"${work}/Seed.java" <<'JAVA'
public class Seed {
    public static void main(String[] args) throws Exception {
        System.out.println(io.nydus.testkit.RealImages.get().layout());
    }
}
JAVA
    "${JAVA_HOME}/bin/java" --enable-native-access=ALL-UNNAMED -cp "${classes}" \
        "${work}/Seed.java"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts (or restarts with empty storage) the registry NAME on PORT.
start_registry() {
    local name="$1" port="$2"
    if [[ -n "${registry_pid[$name]:-}" ]]; then
        kill "${registry_pid[$name]}"
        wait "${registry_pid[$name]}" 2>/dev/null || true
    fi
    rm -rf "${work}/${name}"
    mkdir -p "${work}/${name}/storage"
    cat >"${work}/${name}/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${work}/${name}/storage
http:
  addr: 127.0.0.1:${port}
YAML
    docker-registry serve "${work}/${name}/config.yml" >"${work}/${name}.log" 2>&1 &
    registry_pid[$name]=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null && return
        sleep 0.1
    done
    echo "error: docker-registry ${name} did not start on port ${port}" >&2
    cat "${work}/${name}.log" >&2
    exit 1
}

# Runs "$@" and prints "seconds max_rss_kib", or prints its output and exits if it fails.
measure() {
    /usr/bin/time -f '%e %M' -o "${work}/time.txt" "$@" >"${work}/out.txt" 2>&1 \
        || { cat "${work}/out.txt" >&2; exit 1; }
    cat "${work}/time.txt"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
max() { sort -n | tail -1; }

layout="$(seed_layout)"
source_port="$(free_port)"
start_registry source "${source_port}"
for image in debian jdk; do
    skopeo copy --quiet --dest-tls-verify=false "oci:${layout}:${image}" \
        "docker://127.0.0.1:${source_port}/bench/${image}:v1"
done
target_port="$(free_port)"

declare -A secs rss
for image in debian jdk; do
    src="127.0.0.1:${source_port}/bench/${image}:v1"
    dst="127.0.0.1:${target_port}/bench/${image}"
    nydus_times=() nydus_peaks=() skopeo_times=()
    for ((i = 0; i < runs; i++)); do
        # An empty target for every run, so neither tool finds its blobs there already.
        start_registry target "${target_port}"
        read -r t m < <(measure "${root}/bin/nydusify" convert --source "${src}" \
            --target "${dst}:nydus" --plain-http --work-dir "${work}/nydusify-work" \
            --log-level warn)
        nydus_times+=("$t"); nydus_peaks+=("$m")
        start_registry target "${target_port}"
        read -r t _ < <(measure skopeo copy --quiet --src-tls-verify=false \
            --dest-tls-verify=false --dest-compress-format zstd "docker://${src}" \
            "docker://${dst}:zstd")
        skopeo_times+=("$t")
        if ! skopeo inspect --raw --tls-verify=false "docker://${dst}:zstd" \
                | grep -q 'tar+zstd'; then
            echo "error: skopeo copy did not recompress ${src} with zstd" >&2
            exit 1
        fi
    done
    secs[nydusify_${image}]=$(printf '%s\n' "${nydus_times[@]}" | median)
    secs[skopeo_${image}]=$(printf '%s\n' "${skopeo_times[@]}" | median)
    rss[${image}]=$(printf '%s\n' "${nydus_peaks[@]}" | max)
    echo "${image}: nydusify ${nydus_times[*]} s (peak RSS ${nydus_peaks[*]} KiB)," \
        "skopeo ${skopeo_times[*]} s" >&2
done

bytes() {
    skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:${source_port}/bench/$1:v1" \
        | python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))'
}
ratio() { echo "scale=2; ${secs[nydusify_$1]} / ${secs[skopeo_$1]}" | bc; }
cat <<TABLE
$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),
kernel $(uname -r), $("${JAVA_HOME}/bin/java" -version 2>&1 | head -1), $(skopeo --version).
Median of ${runs} runs each, registries on 127.0.0.1, target registry emptied before each run.

| image | gzip layers (MiB) | nydusify convert (s) | skopeo copy zstd (s) | ratio | nydusify peak RSS (MiB) |
|---|---|---|---|---|---|
| debian | $(( $(bytes debian) / 1048576 )) | ${secs[nydusify_debian]} | ${secs[skopeo_debian]} | $(ratio debian) | $(( rss[debian] / 1024 )) |
| jdk | $(( $(bytes jdk) / 1048576 )) | ${secs[nydusify_jdk]} | ${secs[skopeo_jdk]} | $(ratio jdk) | $(( rss[jdk] / 1024 )) |

Targets: ratio at most 1.5, peak RSS under 512 MiB.
TABLE
