#!/usr/bin/env bash
# Measures what the launchers' CDS archives save. The first figure is the wall time of
# `nydus-image create` of an empty directory, the fixed start of every command. The others are
# the times from starting nydusd on the benchmark tree's image to its mount and to the first
# file read through it. Runs with and without the archives (NYDUS_CDS=off) alternate, and the
# script prints a Markdown table of the medians and ranges.
# Usage: sudo bench/cds.sh [RUNS]   (default 5)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-5}"
source "${root}/bench/tree.sh"
bench_prepare
for tool in NydusImage Nydusd; do
    if [[ ! -f "${root}/nydus-cli/target/cds/${tool}.jsa" ]]; then
        echo "error: nydus-cli/target/cds/${tool}.jsa is missing; run scripts/cds-archives.sh" >&2
        exit 1
    fi
done

tree="$(bench_tree)"
work="$(mktemp -d /var/tmp/nydus-bench-cds.XXXXXX)"
nydusd_pid=""
cleanup() {
    [[ -n "${nydusd_pid}" ]] && kill -KILL "${nydusd_pid}" 2>/dev/null
    grep -q " ${work}/mnt " /proc/mounts && umount -l "${work}/mnt"
    rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "${work}/empty" "${work}/mnt"
"${root}/bin/nydus-image" create "${tree}" --bootstrap "${work}/image.boot" \
    --blob-dir "${work}/blobs" >/dev/null 2>&1

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

# Prints the seconds that an empty build takes.
empty_build() {
    local start
    start=$(now)
    "${root}/bin/nydus-image" create "${work}/empty" --bootstrap "${work}/empty.boot" \
        --blob-dir "${work}/empty-blobs" >/dev/null 2>&1
    elapsed "${start}" "$(now)"
}

# Prints the seconds from starting nydusd to its mount and to the first file read.
daemon_start() {
    local start mounted read
    start=$(now)
    "${root}/bin/nydusd" --bootstrap "${work}/image.boot" --localfs-dir "${work}/blobs" \
        --mountpoint "${work}/mnt" >"${work}/nydusd.log" 2>&1 &
    nydusd_pid=$!
    until grep -q " ${work}/mnt fuse" /proc/mounts; do
        kill -0 "${nydusd_pid}" 2>/dev/null || { cat "${work}/nydusd.log" >&2; exit 1; }
        sleep 0.005
    done
    mounted=$(now)
    cat "${work}/mnt/opt/jdk-25/release" >/dev/null
    read=$(now)
    kill -TERM "${nydusd_pid}"
    wait "${nydusd_pid}" || true
    nydusd_pid=""
    echo "$(elapsed "${start}" "${mounted}") $(elapsed "${start}" "${read}")"
}

declare -A samples
for ((i = 0; i < runs; i++)); do
    for mode in on off; do
        export NYDUS_CDS="${mode}"
        samples[build_${mode}]+="$(empty_build) "
        read -r mounted first < <(daemon_start)
        samples[mount_${mode}]+="${mounted} "
        samples[read_${mode}]+="${first} "
    done
done

# Prints "median (min–max)" of the numbers in $1.
summary() {
    tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {
        printf "%.2f (%.2f–%.2f)", a[int((NR+1)/2)], a[1], a[NR]}'
}
row() { echo "| $1 | $(summary "${samples[$2_on]}") | $(summary "${samples[$2_off]}") |"; }
cat <<TABLE
$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),
kernel $(uname -r); ${runs} runs each, alternating. Seconds: median (min–max).

| measurement | with CDS archive | without (NYDUS_CDS=off) |
|---|---|---|
$(row "\`nydus-image create\` of an empty directory" build)
$(row "nydusd start to mount" mount)
$(row "nydusd start to first file read" read)
TABLE
