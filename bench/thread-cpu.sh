#!/usr/bin/env bash
# Runs a command and prints the CPU time of each of its threads, read from /proc/PID/task/*/stat
# every 20 ms until the command ends, in seconds, largest first. The launchers in bin/ replace
# themselves with the JVM, so their process is the JVM.
# Usage: bench/thread-cpu.sh COMMAND [ARGS...]
#   e.g. bench/thread-cpu.sh bin/nydus-image create DIR --bootstrap B --blob-dir D
set -uo pipefail
"$@" >/dev/null 2>&1 &
pid=$!
ticks=$(getconf CLK_TCK)
declare -A cpu name
while kill -0 "${pid}" 2>/dev/null; do
    for task in /proc/"${pid}"/task/*; do
        stat=$(cat "${task}/stat" 2>/dev/null) || continue
        # Fields 14 and 15 are utime and stime. The name in parentheses may contain spaces.
        read -r -a fields <<<"${stat##*) }"
        cpu[${task##*/}]=$((fields[11] + fields[12]))
        name[${task##*/}]=$(cat "${task}/comm" 2>/dev/null)
    done
    sleep 0.02
done
for tid in "${!cpu[@]}"; do
    echo "${cpu[${tid}]} ${name[${tid}]}"
done | sort -rn | awk -v hz="${ticks}" \
    '$1 > 0 {printf "%6.2f s  %s\n", $1 / hz, substr($0, index($0, " ") + 1)}'
