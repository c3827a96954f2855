#!/usr/bin/env bash
# Peak resident memory of the release server while eight 1 MiB batch bodies of `{}`
# arrive at once (the attack of issue 7, case 4). From the repository root:
#
#     bash bench/batch_rss.sh
#
# Prints the server's VmHWM (peak RSS) before and after, and the status of each reply.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
ADDR=127.0.0.1:18090
WORK=$(mktemp -d)
trap 'kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release --quiet -p supportdesk --bin supportdesk
python3 - "$WORK/batch.json" <<'PY'
import sys
body = "[" + "{}," * ((1024 * 1024 - 2) // 3 - 1) + "{}]"
open(sys.argv[1], "w").write(body)
PY

DATABASE_URL="sqlite://$WORK/bench.db?mode=rwc" LISTEN_ADDR=$ADDR RUST_LOG=warn \
    JWT_SECRET=supportdesk-bench-secret-not-for-production \
    "$TARGET_DIR/release/supportdesk" serve &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -sf "http://$ADDR/readyz" >/dev/null && break
    sleep 0.1
done

peak() { awk '/VmHWM/ { print $2 / 1024 " MiB" }' "/proc/$SERVER_PID/status"; }
echo "body: $(stat -c %s "$WORK/batch.json") bytes"
echo "peak RSS before: $(peak)"
for _ in $(seq 1 8); do
    curl -s -o /dev/null -w '%{http_code}\n' "http://$ADDR/graphql" \
        -H 'Content-Type: application/json' --data-binary "@$WORK/batch.json" &
done
wait $(jobs -p | grep -v "^$SERVER_PID$") 2>/dev/null || true
sleep 0.5
echo "peak RSS after eight concurrent bodies: $(peak)"
