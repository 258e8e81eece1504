#!/usr/bin/env bash
# kill -9 of the local `gridwatch analyze` at many points, each followed by a rerun: the
# SQLite integrity check passes, the rerun stores exactly what a clean run stores (rollups,
# alarms, forecasts, checkpoints) and nothing is left in raw/ but the file. The README's
# test command runs 20 trials (tests/hostile_input.rs); this runs more, at other points.
#
#   scripts/crash_trials.sh [TRIALS] [SEED]      (defaults: 200, random)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TRIALS="${1:-200}"
SEED="${2:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "crash trials: $TRIALS, seed $SEED (rerun with: $0 $TRIALS $SEED)"
GRIDWATCH_CRASH_TRIALS="$TRIALS" GRIDWATCH_CRASH_SEED="$SEED" \
  cargo test --workspace --all-features --test hostile_input -- --exact kill_9_during_analyze_then_rerun_equals_a_clean_run --nocapture 2>&1 \
  | grep -E "crash trials:|test result|panicked|differs|left behind|integrity" 
