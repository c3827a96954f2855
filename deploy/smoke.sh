#!/usr/bin/env bash
# deploy/haproxy.cfg against the real thing: two instances on one PostgreSQL database
# behind HAProxy (2.6, Debian's package), all on this machine. It checks the file
# (`haproxy -c`), sends a query and a subscription through the balancer, then drains one
# instance with SIGTERM while a loop of requests (queries and mutations, each on a new
# connection) runs through HAProxy, and prints what happened: when HAProxy marked the
# instance down, how the instance exited, how the subscriber's socket ended, and how
# many requests failed. It exits non-zero if any request failed.
#
#   bash deploy/smoke.sh
#
# PG_URL (postgres://postgres@127.0.0.1:5432) is a server where a database of its own is
# created and dropped; SUPPORTDESK_BIN the binary (the debug build by default); the
# ports are 18080 (the balancer), 18081 and 18082 (the instances); CLIENTS (8) loops send
# requests during the drain. Settings of the server (SHUTDOWN_DRAIN_SECONDS=0, say) pass
# through to the instances. Needs curl, node (20+, for its WebSocket) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${SUPPORTDESK_BIN:-${CARGO_TARGET_DIR:-target}/debug/supportdesk}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
DB="supportdesk_smoke_$$"
LB=127.0.0.1:18080
# Clients sending requests one after another during the drain.
CLIENTS="${CLIENTS:-8}"
APPS=(127.0.0.1:18081 127.0.0.1:18082)
WORK="$(mktemp -d)"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    if [ -n "${KEEP_WORK:-}" ]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

haproxy -c -f deploy/haproxy.cfg
psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB"

export DATABASE_URL="$PG_URL/$DB" JWT_SECRET
JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# HAProxy connects to the instances from 127.0.0.1. The smoke's loop mutates far faster
# than one user may.
export TRUSTED_PROXIES=127.0.0.1 MUTATION_RATE_LIMIT_BURST=100000 LOG_FORMAT=json

start_instance() { # index
    LISTEN_ADDR="${APPS[$1]}" "$BIN" serve >>"$WORK/app$1.log" 2>&1 &
    app_pid[$1]=$!
    pids+=("$!")
    for _ in $(seq 1 200); do
        curl -sf "http://${APPS[$1]}/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "instance $1 is not ready:" >&2
    cat "$WORK/app$1.log" >&2
    return 1
}
declare -a app_pid
start_instance 0
start_instance 1

# Two instances: the example's third `server` line goes, the others point at them.
grep -v 'server app3' deploy/haproxy.cfg >"$WORK/haproxy.cfg"
SUPPORTDESK_LB_BIND="$LB" SUPPORTDESK_APP1="${APPS[0]}" SUPPORTDESK_APP2="${APPS[1]}" \
    haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 50); do curl -sf "http://$LB/readyz" >/dev/null && break; sleep 0.1; done

TOKEN="$("$BIN" token --sub alice --role customer)"
graphql() { # body, then curl's own options
    local body="$1"
    shift
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "$body" "$@" "http://$LB/graphql"
}

echo "== a query through the balancer"
graphql '{"query":"{ me { id role } }"}'
echo

echo "== a forged X-Forwarded-For, from 127.0.0.2 (not a trusted proxy)"
graphql '{"query":"{ __typename }"}' --interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.9' \
    -H 'X-Request-Id: smoke-forged' -o /dev/null
sleep 0.3
grep -h '"id":"smoke-forged"' "$WORK"/app*.log | grep 'finished processing request' |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const e=JSON.parse(s).span;
      console.log(`logged: client.address=${e["client.address"]} network.peer.address=${e["network.peer.address"]}`)})'

echo "== a subscription through the balancer (ticketFeed), then a ticket opened"
cat >"$WORK/subscriber.js" <<'EOF'
// Subscribes to ticketFeed, prints each event, and how the socket ends.
const [url, token] = process.argv.slice(2);
const socket = new WebSocket(url, "graphql-transport-ws");
socket.onopen = () =>
  socket.send(JSON.stringify({ type: "connection_init", payload: { Authorization: `Bearer ${token}` } }));
socket.onmessage = ({ data }) => {
  const message = JSON.parse(data);
  if (message.type === "connection_ack") {
    socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: "subscription { ticketFeed { id kind ticketId } }" } }));
    console.log("subscribed");
  } else if (message.type === "next") {
    console.log("event", JSON.stringify(message.payload.data.ticketFeed));
  }
};
socket.onclose = ({ code }) => { console.log("closed", code); process.exit(0); };
EOF
node --experimental-websocket --no-warnings "$WORK/subscriber.js" "ws://$LB/graphql" "$TOKEN" \
    >"$WORK/subscriber.log" 2>&1 &
subscriber=$!
pids+=("$subscriber")
for _ in $(seq 1 50); do grep -q subscribed "$WORK/subscriber.log" && break; sleep 0.1; done
MUTATION='{"query":"mutation { createTicket(input: { subject: \"Smoke\", message: \"Through HAProxy\" }) { id } }"}'
graphql "$MUTATION"
echo
for _ in $(seq 1 50); do grep -q event "$WORK/subscriber.log" && break; sleep 0.1; done
cat "$WORK/subscriber.log"
# Which instance holds the socket: the one whose log has the upgrade (101).
socket_on=$(grep -l '"status":101' "$WORK"/app*.log | head -n 1 | sed 's/.*app\([0-9]\).*/\1/')
echo "the socket is on instance $socket_on"

echo "== draining instance $socket_on (SIGTERM) under $CLIENTS loops of requests, each on a new connection"
loop() { # index
    local n=0 body
    while [ ! -f "$WORK/stop" ]; do
        n=$((n + 1))
        if [ $((n % 5)) -eq 0 ]; then body="$MUTATION"; else body='{"query":"{ me { id } }"}'; fi
        graphql "$body" -o /dev/null -w '%{http_code}\n' >>"$WORK/codes$1" ||
            echo "curl-error" >>"$WORK/codes$1"
    done
}
loops=()
for index in $(seq 1 "$CLIENTS"); do
    loop "$index" &
    loops+=("$!")
    pids+=("$!")
done
sleep 2
term_at=$(date +%s.%N)
kill -TERM "${app_pid[$socket_on]}"
status=0
wait "${app_pid[$socket_on]}" || status=$?
exited_at=$(date +%s.%N)
# Long enough for HAProxy to see a closed port too (2 checks), when there was no drain.
sleep 2.5
touch "$WORK/stop"
wait "${loops[@]}" || true
cat "$WORK"/codes* >"$WORK/codes"

since_term() { awk -v t="$1" -v t0="$term_at" 'BEGIN { printf "%.2f s", t - t0 }'; }
echo "SIGTERM at 0 s; the instance exited with status $status at $(since_term "$exited_at")"
# The log's own line (`format iso`: its date first), not the one -db also prints.
down_line=$(grep -m1 "^[0-9-]*T.*/app$((socket_on + 1)) is DOWN" "$WORK/haproxy.log" || true)
if [ -n "$down_line" ]; then
    echo "HAProxy marked it down at $(since_term "$(date -d "${down_line%% *}" +%s.%N)"): ${down_line#* }"
else
    echo "HAProxy never marked it down"
fi
grep -h '"message":"draining\|"message":"shutting down\|"message":"stopped' "$WORK/app$socket_on.log" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for (const l of s.trim().split("\n")) {const e=JSON.parse(l); console.log(`instance: ${e.timestamp} ${e.message}`)}})'
echo "subscriber: $(tail -n 1 "$WORK/subscriber.log")"
total=$(wc -l <"$WORK/codes")
failed=$(grep -vc '^200$' "$WORK/codes" || true)
# httplog's fifth connection count is the request's retries, `+` when redispatched.
retried=$(grep -cE ' [-A-Za-z]{4} [0-9]+/[0-9]+/[0-9]+/[0-9]+/\+?[1-9][0-9]* ' "$WORK/haproxy.log" || true)
echo "requests: $total, failed: $failed, retried by HAProxy: $retried"
if [ "$failed" -ne 0 ]; then
    echo "failures (count, status): $(grep -v '^200$' "$WORK/codes" | sort | uniq -c | tr -s ' \n' ' ')"
    grep -vE ' 200 [0-9]+ ' "$WORK/haproxy.log" | grep -E '"(GET|POST) /graphql' || true
fi
[ "$failed" -eq 0 ]
