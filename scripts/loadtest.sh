#!/usr/bin/env bash
# Load test of ttc serve on loopback (make loadtest calls it).
#   scripts/loadtest.sh BUILD_DIR
# Serves the bundled generator (models/generator.gguf; a random-weight
# tiny-qwen2 when it is missing) and drives it with bench/loadgen:
#   1. CLIENTS (32) concurrent clients for DURATION (60) s: requests/s,
#      p50/p99 latency, failures by reason;
#   2. aggregate throughput with 1 client vs 16 clients (SCALE_SECONDS, 20 s
#      each), which shows what batching concurrent requests buys;
#   3. with a verifier (PRM, default models/prm.gguf; PRM= to skip):
#      strategy requests (bon-weighted, budget 4) from 16 clients for
#      STRATEGY_SECONDS (20) s, and the verifier's batching from /metrics
#      (most requests scored in one decode step).
# Every request loop is bounded in time and the server is always stopped.
set -euo pipefail
BUILD=${1:-build}
CLIENTS=${CLIENTS:-32}
DURATION=${DURATION:-60}
SCALE_SECONDS=${SCALE_SECONDS:-20}
THREADS=${THREADS:-2}
MAX_TOKENS=${MAX_TOKENS:-32}
PRM=${PRM-models/prm.gguf}
STRATEGY_SECONDS=${STRATEGY_SECONDS:-20}
make -s "$BUILD/bench/loadgen" >/dev/null
tmp=$(mktemp -d /tmp/ttc-loadtest-XXXXXX)
srv_pid=""
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

model=models/generator.gguf
if [ ! -f "$model" ]; then
  model="$tmp/tiny.gguf"
  shared=${TTC_SHARED:-../shared}
  echo "loadtest: models/generator.gguf missing; using a random tiny-qwen2"
  "$BUILD/ttc" gguf random --shape tiny-qwen2 --vocab "$shared/vocab/ggml-vocab-qwen2.gguf" --type q8_0 -o "$model" >/dev/null
fi

prm_args=()
[ -n "$PRM" ] && [ -f "$PRM" ] && prm_args=(--prm "$PRM")
"$BUILD/ttc" serve -m "$model" "${prm_args[@]}" --port 0 -t "$THREADS" --parallel 64 --queue 256 2>"$tmp/serve.log" &
srv_pid=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/serve.log")
  [ -n "$port" ] && break
  kill -0 "$srv_pid" 2>/dev/null || { cat "$tmp/serve.log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "loadtest: server did not start"; cat "$tmp/serve.log"; exit 1; }
url="http://127.0.0.1:$port/v1/completions"
body="{\"prompt\":\"Problem: What is 12 + 30?\\nSolution:\\n\",\"max_tokens\":$MAX_TOKENS,\"temperature\":0.8}"
echo "loadtest: $model ${prm_args[*]} on port $port, max_tokens $MAX_TOKENS, $THREADS threads"

echo "== $CLIENTS clients for ${DURATION}s"
"$BUILD/bench/loadgen" --url "$url" --clients "$CLIENTS" --seconds "$DURATION" --body "$body" | tee "$tmp/main.json"

echo "== throughput: 1 client vs 16 clients, ${SCALE_SECONDS}s each"
one=$("$BUILD/bench/loadgen" --url "$url" --clients 1 --seconds "$SCALE_SECONDS" --body "$body")
sixteen=$("$BUILD/bench/loadgen" --url "$url" --clients 16 --seconds "$SCALE_SECONDS" --body "$body")
echo "1 client:   $one"
echo "16 clients: $sixteen"
tps() { echo "$1" | sed -n 's/.*"completion_tokens_per_s":\([0-9.]*\).*/\1/p'; }
awk -v a="$(tps "$one")" -v b="$(tps "$sixteen")" 'BEGIN { if (a > 0) printf "aggregate tokens/s: 16 clients / 1 client = %.2fx\n", b / a }'
if [ ${#prm_args[@]} -gt 0 ] && [ "$STRATEGY_SECONDS" -gt 0 ]; then
  sbody="{\"prompt\":\"What is 12 + 30?\",\"max_tokens\":$MAX_TOKENS,\"ttc\":{\"strategy\":\"bon-weighted\",\"budget\":4}}"
  echo "== strategy requests (bon-weighted, budget 4, verifier $PRM): 16 clients for ${STRATEGY_SECONDS}s"
  "$BUILD/bench/loadgen" --url "$url" --clients 16 --seconds "$STRATEGY_SECONDS" --body "$sbody"
fi
curl -s "http://127.0.0.1:$port/metrics" |
  grep -E '^ttc_(requests_total|completion_tokens_total|client_disconnects_total|decode_steps_total|verifier_sc|batch_requests_max)' || true
