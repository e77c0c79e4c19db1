#!/usr/bin/env bash
# Records the classes that nydus-image, nydusify, nydusd and nydusctl load into one CDS archive
# per tool, in nydus-cli/target/cds/, which bin/launcher.sh maps at every start of that tool.
# Mapped classes are already parsed and verified, so a command starts about 0.2 s sooner and
# nydusd serves its first file about 0.3 s sooner (see docs/benchmarks.md).
#
# The build runs this after it packs nydus.jar. Each tool runs once on a small generated tree
# with -XX:ArchiveClassesAtExit; nydusd, and nydusctl against its API, are trained only where
# nydusd can mount (root and /dev/fuse). The archives are an optimization: when one cannot be
# made, this prints a warning and the build goes on, and the launcher runs that tool without an
# archive.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
archives="${root}/nydus-cli/target/cds"
work="$(mktemp -d "${TMPDIR:-/tmp}/nydus-cds.XXXXXX")"
nydusd_pid=""
registry_pid=""
registry_port=""
training_pid=""
training_opts="-Xlog:cds*=off -Xlog:aot*=off"
# The tools run with a clean environment: nydusify reads its options from variables such as
# OUTPUT_JSON or CHUNK_DICT, and the launchers read NYDUS_* settings, none of which may change
# what a training run does or writes.
clean_env=(env -i "PATH=${PATH}" "HOME=${HOME:-/root}" "TMPDIR=${TMPDIR:-/tmp}")
if [[ -n "${JAVA_HOME:-}" ]]; then
    clean_env+=("JAVA_HOME=${JAVA_HOME}")
fi

cleanup() {
    local pid
    for pid in "${nydusd_pid}" "${training_pid}"; do
        if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
            kill -KILL "${pid}" 2>/dev/null
            wait "${pid}" 2>/dev/null
        fi
    done
    stop_registry
    rm -f "${archives}"/*.jsa.partial
    if grep -q " ${work}/mnt " /proc/mounts 2>/dev/null; then
        umount -l "${work}/mnt" 2>/dev/null
    fi
    rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP

warn() {
    echo "warning: no CDS archive for $1: $2; it starts without one" >&2
}

# Moves a finished archive into place once the tool starts with it: -Xshare:on makes the JVM
# fail instead of running without an archive it cannot map.
# Usage: install_archive ARCHIVE_NAME LAUNCHER
install_archive() {
    local name="$1" launcher="$2"
    mv -f "${archives}/${name}.jsa.partial" "${archives}/${name}.jsa"
    if ! "${clean_env[@]}" NYDUS_JAVA_OPTS="-Xshare:on" "${root}/bin/${launcher}" --version \
            >"${work}/${name}.check" 2>&1; then
        rm -f "${archives}/${name}.jsa"
        warn "${launcher}" "the JVM cannot map it ($(tail -n 1 "${work}/${name}.check"))"
    fi
}

# Runs a tool through its launcher and records its classes into ARCHIVE on exit. The archive is
# written under a temporary name and renamed, so a launcher never maps a half-written file.
# Returns non-zero when no archive was made.
# Usage: train ARCHIVE_NAME LAUNCHER ARGS...
train() {
    local name="$1" launcher="$2"
    shift 2
    local partial="${archives}/${name}.jsa.partial"
    # In the background, so that the cleanup of a signal can stop it by its pid.
    "${clean_env[@]}" NYDUS_JAVA_OPTS="-XX:ArchiveClassesAtExit=${partial} ${training_opts}" \
        "${root}/bin/${launcher}" "$@" >"${work}/${name}.log" 2>&1 &
    training_pid=$!
    local status=0
    wait "${training_pid}" || status=$?
    training_pid=""
    if ((status == 0)) && [[ -s "${partial}" ]]; then
        install_archive "${name}" "${launcher}"
        return
    fi
    rm -f "${partial}"
    warn "${launcher}" "its training run failed (log: $(tail -n 1 "${work}/${name}.log"))"
    return 1
}

make_tree() {
    local tree="$1"
    mkdir -p "${tree}/etc" "${tree}/usr/lib" "${tree}/empty"
    echo "training" >"${tree}/etc/hostname"
    head -c 5000 /dev/urandom >"${tree}/usr/lib/small.bin"
    # Three chunks of 1 MiB, so the chunk workers and the dedup of a repeated chunk run.
    head -c 1048576 /dev/urandom >"${tree}/usr/lib/chunk"
    cat "${tree}/usr/lib/chunk" "${tree}/usr/lib/chunk" "${tree}/usr/lib/chunk" \
        >"${tree}/usr/lib/large.bin"
    rm "${tree}/usr/lib/chunk"
    : >"${tree}/etc/empty-file"
    ln -s ../etc/hostname "${tree}/usr/hostname-link"
    ln "${tree}/etc/hostname" "${tree}/etc/hostname-hardlink"
}

# Writes an OCI layout at DIR whose image (tag v1, linux/amd64) has TREE as its one gzip layer.
# Usage: make_layout TREE DIR
make_layout() {
    local tree="$1" layout="$2"
    local blobs="${layout}/blobs/sha256"
    mkdir -p "${blobs}"
    tar -C "${tree}" --sort=name --numeric-owner -cf "${layout}/layer.tar" .
    local diff_id layer layer_size
    diff_id=$(sha256sum "${layout}/layer.tar" | cut -d' ' -f1)
    gzip -n <"${layout}/layer.tar" >"${layout}/layer.tar.gz"
    layer=$(sha256sum "${layout}/layer.tar.gz" | cut -d' ' -f1)
    layer_size=$(stat -c %s "${layout}/layer.tar.gz")
    mv "${layout}/layer.tar.gz" "${blobs}/${layer}"
    rm "${layout}/layer.tar"

    printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers",%s}}' \
        "\"diff_ids\":[\"sha256:${diff_id}\"]" >"${layout}/config.json"
    local config config_size
    config=$(sha256sum "${layout}/config.json" | cut -d' ' -f1)
    config_size=$(stat -c %s "${layout}/config.json")
    mv "${layout}/config.json" "${blobs}/${config}"

    local format='{"schemaVersion":2,"mediaType":"%s",'
    format+='"config":{"mediaType":"%s","digest":"%s","size":%s},'
    format+='"layers":[{"mediaType":"%s","digest":"%s","size":%s}]}'
    printf "${format}" application/vnd.oci.image.manifest.v1+json \
        application/vnd.oci.image.config.v1+json "sha256:${config}" "${config_size}" \
        application/vnd.oci.image.layer.v1.tar+gzip "sha256:${layer}" "${layer_size}" \
        >"${layout}/manifest.json"
    local manifest manifest_size
    manifest=$(sha256sum "${layout}/manifest.json" | cut -d' ' -f1)
    manifest_size=$(stat -c %s "${layout}/manifest.json")
    mv "${layout}/manifest.json" "${blobs}/${manifest}"

    printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"%s","size":%s,%s}]}' \
        application/vnd.oci.image.manifest.v1+json "sha256:${manifest}" "${manifest_size}" \
        '"annotations":{"org.opencontainers.image.ref.name":"v1"}' >"${layout}/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"${layout}/oci-layout"
}
# Starts docker-registry on a free port of 127.0.0.1 with its storage in the work directory and
# sets registry_port, or fails.
start_registry() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0));
print(s.getsockname()[1])') || return 1
    mkdir -p "${work}/registry"
    cat >"${work}/registry/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${work}/registry/storage
http:
  addr: 127.0.0.1:${port}
YAML
    docker-registry serve "${work}/registry/config.yml" >"${work}/registry.log" 2>&1 &
    registry_pid=$!
    local waited=0
    until (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; do
        if ! kill -0 "${registry_pid}" 2>/dev/null || ((waited >= 100)); then
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    registry_port="${port}"
}
stop_registry() {
    if [[ -n "${registry_pid}" ]] && kill -0 "${registry_pid}" 2>/dev/null; then
        kill "${registry_pid}" 2>/dev/null
        wait "${registry_pid}" 2>/dev/null
    fi
    registry_pid=""
}
# Trains nydusify on a convert between two repositories of a docker-registry that it starts on
# 127.0.0.1, so that the archive also contains the HTTP client and registry classes that a
# convert loads (a Debian image converted 0.2 s sooner with such an archive). Without
# docker-registry, or when the seeding fails, it trains on pack instead.
train_nydusify() {
    local tree="$1"
    if command -v docker-registry >/dev/null && command -v python3 >/dev/null \
            && make_layout "${tree}" "${work}/layout" && start_registry \
            && "${clean_env[@]}" "${root}/bin/nydusify" copy --source "oci:${work}/layout:v1" \
                --target "127.0.0.1:${registry_port}/training/app:v1" --plain-http \
                --work-dir "${work}/copy" --log-level warn >"${work}/seed.log" 2>&1; then
        if train Nydusify nydusify convert \
                --source "127.0.0.1:${registry_port}/training/app:v1" \
                --target "127.0.0.1:${registry_port}/training/app:nydus" --plain-http \
                --work-dir "${work}/convert"; then
            stop_registry
            return
        fi
    fi
    stop_registry
    train Nydusify nydusify pack --target-dir "${tree}" --name packed \
        --output-dir "${work}/packed"
}
# Mounts the image with nydusd, reads every file and stops the daemon with SIGTERM, as the
# snapshotter stops it, so that the archive contains the classes of the FUSE and read paths.
# While the daemon runs, nydusctl is trained on its API socket.
train_nydusd() {
    local image="$1"
    if [[ ${EUID} -ne 0 || ! -c /dev/fuse ]]; then
        warn nydusd "mounting needs root and /dev/fuse"
        return
    fi
    local partial="${archives}/Nydusd.jsa.partial"

    mkdir -p "${work}/mnt"
    "${clean_env[@]}" NYDUS_JAVA_OPTS="-XX:ArchiveClassesAtExit=${partial} ${training_opts}" \
        "${root}/bin/nydusd" --bootstrap "${image}/image.boot" --localfs-dir "${image}/blobs" \
        --mountpoint "${work}/mnt" --apisock "${work}/api.sock" >"${work}/nydusd.log" 2>&1 &
    nydusd_pid=$!
    local waited=0
    until grep -q " ${work}/mnt fuse" /proc/mounts; do
        if ! kill -0 "${nydusd_pid}" 2>/dev/null || ((waited >= 300)); then
            warn nydusd "it did not mount (log: $(tail -n 1 "${work}/nydusd.log"))"
            return
        fi
        sleep 0.1
        waited=$((waited + 1))
    done

    find "${work}/mnt" -type f -exec cat {} + >/dev/null
    ls -lR "${work}/mnt" >/dev/null
    train Nydusctl nydusctl --sock "${work}/api.sock" metrics backend

    kill -TERM "${nydusd_pid}"
    # The daemon unmounts, then the JVM writes the archive before it exits.
    timeout 60 tail --pid="${nydusd_pid}" -f /dev/null
    nydusd_pid=""
    if [[ -s "${partial}" ]]; then
        install_archive Nydusd nydusd
    else
        rm -f "${partial}"
        warn nydusd "it stopped without writing one (log: $(tail -n 1 "${work}/nydusd.log"))"
    fi
}

main() {
    rm -rf "${archives}"
    mkdir -p "${archives}"
    local tree="${work}/tree" image="${work}/image"
    make_tree "${tree}"
    train NydusImage nydus-image create "${tree}" --bootstrap "${image}/image.boot" \
        --blob-dir "${image}/blobs"
    train_nydusify "${tree}"
    if [[ -f "${image}/image.boot" ]]; then
        train_nydusd "${image}"
    fi
    echo "CDS archives in ${archives}: $(cd "${archives}" && ls -- *.jsa 2>/dev/null \
        | tr '\n' ' ')" >&2
}

main
exit 0
