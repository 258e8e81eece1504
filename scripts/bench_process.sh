#!/usr/bin/env bash
# Whole-process throughput and peak memory of `gridwatch analyze` (parse, analysis,
# SQLite writes, results JSON) on generated seed-format CSV files of ~100 MB and ~1 GB.
# Peak memory must stay flat as the file grows: the engine streams.
#
#   scripts/bench_process.sh [SIZES...]     # default: 100MB 1GB
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet --bin gridwatch
BIN="$ROOT/target/release/gridwatch"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gridwatch-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100MB 1GB)

printf '| input | rows | wall s | MB/s | peak RSS MB |\n|---|---:|---:|---:|---:|\n'
for size in "${SIZES[@]}"; do
  file="$WORK/grid_data_$size.csv"
  "$BIN" generate --substations 100 --power-factor --split none --target-size "$size" --output "$file" >/dev/null 2>&1
  bytes=$(stat -c %s "$file")
  rows=$(( $(wc -l <"$file") - 1 ))
  /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$BIN" --data-dir "$WORK/data-$size" analyze "$file" >/dev/null
  read -r wall kb <"$WORK/time.txt"
  awk -v s="$size" -v r="$rows" -v w="$wall" -v b="$bytes" -v k="$kb" \
    'BEGIN { printf "| %s (%.0f MB) | %d | %.1f | %.1f | %.0f |\n", s, b/1e6, r, w, b/1e6/w, k/1024 }'
  rm -f "$file"
done
