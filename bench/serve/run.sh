#!/bin/sh
# Load test of edgestack-serve on loopback with wrk (Debian package wrk): the int8
# Fashion-MNIST engine that examples/closed_loop registers, batch 1 per request.
#   bench/serve/run.sh BUILD_DIR [DURATION_S=10] [MAX_REQUESTS=200000] [CONNECTIONS=8]
# LOOP_TRAIN and LOOP_EPOCHS (default 6000, 2) size the training that makes the model.
# Run 1: steady load. Run 2: the same load while the serving version is switched between
# v1 and v2 every 0.5 s (hot reload); the target is 0 failed requests in both.
set -eu
BUILD=${1:?build dir}
DURATION=${2:-10}
MAX=${3:-200000}
CONNS=${4:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
PORT=${PORT:-18080}
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BUILD/examples/closed_loop/closed_loop" --workdir "$WORK/loop" --train "${LOOP_TRAIN:-6000}" --epochs "${LOOP_EPOCHS:-2}" > "$WORK/loop.log"
REG="$WORK/loop/registry"
"$BUILD/bench/serve/registry_tool" "$REG" list fashion

# One test image as a KServe v2 request body.
python3 - "$WORK/infer.json" <<'PY'
import gzip, json, sys
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    raw = f.read()
img = [b / 255.0 for b in raw[16:16 + 784]]
json.dump({"inputs": [{"name": "input", "shape": [1, 28, 28, 1], "datatype": "FP32",
                       "data": [round(v, 4) for v in img]}]}, open(sys.argv[1], "w"))
PY

"$BUILD/examples/serve/edgestack-serve" --registry "$REG" --model fashion --port "$PORT" \
    --threads 2 --reload-ms 100 > "$WORK/server.log" 2>&1 &
SERVER=$!
for i in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/v2/health/ready" > /dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/v2/models/fashion"; echo

export BODY_FILE="$WORK/infer.json" MAX_REQUESTS="$MAX" WRK_THREADS=2
echo "== steady load: wrk -t2 -c$CONNS -d${DURATION}s (at most $MAX requests)"
wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$HERE/infer.lua" \
    "http://127.0.0.1:$PORT/v2/models/fashion/infer" | grep RESULT

echo "== load with a version switch every 0.5 s"
wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$HERE/infer.lua" \
    "http://127.0.0.1:$PORT/v2/models/fashion/infer" > "$WORK/wrk2.log" &
WRK=$!
V=1
SWITCHES=0
while kill -0 $WRK 2>/dev/null; do
  sleep 0.5
  "$BUILD/bench/serve/registry_tool" "$REG" promote fashion $V 2>/dev/null && SWITCHES=$((SWITCHES + 1))
  V=$((3 - V))
done
wait $WRK || true
grep RESULT "$WORK/wrk2.log"
echo "version switches: $SWITCHES"
curl -sf "http://127.0.0.1:$PORT/metrics" | grep -E '^edgestack_(reloads_total|reload_failures_total|http_responses_total|model_errors_total)'
kill -TERM $SERVER
wait $SERVER || true
