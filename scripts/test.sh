#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs (Python venv with
# moto's server and cargo-lambda, tmux for the terminal end-to-end test), starts the
# AWS emulators on 127.0.0.1 with free ports, runs every test, and stops exactly the
# processes it started.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -- NAME    # extra arguments go to `cargo test`
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${GRIDWATCH_VENV:-$ROOT/.venv}"
LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/gridwatch-test.XXXXXX")"
PIDS=()

log() { printf '[test.sh] %s\n' "$*" >&2; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------
ensure_python_tools() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  # Athena speaks JSON 1.1 in the Rust SDK (aws-sdk-athena 1.128) and REST JSON in botocore
  # from 1.44.18 on; moto 5.2 serves only the latter, 5.1 only the former (both seen on
  # 6 Dec 2026: tests/aws_report.rs against 5.2.6, tests/deploy's boto3 check against 5.1.22
  # with botocore 1.44.18). So moto 5.1 and a botocore before the switch.
  if ! "$VENV/bin/python" -c 'import moto, botocore, flask, flask_cors, pytest, sys
sys.exit(not (moto.__version__.startswith("5.1.") and tuple(map(int, botocore.__version__.split(".")[:3])) < (1, 44, 18)))' 2>/dev/null \
     || [ ! -x "$VENV/bin/cargo-lambda" ] || [ ! -x "$VENV/bin/cfn-lint" ] || [ ! -x "$VENV/bin/aws" ]; then
    log "installing moto[server], cargo-lambda, cfn-lint, pytest, awscli into $VENV"
    "$VENV/bin/pip" install --quiet 'moto[server]>=5.1,<5.2' 'botocore<1.44.18' 'boto3<1.44.18' 'cargo-lambda>=1.8,<2' 'cfn-lint>=1,<2' \
      'pytest>=8,<9' 'awscli>=1.32,<2'
  fi
  export PATH="$VENV/bin:$PATH"
}

ensure_tmux() {
  command -v tmux >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing tmux (terminal end-to-end test)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux) >"$LOGDIR/apt.log" 2>&1 \
      || log "could not install tmux (see $LOGDIR/apt.log); the terminal e2e test will say so"
  else
    log "tmux not found and cannot be installed here; the terminal e2e test will say so"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_tcp() { # host port seconds
  local deadline=$((SECONDS + $3))
  until python3 -c "import socket,sys; socket.create_connection(('$1',$2),0.5).close()" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.2
  done
}

# --- servers -----------------------------------------------------------------
start_moto() {
  local port
  port="$(free_port)"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$LOGDIR/moto.log" 2>&1 &
  PIDS+=($!)
  local deadline=$((SECONDS + 60))
  until curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then log "moto did not start:"; cat "$LOGDIR/moto.log" >&2; exit 1; fi
    sleep 0.2
  done
  export GRIDWATCH_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
  log "moto server on $GRIDWATCH_TEST_AWS_ENDPOINT"
}

start_cargo_lambda() {
  if [ ! -d lambda ]; then return 0; fi
  # Build first: `cargo lambda watch` would otherwise compile on the first request.
  cargo build -p gridwatch-lambda >&2
  # The Lambda compiles the analysis and the AWS store only: no simulator, CLI, SQLite or
  # terminal code (the library's features keep them out; this checks the binary itself).
  local bin="${CARGO_TARGET_DIR:-target}/debug/gridwatch-lambda"
  if command -v nm >/dev/null 2>&1 && [ -x "$bin" ]; then
    if nm -C "$bin" | grep -qE 'gridwatch::(simulator|tui|cli|local|report)::'; then
      log "the Lambda binary contains simulator, CLI, local-backend or dashboard code:"
      nm -C "$bin" | grep -E 'gridwatch::(simulator|tui|cli|local|report)::' | head -5 >&2
      exit 1
    fi
    log "Lambda binary: no simulator, CLI, local-backend or dashboard symbols"
  fi
  # The function's environment: moto for every AWS service, and fixed resource names that
  # tests/aws_lambda.rs creates (the function's environment is set once, at start).
  export GRIDWATCH_TEST_LAMBDA_FUNCTION=gridwatch-lambda
  export GRIDWATCH_TEST_LAMBDA_TABLE=gw-lambda-table
  export GRIDWATCH_TEST_LAMBDA_BUCKET=gw-lambda-bucket
  export GRIDWATCH_TEST_LAMBDA_TOPIC=gw-lambda-alerts
  local topic_arn="arn:aws:sns:us-east-1:123456789012:$GRIDWATCH_TEST_LAMBDA_TOPIC"
  local fn_env="AWS_ENDPOINT_URL=$GRIDWATCH_TEST_AWS_ENDPOINT,AWS_ACCESS_KEY_ID=test,AWS_SECRET_ACCESS_KEY=test"
  fn_env="$fn_env,AWS_REGION=us-east-1,AWS_EC2_METADATA_DISABLED=true,RUST_LOG=info"
  fn_env="$fn_env,TABLE_NAME=$GRIDWATCH_TEST_LAMBDA_TABLE,ALERT_TOPIC_ARN=$topic_arn"
  local port
  port="$(free_port)"
  (cd lambda && exec cargo lambda watch -A 127.0.0.1 -P "$port" --ignore-changes --env-var "$fn_env") \
    >"$LOGDIR/cargo-lambda.log" 2>&1 &
  PIDS+=($!)
  if ! wait_tcp 127.0.0.1 "$port" 120; then log "cargo lambda watch did not start:"; cat "$LOGDIR/cargo-lambda.log" >&2; exit 1; fi
  export GRIDWATCH_TEST_LAMBDA_ENDPOINT="http://127.0.0.1:$port"
  # The function's stdout (its JSON log lines): the log-tail test ships them to CloudWatch Logs.
  export GRIDWATCH_TEST_LAMBDA_LOG="$LOGDIR/cargo-lambda.log"
  # Warm-up: the first invocation starts the function process (`cargo run`, which must not
  # wait for the build lock that `cargo test` holds). Its response carries the init time.
  export GRIDWATCH_TEST_LAMBDA_WARMUP="$LOGDIR/lambda-warmup.txt"
  local started ended body
  started=$(date +%s.%N)
  body=$(curl -sS --max-time 300 -X POST \
    "$GRIDWATCH_TEST_LAMBDA_ENDPOINT/2015-03-31/functions/$GRIDWATCH_TEST_LAMBDA_FUNCTION/invocations" \
    -d '{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"warm-up"},"object":{"key":"warm-up/ignored"}}}]}') \
    || { log "the warm-up invocation failed:"; cat "$LOGDIR/cargo-lambda.log" >&2; exit 1; }
  ended=$(date +%s.%N)
  printf '%s %s' "$(python3 -c "print(f'{$ended - $started:.2f}')")" "$body" >"$GRIDWATCH_TEST_LAMBDA_WARMUP"
  log "cargo lambda watch on $GRIDWATCH_TEST_LAMBDA_ENDPOINT (first invocation: $(cut -c1-200 "$GRIDWATCH_TEST_LAMBDA_WARMUP"))"
}

# --- run ---------------------------------------------------------------------
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL 2>/dev/null || true
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A one-off build has no use for incremental state (1.6 GB of target/ in a fresh run).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

ensure_python_tools
ensure_tmux
log "building"
cargo build --workspace --all-features --all-targets >&2
start_moto
start_cargo_lambda
if [ "${1:-}" = "--" ]; then shift; fi
log "running tests (server logs in $LOGDIR)"
cargo test --workspace --all-features "$@"
# The deployment: cfn-lint, assets/template.yaml deployed into moto's CloudFormation, its
# IAM policies, and every tested command of setup_guide.md (tests/deploy/). No arguments
# are passed on, so pytest always collects these tests (exit code 5 cannot happen).
log "deployment tests (tests/deploy/)"
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/deploy/
