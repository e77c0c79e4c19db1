#!/usr/bin/env bash
# Benchmarks reads through nydusd side by side with squashfuse_ll (uncompressed and zstd
# squashfs images) and the kernel's EROFS driver (the `export --block` image), all of the same
# tree (a debootstrap minbase rootfs plus the Temurin 25 JDK, cached in /var/tmp/nydus-bench).
# nydusd serves from a fully cached local blob cache. Every measurement starts on a fresh mount
# with the page cache dropped. Prints a Markdown table with the median of RUNS runs.
# Usage: sudo bench/nydusd.sh [RUNS]   (default 3)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
source "${root}/bench/tree.sh"
bench_prepare
tree="$(bench_tree)"

work="$(mktemp -d /var/tmp/nydus-bench-read.XXXXXX)"
mnt="${work}/mnt"
mkdir -p "${mnt}"
daemon_pid=""
cleanup() {
    if mountpoint -q "${mnt}"; then umount "${mnt}" || umount -l "${mnt}"; fi
    if [[ -n "${daemon_pid}" ]]; then kill "${daemon_pid}" 2>/dev/null || true; fi
    rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building the images of ${tree}" >&2
"${root}/bin/nydus-image" create "${tree}" --bootstrap "${work}/image.boot" \
    --blob-dir "${work}/blobs" >/dev/null
"${root}/bin/nydus-image" export --block --bootstrap "${work}/image.boot" \
    --localfs-dir "${work}/blobs" --output "${work}/image.erofs" >/dev/null
mksquashfs "${tree}" "${work}/plain.sqfs" -noI -noId -noD -noF -noX -no-progress -quiet
mksquashfs "${tree}" "${work}/zstd.sqfs" -comp zstd -no-progress -quiet
cat >"${work}/nydusd.json" <<JSON
{"device": {"backend": {"type": "localfs", "config": {"dir": "${work}/blobs"}},
            "cache": {"type": "blobcache", "config": {"work_dir": "${work}/cache"}}},
 "mode": "direct", "digest_validate": false, "enable_xattr": true,
 "fs_prefetch": {"enable": false}}
JSON

# The large files read sequentially: every file of at least 1 MiB, largest first, up to 300 MiB.
(cd "${tree}" && find . -type f -size +1M -printf '%s %P\n' | sort -rn \
    | awk '{ if (sum < 300 * 1048576) { sum += $1; print $2 } }') >"${work}/large.txt"
large_bytes=$(cd "${tree}" && tr '\n' '\0' <"${work}/large.txt" | du -cb --files0-from=- \
    | tail -1 | cut -f1)

mount_system() {
    case "$1" in
        nydusd)
            "${root}/bin/nydusd" --config "${work}/nydusd.json" --bootstrap "${work}/image.boot" \
                --mountpoint "${mnt}" --log-level warn &
            daemon_pid=$!
            for _ in $(seq 200); do mountpoint -q "${mnt}" && return; sleep 0.05; done
            echo "nydusd did not mount ${mnt}" >&2; exit 1 ;;
        squashfuse-plain) squashfuse_ll "${work}/plain.sqfs" "${mnt}" ;;
        squashfuse-zstd) squashfuse_ll "${work}/zstd.sqfs" "${mnt}" ;;
        erofs) mount -t erofs -o ro "${work}/image.erofs" "${mnt}" ;;
    esac
}
peak_rss_kib=0
warm_rss_kib=0
unmount_system() {
    if [[ "$1" == nydusd-warming ]]; then
        warm_rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/${daemon_pid}/status")
        umount "${mnt}"; wait "${daemon_pid}" || true; daemon_pid=""
        return
    fi
    if [[ "$1" == nydusd ]]; then
        local hwm
        hwm=$(awk '/VmHWM/ {print $2}' "/proc/${daemon_pid}/status")
        (( hwm > peak_rss_kib )) && peak_rss_kib=${hwm}
    fi
    umount "${mnt}"
    if [[ "$1" == nydusd ]]; then wait "${daemon_pid}" || true; daemon_pid=""; fi
}
fresh() { unmount_system "$1"; sync; echo 3 >/proc/sys/vm/drop_caches; mount_system "$1"; }
now() { date +%s.%N; }

echo "warming the nydusd blob cache with one full read" >&2
mount_system nydusd
find "${mnt}" -type f -print0 | xargs -0 cat >/dev/null
unmount_system nydusd-warming

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A seq_mbs rand_iops find_secs
for system in nydusd squashfuse-plain squashfuse-zstd erofs; do
    s=() r=() f=()
    mount_system "${system}"
    for ((i = 0; i < runs; i++)); do
        fresh "${system}"
        t0=$(now); (cd "${mnt}" && tr '\n' '\0' <"${work}/large.txt" | xargs -0 cat >/dev/null)
        t1=$(now); s+=("$(echo "${large_bytes} / 1048576 / (${t1} - ${t0})" | bc -l)")
        fresh "${system}"
        sed "s#^#${mnt}/#" "${work}/large.txt" >"${work}/paths.txt"
        r+=("$(/usr/bin/python3 "${root}/bench/randread.py" "${work}/paths.txt" 5 "${i}")")
        fresh "${system}"
        t0=$(now); find "${mnt}" -ls >/dev/null; t1=$(now)
        f+=("$(echo "${t1} - ${t0}" | bc -l)")
    done
    unmount_system "${system}"
    seq_mbs[$system]=$(printf '%s\n' "${s[@]}" | median)
    rand_iops[$system]=$(printf '%s\n' "${r[@]}" | median)
    find_secs[$system]=$(printf '%s\n' "${f[@]}" | median)
    echo "${system}: seq ${s[*]} MB/s; random ${r[*]} reads/s; find ${f[*]} s" >&2
done

files=$(find "${tree}" | wc -l)
printf '\nTree: %s (%s entries); sequential set: %s files, %d MiB. Median of %s runs.\n\n' \
    "${tree}" "${files}" "$(wc -l <"${work}/large.txt")" $((large_bytes / 1048576)) "${runs}"
echo "| System | Sequential read MB/s | Random 4 KiB reads/s | find -ls s |"
echo "|---|---:|---:|---:|"
for system in nydusd squashfuse-plain squashfuse-zstd erofs; do
    printf '| %s | %.0f | %.0f | %.2f |\n' "${system}" "${seq_mbs[$system]}" \
        "${rand_iops[$system]}" "${find_secs[$system]}"
done
printf '\nnydusd peak RSS in the measured runs (fully cached): %d MiB\n' $((peak_rss_kib / 1024))
printf 'nydusd peak RSS while filling the cache (one full read, cold): %d MiB\n' \
    $((warm_rss_kib / 1024))
