#!/usr/bin/env bash
# `gridwatch analyze` beside polars, duckdb, pandas and the seed's pure-Python approach, in
# one run, on seed-format CSV files (340 substations at 15 minutes) made by
# scripts/independent_grid_data.py, a generator that is not gridwatch's.
#
# Prints per tool and file: wall time, MB/s, peak RSS (GNU time, whole process), the ratio of
# its wall time to polars', and whether gridwatch's per-substation metrics agree with polars'.
# gridwatch: release build, local backend, a fresh data directory per run (it stores every
# rollup, alarm, results JSON and the Athena copy). The peers compute the per-substation summary
# and the hourly group-by (scripts/bench_peers.py); polars and duckdb use both cores.
#
#   scripts/bench_peers.sh            # 100 MB and 1 GB (pandas and pure Python: 100 MB only)
#   scripts/bench_peers.sh --quick    # 100 MB only
#   RUNS=3 scripts/bench_peers.sh     # median wall time of 3 runs per tool (peak RSS: the largest)
#
# Installs polars, duckdb, pandas and numpy from PyPI into .venv-bench. The generated files are
# kept in $CARGO_TARGET_DIR/bench-peers (default target/bench-peers) for the next run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SIZES=(100 1000)
if [ "${1:-}" = "--quick" ]; then SIZES=(100); fi
RUNS="${RUNS:-1}"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

VENV="$ROOT/.venv-bench"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import polars, duckdb, pandas, numpy' 2>/dev/null \
  || "$VENV/bin/pip" install --quiet 'polars>=1,<3' 'duckdb>=1,<3' 'pandas>=2,<4' 'numpy>=1.26,<3'
PY="$VENV/bin/python"

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release --quiet --bin gridwatch
BIN="$TARGET/release/gridwatch"
DATA="$TARGET/bench-peers"
mkdir -p "$DATA"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gridwatch-peers.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Runs "$@" RUNS times under GNU time, each with a fresh $WORK/data (gridwatch's data
# directory); prints "median_wall_s max_peak_kb".
measure() {
  local walls=() peak=0 i wall kb
  for ((i = 0; i < RUNS; i++)); do
    rm -rf "$WORK/data"
    /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$@" >"$WORK/stdout.txt"
    read -r wall kb <"$WORK/time.txt"
    walls+=("$wall")
    [ "$kb" -gt "$peak" ] && peak=$kb
  done
  printf '%s\n' "${walls[@]}" | sort -g | awk -v p="$peak" '{ w[NR] = $1 } END { print w[int((NR + 1) / 2)], p }'
}

echo "machine: $(nproc) cores, $(uname -sr); $("$PY" -c 'import polars, duckdb, pandas; print(f"polars {polars.__version__}, duckdb {duckdb.__version__}, pandas {pandas.__version__}")'); runs per figure: $RUNS"
printf '\n| tool | input | wall s | MB/s | peak RSS MiB | wall / polars |\n|---|---|---:|---:|---:|---:|\n'
AGREEMENT=()
for mb in "${SIZES[@]}"; do
  file="$DATA/independent_${mb}mb.csv"
  if [ ! -s "$file" ]; then
    "$PY" scripts/independent_grid_data.py --target-mb "$mb" --out "$DATA" --name "independent_${mb}mb.csv.tmp" >/dev/null
    mv "$file.tmp" "$file"
  fi
  bytes=$(stat -L -c %s "$file")
  label="$((bytes / 1000000)) MB"
  tools=(polars duckdb gridwatch)
  [ "$mb" -le 100 ] && tools+=(pandas python)
  declare -A wall_of=() kb_of=()
  for tool in "${tools[@]}"; do
    if [ "$tool" = gridwatch ]; then
      read -r wall kb < <(measure "$BIN" --data-dir "$WORK/data" analyze --json "$file")
      rm -rf "$WORK/data"
      "$PY" scripts/bench_peers.py gridwatch-summary "$WORK/stdout.txt" "$WORK/gridwatch.json"
    else
      read -r wall kb < <(measure "$PY" scripts/bench_peers.py "$tool" "$file" "$WORK/$tool.json")
    fi
    wall_of[$tool]=$wall
    kb_of[$tool]=$kb
  done
  declare -A names=([polars]="polars (both cores)" [duckdb]="duckdb (both cores)" [gridwatch]="\`gridwatch analyze\` (everything, local backend)"
    [pandas]="pandas" [python]="pure Python (csv.DictReader, lists)")
  for tool in "${tools[@]}"; do
    awk -v t="${names[$tool]}" -v l="$label" -v w="${wall_of[$tool]}" -v k="${kb_of[$tool]}" -v b="$bytes" -v p="${wall_of[polars]}" \
      'BEGIN { printf "| %s | %s | %.2f | %.0f | %.0f | %.2f |\n", t, l, w, b / 1e6 / w, k / 1024, w / p }'
  done
  AGREEMENT+=("$label: gridwatch vs polars per-substation metrics: $("$PY" scripts/bench_peers.py compare "$WORK/gridwatch.json" "$WORK/polars.json" || true)")
  unset wall_of kb_of
done
echo
printf '%s\n' "${AGREEMENT[@]}"
