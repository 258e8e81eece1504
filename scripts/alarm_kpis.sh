#!/usr/bin/env bash
# Alarm KPIs (ISA-18.2 / EEMUA 191) on two fleets of 340 substations x 37 days at 15 min,
# uploaded as daily files (so alarm state must carry across files):
#   1. gridwatch's generator in marginal mode (values hovering at the limits) with injected
#      anomalies, scored against its ground truth (recall, nuisance alarms);
#   2. an independent numpy generator (scripts/independent_grid_data.py): Gaussian noise,
#      generation ~ 1.06 x load, voltage centres spread to the limits, 5 % of substations
#      with a steady +0.06 Hz bias, no anomalies injected.
# Prints alarms per substation-day, the flood share, chattering, the priority mix and the
# EEMUA verdicts (`gridwatch alarms kpi`).
#
#   scripts/alarm_kpis.sh [SUBSTATIONS] [DAYS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${1:-340}"; DAYS="${2:-37}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gridwatch-kpi.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
VENV="$ROOT/.venv-bench"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import numpy' 2>/dev/null || "$VENV/bin/pip" install --quiet 'numpy>=1.26'
GW="${GRIDWATCH_BIN:-}"
if [ -z "$GW" ]; then cargo build --release --quiet; GW="$ROOT/target/release/gridwatch"; fi

score() { # data dir, truth csv or "", substations, days
  "$VENV/bin/python" - "$1/gridwatch.db" "$2" "$3" "$4" <<'PY'
import csv, json, sqlite3, sys
from collections import Counter
db, truth, n, days = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
alarms = [json.loads(r[0]) for r in sqlite3.connect(db).execute("SELECT item FROM grid_analysis WHERE kind = 'alert'")]
print(f"  alarms: {len(alarms)} = {len(alarms) / (n * days):.3f} per substation-day")
print("  by rule: " + ", ".join(f"{r} {c}" for r, c in Counter(a["rule"] for a in alarms).most_common()))
print("  by priority: " + ", ".join(f"{p} {c}" for p, c in Counter(a["priority"] for a in alarms).most_common()))
print(f"  chattering notices: {sum(a.get('chattering', False) for a in alarms)}; still active at the end: {sum(a.get('active', False) for a in alarms)}")
if truth:
    # The default on-delays (src/config.rs): only anomalies longer than them must alarm.
    on_delay = {"undervoltage": 15, "overvoltage": 15, "frequency_deviation": 15, "overload": 60}
    from datetime import datetime
    ts = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    eps = list(csv.DictReader(open(truth)))
    hit_ids, scored, missed, double = set(), 0, 0, 0
    for e in eps:
        s, t = ts(e["start"]), ts(e["end"])
        hits = [a for a in alarms if a["location"] == e["substation"] and a["rule"] == e["rule"]
                and ts(a["started_at"]) < t and ts(a["ended_at"]) >= s]
        # An alarm on any injected anomaly is a true one; only the longer ones must alarm.
        hit_ids.update((a["location"], a["rule"], a["started_at"]) for a in hits)
        if t - s <= on_delay[e["rule"]] * 60:
            continue
        scored += 1
        missed += not hits
        double += len(hits) > 1
    nuisance = sum((a["location"], a["rule"], a["started_at"]) not in hit_ids for a in alarms)
    print(f"  ground truth: {scored} anomalies longer than their on-delay; missed {missed}, more than one alarm {double}; "
          f"recall {100 * (scored - missed) / max(scored, 1):.1f} %; nuisance alarms {nuisance} = {nuisance / (n * days):.3f} per substation-day")
PY
}

echo "== 1. gridwatch generate --marginal, $N substations x $DAYS days, daily files"
"$GW" generate --substations "$N" --days "$DAYS" --marginal --truth "$WORK/truth.csv" --output "$WORK/marginal" >/dev/null
/usr/bin/time -f "  analyze: %e s, peak RSS %M KB" "$GW" --data-dir "$WORK/d1" analyze "$WORK/marginal" >/dev/null
score "$WORK/d1" "$WORK/truth.csv" "$N" "$DAYS"
"$GW" --data-dir "$WORK/d1" alarms kpi

echo "== 2. independent numpy generator, $N substations x $DAYS days, daily files"
"$VENV/bin/python" scripts/independent_grid_data.py --substations "$N" --days "$DAYS" --daily --out "$WORK/independent" | cut -c1-200
/usr/bin/time -f "  analyze: %e s, peak RSS %M KB" "$GW" --data-dir "$WORK/d2" analyze "$WORK/independent" >/dev/null
score "$WORK/d2" "" "$N" "$DAYS"
"$GW" --data-dir "$WORK/d2" alarms kpi
