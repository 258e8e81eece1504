#!/usr/bin/env bash
# The Lambda path's throughput and its cost per GB of input, measured on the emulator.
#
# Generates a seed-format file with the independent generator (scripts/independent_grid_data.py,
# numpy), starts moto on 127.0.0.1 pinned to core 1, and runs the in-process Lambda handler
# (release build, pinned to core 0: one vCPU, as a 1,769 MB Lambda has) on it with every AWS
# request counted per service and operation and every DynamoDB write sized in write units
# (tests/aws_lambda_limits.rs, the ignored `lambda_throughput_and_requests_per_object`). Then
# prices the counts at on-demand rates and answers the 10 GB question from the measured rate.
#
#   scripts/lambda_cost.sh [SUBSTATIONS [DAYS [SHARDS]]]   # default 340 substations x 4 days (~12 MB)
#   SHARD_MB=64 scripts/lambda_cost.sh 340 1 8               # project 10 GB at another shard size
#
# With SHARDS > 1 the same object is also fanned out into that many shard invocations (as the
# Lambda does with objects over SHARD_MB; src/store/fanout.rs), each one measured, and a
# shard of a 10 GB object is projected from them.
#
# GRIDWATCH_VENV: a venv with moto's server (default .venv, as scripts/test.sh makes it);
# GRIDWATCH_BENCH_VENV: a venv with numpy (default .venv-bench, created if missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SUBSTATIONS="${1:-340}"
DAYS="${2:-4}"
SHARDS="${3:-1}"
VENV="${GRIDWATCH_VENV:-$ROOT/.venv}"
BENCH_VENV="${GRIDWATCH_BENCH_VENV:-$ROOT/.venv-bench}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/gridwatch-cost.XXXXXX")"
PIDS=()

log() { printf '[lambda_cost] %s\n' "$*" >&2; }
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# One core for the handler, the other for moto, when there are two.
pin() { # core command...
  local core="$1"; shift
  if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then taskset -c "$core" "$@"; else "$@"; fi
}

if [ ! -x "$VENV/bin/moto_server" ]; then
  log "installing moto[server] into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'moto[server]>=5.1,<5.2'
fi
if ! "$BENCH_VENV/bin/python" -c 'import numpy' 2>/dev/null; then
  log "installing numpy into $BENCH_VENV"
  [ -x "$BENCH_VENV/bin/python" ] || python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install --quiet 'numpy>=1.26'
fi

log "generating $SUBSTATIONS substations x $DAYS days (independent generator)"
"$BENCH_VENV/bin/python" scripts/independent_grid_data.py --substations "$SUBSTATIONS" --days "$DAYS" --out "$WORK/data" >&2
INPUT="$WORK/data/independent.csv"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL 2>/dev/null || true
CARGO_ARGS=(--release --workspace --all-features --test aws_lambda_limits)
log "building (release)"
cargo test "${CARGO_ARGS[@]}" --no-run >&2

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
pin 1 "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 60))
until curl -sf "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1; do
  if [ $SECONDS -ge $deadline ]; then log "moto did not start:"; cat "$WORK/moto.log" >&2; exit 1; fi
  sleep 0.2
done

log "running the handler on $(du -h "$INPUT" | cut -f1) (core 0; moto on core 1)"
GRIDWATCH_TEST_AWS_ENDPOINT="http://127.0.0.1:$PORT" GRIDWATCH_COST_INPUT="$INPUT" GRIDWATCH_COST_OUT="$WORK/cost.json" GRIDWATCH_COST_SHARDS="$SHARDS" \
  pin 0 cargo test "${CARGO_ARGS[@]}" -- --ignored --exact lambda_throughput_and_requests_per_object >&2

python3 - "$WORK/cost.json" <<'EOF'
import json, math, os, sys

m = json.load(open(sys.argv[1]))
# Public on-demand prices, us-east-1, as published by AWS (DynamoDB's on-demand rates are
# those of its 1 Nov 2024 price cut; the others unchanged since 2020-2023). Not fetched
# from this machine (no network): check https://aws.amazon.com/pricing before relying on them.
RATES = {
    "lambda_gb_s": 0.0000166667,        # x86_64, per GB-second
    "lambda_request": 0.20 / 1e6,        # per invocation
    "ddb_write_unit": 0.625 / 1e6,       # per write request unit (1 KB)
    "ddb_read_unit": 0.125 / 1e6,        # per read request unit (4 KB, strongly consistent; eventual = half)
    "ddb_storage_gb_month": 0.25,
    "s3_put": 0.005 / 1000,              # PUT, COPY, POST, LIST
    "s3_get": 0.0004 / 1000,             # GET and others
    "sns_publish": 0.50 / 1e6,
    "sns_email": 2.00 / 1e5,             # per email delivered (one subscriber)
}
MEMORY_GB = 1769 / 1024
GB = 1e9
scale = GB / m["input_bytes"]
req = {(r["service"], r["operation"]): r["requests"] for r in m["requests"]}
def per_gb(n): return n * scale
s3_put = sum(n for (s, op), n in req.items() if s == "S3" and op in ("PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "ListObjectsV2"))
s3_get = sum(n for (s, op), n in req.items() if s == "S3" and op not in ("PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "ListObjectsV2", "DeleteObject"))
publishes = sum(n for (s, op), n in req.items() if s == "SNS" and op == "Publish")
queries = sum(n for (s, op), n in req.items() if s == "DynamoDB" and op in ("Query", "GetItem"))
mb = m["input_bytes"] / 1e6
wall, cpu = m["handler_wall_s"], m["handler_cpu_s"]
rows = [
    ("Lambda duration, as measured on moto", f"{per_gb(wall):.0f} s x {MEMORY_GB:.3f} GB = {per_gb(wall) * MEMORY_GB:.0f} GB-s", per_gb(wall) * MEMORY_GB * RATES["lambda_gb_s"]),
    ("(Lambda, CPU time only: the floor)", f"{per_gb(cpu):.0f} s x {MEMORY_GB:.3f} GB = {per_gb(cpu) * MEMORY_GB:.0f} GB-s", None),
    ("DynamoDB writes", f"{per_gb(m['dynamodb_items_written']):,.0f} items, {per_gb(m['dynamodb_write_units']):,.0f} write units", per_gb(m["dynamodb_write_units"]) * RATES["ddb_write_unit"]),
    ("DynamoDB reads (Query, >= 0.5 unit each)", f"{per_gb(queries):,.0f} requests", per_gb(queries) * 0.5 * RATES["ddb_read_unit"]),
    ("S3 PUT", f"{per_gb(s3_put):,.0f} requests", per_gb(s3_put) * RATES["s3_put"]),
    ("S3 GET", f"{per_gb(s3_get):,.0f} requests", per_gb(s3_get) * RATES["s3_get"]),
    ("SNS Publish (+ one email each)", f"{per_gb(publishes):,.0f} messages", per_gb(publishes) * (RATES["sns_publish"] + RATES["sns_email"])),
]
total = sum(c for _, _, c in rows if c is not None)
storage = per_gb(m["dynamodb_item_bytes"]) / 1e9 * RATES["ddb_storage_gb_month"]
print(f"input: {m['input_bytes']:,} bytes, {m['rows']:,} rows, {m['rollups']:,} rollups, {m['alarms']} alarm episodes ({m['new_alarms']} new)")
print(f"handler on one core against moto: {wall:.2f} s wall = {mb / wall:.2f} MB/s; {cpu:.2f} s CPU = {mb / cpu:.2f} MB/s of CPU; "
      f"engine alone {mb / m['engine_alone_s']:.1f} MB/s; resident memory at the end {m['peak_rss_bytes'] / 2**20:.0f} MiB")
print("phases (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in m["phases_ms"].items()))
print("requests: " + ", ".join(f"{s} {op} {n}" for (s, op), n in sorted(req.items())))
print(f"DynamoDB items: mean {m['dynamodb_item_bytes'] / max(1, m['dynamodb_items_written']):.0f} bytes, largest {m['dynamodb_largest_item_bytes']} bytes")
if "retry" in m:
    r = m["retry"]
    print(f"the same event again (a redelivery): {r['handler_wall_s']:.2f} s wall, {r['handler_cpu_s']:.2f} s CPU; "
          f"{r['dynamodb_items_written']:,} items ({r['dynamodb_write_units']:,} write units) written; requests: "
          + ", ".join(f"{x['service']} {x['operation']} {x['requests']}" for x in r["requests"]))
print()
print("| per GB of input (10^9 bytes) | counted | USD |")
print("|---|---|---|")
for name, what, cost in rows:
    print(f"| {name} | {what} | {'' if cost is None else f'{cost:.4f}'} |")
print(f"| **total** (Lambda at the moto wall time) | | **{total:.4f}** |")
print(f"| DynamoDB storage of the items written | {per_gb(m['dynamodb_item_bytes']) / 1e9:.3f} GB | {storage:.4f} per month |")
print(f"| the seed's estimate (5 GB run: $10.50) | | {10.50 / 5:.4f} |")
print()
need = 10e9 / 900 / 1e6
for label, secs in (("moto wall", wall), ("CPU floor", cpu)):
    t10 = 10e9 / m["input_bytes"] * secs
    print(f"10 GB at the {label} rate: 10,000 MB / {mb / secs:.2f} MB/s = {t10:,.0f} s "
          f"({'inside' if t10 <= 900 else 'over'} 900 s; needs {need:.1f} MB/s)")
if "fanned_out" in m:
    f = m["fanned_out"]
    shards = f["per_shard"]
    print()
    print(f"fanned out into {f['shards']} shard invocations (each reads the whole object, analyses and stores its substations):")
    for i, s in enumerate(shards):
        print(f"  shard {i}: {s['substations']} substations, {s['rollups']:,} rollups, {s['wall_s']:.2f} s wall, {s['cpu_s']:.2f} s CPU, "
              f"{s['requests']:,} requests, {s['dynamodb_items_written']:,} items")
    cpus = [s["cpu_s"] for s in shards]
    walls = [s["wall_s"] for s in shards]
    print(f"  slowest shard {max(walls):.2f} s wall, {max(cpus):.2f} s CPU; all shards {sum(cpus):.2f} s CPU (one pass: {cpu:.2f} s)")
    # A shard's CPU = reading the whole object (the engine on one shard, measured alone) + its
    # share of the analysis and the writes (what remains, per MB of its share).
    read_per_mb = f["shard_engine_alone_s"] / mb
    share_mb = mb / f["shards"]
    store_per_mb = max(0.0, (sum(cpus) / f["shards"] - f["shard_engine_alone_s"]) / share_mb)
    shard_mb = float(os.environ.get("SHARD_MB", "128"))  # the handler's DEFAULT_SHARD_MB
    n10 = math.ceil(10_000 / shard_mb)
    t_read, t_store = 10_000 * read_per_mb, shard_mb * store_per_mb
    print(f"  reading the object for one shard: {mb / f['shard_engine_alone_s']:.0f} MB/s of CPU; a shard's own share: {store_per_mb:.2f} s of CPU per MB")
    print(f"10 GB at SHARD_MB={shard_mb}: {n10} shards, each {t_read:.0f} s reading + {t_store:.0f} s storing = {t_read + t_store:.0f} s of CPU "
          f"({'inside' if t_read + t_store <= 900 else 'over'} 900 s at one vCPU; S3's download rate not counted)")
EOF
