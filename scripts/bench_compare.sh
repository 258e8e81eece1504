#!/usr/bin/env bash
# gridwatch against the seed tutorial's pandas approach on the same generated CSV:
# wall time and peak memory of each. Installs pandas into .venv-bench if needed.
#
#   scripts/bench_compare.sh [SIZE]      # default 100MB
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SIZE="${1:-100MB}"
VENV="$ROOT/.venv-bench"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import pandas' 2>/dev/null || "$VENV/bin/pip" install --quiet 'pandas>=2,<4'
cargo build --release --quiet --bin gridwatch
BIN="$ROOT/target/release/gridwatch"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gridwatch-compare.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
FILE="$WORK/grid_data.csv"
"$BIN" generate --substations 100 --power-factor --split none --target-size "$SIZE" --output "$FILE" >/dev/null 2>&1
echo "input: $(du -h "$FILE" | cut -f1) $(($(wc -l <"$FILE") - 1)) rows"
/usr/bin/time -f 'gridwatch analyze (parse, analysis, SQLite, results JSON): %e s, peak RSS %M KB' \
  "$BIN" --data-dir "$WORK/data" analyze "$FILE" >/dev/null
"$VENV/bin/python" scripts/compare_pandas.py "$FILE"
