#!/usr/bin/env bash
# Records the classes that nydus-image, nydusify and nydusd load into one CDS archive per tool,
# in nydus-cli/target/cds/, which bin/launcher.sh maps at every start of that tool. Mapped
# classes are already parsed and verified, so a command starts about 0.15 s sooner and nydusd
# serves its first file about 0.3 s sooner (see docs/benchmarks.md).
#
# The build runs this after it packs nydus.jar. Each tool runs once on a small generated tree
# with -XX:ArchiveClassesAtExit; nydusd is trained only where it can mount (root and
# /dev/fuse). The archives are an optimization: when one cannot be made, this prints a warning
# and the build goes on, and the launcher runs that tool without an archive.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
archives="${root}/nydus-cli/target/cds"
work="$(mktemp -d "${TMPDIR:-/tmp}/nydus-cds.XXXXXX")"
nydusd_pid=""
training_opts="-XX:+VerifySharedSpaces -Xlog:cds*=off -Xlog:aot*=off"

cleanup() {
    if [[ -n "${nydusd_pid}" ]] && kill -0 "${nydusd_pid}" 2>/dev/null; then
        kill -KILL "${nydusd_pid}" 2>/dev/null
    fi
    if grep -q " ${work}/mnt " /proc/mounts 2>/dev/null; then
        umount -l "${work}/mnt" 2>/dev/null
    fi
    rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

warn() {
    echo "warning: no CDS archive for $1: $2; it starts without one" >&2
}

# Moves a finished archive into place once the tool starts with it: -Xshare:on makes the JVM
# fail instead of running without an archive it cannot map.
# Usage: install_archive ARCHIVE_NAME LAUNCHER
install_archive() {
    local name="$1" launcher="$2"
    mv -f "${archives}/${name}.jsa.partial" "${archives}/${name}.jsa"
    if ! NYDUS_JAVA_OPTS="-Xshare:on" "${root}/bin/${launcher}" --version \
            >"${work}/${name}.check" 2>&1; then
        rm -f "${archives}/${name}.jsa"
        warn "${launcher}" "the JVM cannot map it ($(tail -n 1 "${work}/${name}.check"))"
    fi
}

# Runs a tool through its launcher and records its classes into ARCHIVE on exit. The archive is
# written under a temporary name and renamed, so a launcher never maps a half-written file.
# Usage: train ARCHIVE_NAME LAUNCHER ARGS...
train() {
    local name="$1" launcher="$2"
    shift 2
    local partial="${archives}/${name}.jsa.partial"
    if NYDUS_JAVA_OPTS="-XX:ArchiveClassesAtExit=${partial} ${training_opts}" \
            "${root}/bin/${launcher}" "$@" >"${work}/${name}.log" 2>&1 \
            && [[ -s "${partial}" ]]; then
        install_archive "${name}" "${launcher}"
    else
        rm -f "${partial}"
        warn "${launcher}" "its training run failed (log: $(tail -n 1 "${work}/${name}.log"))"
    fi
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

# Mounts the image with nydusd, reads every file and stops the daemon with SIGTERM, as the
# snapshotter stops it, so that the archive contains the classes of the FUSE and read paths.
train_nydusd() {
    local image="$1"
    if [[ ${EUID} -ne 0 || ! -c /dev/fuse ]]; then
        warn nydusd "mounting needs root and /dev/fuse"
        return
    fi
    local partial="${archives}/Nydusd.jsa.partial"

    mkdir -p "${work}/mnt"
    NYDUS_JAVA_OPTS="-XX:ArchiveClassesAtExit=${partial} ${training_opts}" \
        "${root}/bin/nydusd" --bootstrap "${image}/image.boot" --localfs-dir "${image}/blobs" \
        --mountpoint "${work}/mnt" >"${work}/nydusd.log" 2>&1 &
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
    train Nydusify nydusify pack --target-dir "${tree}" --name packed \
        --output-dir "${work}/packed"
    if [[ -f "${image}/image.boot" ]]; then
        train_nydusd "${image}"
    fi
    echo "CDS archives in ${archives}: $(cd "${archives}" && ls -- *.jsa 2>/dev/null \
        | tr '\n' ' ')" >&2
}

main
exit 0
