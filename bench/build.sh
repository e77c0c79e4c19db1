#!/usr/bin/env bash
# Benchmarks `nydus-image create` on a real tree (a debootstrap minbase rootfs plus the Temurin 25
# JDK directory) side by side with `tar -c | zstd -3 -T2` and `mkfs.erofs` on the same tree, and
# prints a Markdown table: median wall time of RUNS runs, throughput and peak RSS.
# Usage: sudo bench/build.sh [RUNS]   (default 3). The tree is cached in /var/tmp/nydus-bench.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
source "${root}/bench/tree.sh"
bench_prepare

tree="$(bench_tree)"
work="$(mktemp -d /var/tmp/nydus-bench-run.XXXXXX)"
trap 'rm -rf "${work}"' EXIT INT TERM
bytes=$(du -sb --apparent-size "${tree}" | cut -f1)
files=$(find "${tree}" -type f | wc -l)

# Runs "$@" once with the page cache warm and prints "seconds max_rss_kib".
measure() {
    /usr/bin/time -f '%e %M' -o "${work}/time.txt" "$@" >/dev/null 2>"${work}/stderr.txt" \
        || { cat "${work}/stderr.txt" >&2; exit 1; }
    cat "${work}/time.txt"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A secs rss
run_tool() {
    local name="$1"; shift
    local times=() peaks=()
    for ((i = 0; i < runs; i++)); do
        rm -rf "${work}/out"; mkdir -p "${work}/out"
        read -r t m < <(measure "$@")
        times+=("$t"); peaks+=("$m")
    done
    secs[$name]=$(printf '%s\n' "${times[@]}" | median)
    rss[$name]=$(printf '%s\n' "${peaks[@]}" | median)
    echo "${name}: ${times[*]} s" >&2
}

tar -C "${tree}" -cf - . >/dev/null   # warm the page cache for every tool alike
run_tool tar_zstd bash -c "tar -C '${tree}' -cf - . | zstd -3 -T2 -q -o '${work}/out/tree.tar.zst'"
run_tool nydus "${root}/bin/nydus-image" create "${tree}" --bootstrap "${work}/out/image.boot" \
    --blob-dir "${work}/out/blobs" --threads 2
run_tool mkfs_erofs mkfs.erofs -zlz4 "${work}/out/tree.erofs" "${tree}"

mbps() { echo "scale=0; ${bytes} / 1048576 / $1" | bc; }
ratio=$(echo "scale=2; ${secs[nydus]} / ${secs[tar_zstd]}" | bc)
cat <<TABLE
Tree: ${tree} ($((bytes / 1048576)) MiB in ${files} files); $(nproc) cores,
$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r).
Median of ${runs} runs each, page cache warm.

| tool | command | seconds | MiB/s | peak RSS (MiB) |
|---|---|---|---|---|
| tar + zstd | \`tar -c DIR \| zstd -3 -T2\` | ${secs[tar_zstd]} | $(mbps "${secs[tar_zstd]}") | $((rss[tar_zstd] / 1024)) (zstd) |
| nydus-image | \`nydus-image create DIR\` (zstd, blake3, 1 MiB chunks, 2 threads) | ${secs[nydus]} | $(mbps "${secs[nydus]}") | $((rss[nydus] / 1024)) |
| mkfs.erofs | \`mkfs.erofs -zlz4 IMG DIR\` (erofs-utils 1.5) | ${secs[mkfs_erofs]} | $(mbps "${secs[mkfs_erofs]}") | $((rss[mkfs_erofs] / 1024)) |

nydus-image / tar+zstd time ratio: ${ratio} (target: at most 1.3).
TABLE
