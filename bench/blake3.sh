#!/usr/bin/env bash
# Compares one-thread BLAKE3 throughput of the project's Blake3 class (JMH, Blake3Benchmark)
# with the reference b3sum command (b3sum --num-threads 1 on a 1 GiB random file). Both run
# in one go on one machine, and the result goes to standard output as a Markdown table.
#
# Usage: bench/blake3.sh
# Environment: B3SUM_RUNS   timed b3sum runs after one untimed warm-up run (default 5)
#              JMH_OPTIONS  extra JMH options, such as "-f 1 -i 3" for a quicker run
# Needs: b3sum (Debian package b3sum), Temurin 25 and Maven.
set -euo pipefail

export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
export MAVEN_OPTS=--sun-misc-unsafe-memory-access=allow
java="$JAVA_HOME/bin/java"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jar="$repo/nydus-bench/target/benchmarks.jar"
runs=${B3SUM_RUNS:-5}
read -r -a jmh_options <<< "${JMH_OPTIONS:-}"

command -v b3sum > /dev/null || { echo "b3sum not found: apt-get install -y b3sum" >&2; exit 1; }
[[ -x $java ]] || { echo "Java 25 not found at $JAVA_HOME" >&2; exit 1; }

if [[ ! -f $jar ]]; then
    echo "building $jar" >&2
    (cd "$repo" && mvn -q -B -pl nydus-bench -am install -DskipTests)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

input="$work/input.bin"
echo "writing 1 GiB of random data to $input" >&2
head -c 1073741824 /dev/urandom > "$input"
input_bytes=$(stat -c %s "$input")

# The first run only reads the file into the page cache; the next ones are timed.
b3sum_rates=()
for ((run = 0; run <= runs; run++)); do
    start=$(date +%s%N)
    b3sum --num-threads 1 --no-names "$input" > /dev/null
    end=$(date +%s%N)
    if ((run > 0)); then
        rate=$(awk -v bytes="$input_bytes" -v ns="$((end - start))" \
            'BEGIN { printf "%.0f", bytes / ns * 1000 }')
        b3sum_rates+=("$rate")
        echo "b3sum run $run: $rate MB/s" >&2
    fi
done
sorted_rates=$(printf '%s\n' "${b3sum_rates[@]}" | sort -n)
b3sum_median=$(awk '{ v[NR] = $1 }
    END {
        if (NR % 2) print v[(NR + 1) / 2]
        else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }' <<< "$sorted_rates")
b3sum_range="$(head -1 <<< "$sorted_rates") to $(tail -1 <<< "$sorted_rates")"

# JMH: our hash at several sizes and lane counts, and BouncyCastle at 1 MiB.
run_jmh() {
    local csv=$1
    shift
    echo "running JMH $*" >&2
    "$java" --sun-misc-unsafe-memory-access=allow -jar "$jar" "$@" "${jmh_options[@]}" \
        -rf csv -rff "$csv" >&2
}
run_jmh "$work/sizes.csv" 'Blake3Benchmark\.nydus$' -p size=4096,65536,1048576,268435456
run_jmh "$work/lanes.csv" 'Blake3Benchmark\.nydus$' -p size=1048576 -p lanes=8,4,0
run_jmh "$work/bc.csv" 'Blake3Benchmark\.bouncyCastle$' -p size=1048576

# CSV columns: Benchmark, Mode, Threads, Samples, Score, Score Error, Unit, lanes, size.
rows=$(tail -q -n +2 "$work/sizes.csv" "$work/lanes.csv" "$work/bc.csv" | tr -d '"\r')

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512vl' \
    | paste -sd' ' -)
jdk=$("$java" -version 2>&1 | head -1)
cat > "$work/PreferredLanes.java" <<'JAVA'
public class PreferredLanes {
    public static void main(String[] args) {
        System.out.println(jdk.incubator.vector.IntVector.SPECIES_PREFERRED.length());
    }
}
JAVA
preferred=$("$java" --add-modules jdk.incubator.vector "$work/PreferredLanes.java" 2> /dev/null)

cat <<EOF
Machine: $(nproc) CPUs, $cpu ($flags), Linux $(uname -r), $jdk, $(b3sum --version).

| Implementation | Input | Lanes | MB/s | vs b3sum |
| --- | --- | --- | ---: | ---: |
| b3sum --num-threads 1 | 1 GiB file in page cache | native \
| $b3sum_median (runs: $b3sum_range) | 1.00 |
EOF
echo "$rows" | awk -F, -v ref="$b3sum_median" -v preferred="$preferred" '
    function size_name(s) {
        s += 0
        if (s >= 1048576) return s / 1048576 " MiB"
        return s / 1024 " KiB"
    }
    {
        name = ($1 ~ /bouncyCastle$/) ? "BouncyCastle Blake3Digest" : "Blake3.hash"
        lanes = $8
        if (lanes == "preferred") lanes = preferred " (preferred)"
        if (lanes == "0") lanes = "0 (scalar)"
        if ($1 ~ /bouncyCastle$/) lanes = "none"
        mbs = $5 * $9 / 1e6
        err = $6 * $9 / 1e6
        printf "| %s | %s array | %s | %.0f ± %.0f | %.2f |\n",
            name, size_name($9), lanes, mbs, err, mbs / ref
    }'
