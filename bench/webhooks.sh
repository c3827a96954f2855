#!/usr/bin/env bash
# Webhook delivery on PostgreSQL, with the release server. One command, from the
# repository root:
#
#     bash bench/webhooks.sh
#
# One webhook for every event, pointing at bench/src/bin/webhook_sink.rs (204 at once).
# 1. Live: createTicket (W5) from wrk, 32 connections, DURATION seconds, the receiver up;
#    how fast deliveries came meanwhile, and how long after the writes the last one came.
# 2. Drain: the receiver stopped (SIGSTOP: it accepts connections but answers nothing, so
#    the webhook's four attempts in flight wait, within WEBHOOK_TIMEOUT_SECONDS = 30, and
#    the rest stay PENDING) while W5 writes for DURATION seconds; then resumed (SIGCONT).
#    The rate is the backlog delivered over the time from the resumption to the last
#    delivery: what one receiver gets at the per-webhook cap of 4 attempts in flight.
# 3. Memory with a backlog: the receiver gone (connections refused), W5 again until
#    BACKLOG events are owed to it, in rounds of BACKLOG_ROUND seconds; after each round
#    (and a pause for the server to settle) the PENDING deliveries and the server's
#    resident memory (VmRSS). Then IDLE seconds more of the worker retrying the backlog.
#
# Settings (environment): DURATION (10), BACKLOG (100000), BACKLOG_ROUND (15), IDLE (30),
# PG_URL (postgres://postgres@127.0.0.1:5432), CARGO_TARGET_DIR (./target). Everything is
# kept in bench/results/webhooks-<date-time>/.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
BACKLOG=${BACKLOG:-100000}
BACKLOG_ROUND=${BACKLOG_ROUND:-15}
IDLE=${IDLE:-30}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
SERVER=$TARGET_DIR/release/supportdesk
SINK=$TARGET_DIR/release/webhook_sink
SERVER_ADDR=127.0.0.1:18191
SINK_ADDR=127.0.0.1:18190
DATABASE=supportdesk_webhooks_bench
OUT=bench/results/webhooks-$(date +%Y%m%d-%H%M%S)

# shellcheck source=bench/lib.sh
source bench/lib.sh

pids=()
trap 'stop "${pids[@]}"' EXIT
mkdir -p "$OUT"

say "building the release server and the receiver"
cargo build --release --quiet -p supportdesk --bins
cargo build --release --quiet -p supportdesk-bench --bin webhook_sink

psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" \
    -c "CREATE DATABASE $DATABASE"
sql() { psql -X -q -A -t "$PG_URL/$DATABASE" -c "$1"; }
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

"$SINK" "$SINK_ADDR" &
sink=$!
pids+=("$sink")
DATABASE_URL=$PG_URL/$DATABASE LISTEN_ADDR=$SERVER_ADDR \
    WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOW_PRIVATE_NETWORKS=true WEBHOOK_TIMEOUT_SECONDS=30 \
    "$SERVER" serve >"$OUT/server.log" 2>&1 &
server=$!
pids+=("$server")
wait_for "$SINK_ADDR"
wait_for "$SERVER_ADDR"
for _ in $(seq 1 100); do
    curl -sf "http://$SERVER_ADDR/readyz" >/dev/null && break
    sleep 0.1
done

admin=$(token bench-admin admin)
writer=$(token bench-writer customer)
graphql "$admin" "mutation { createWebhook(input: { url: \"http://$SINK_ADDR/hooks\" }) { webhook { id } } }" >/dev/null
say "RSS with one webhook, before any event: $(rss "$server") MiB"

sink_stats() { curl -s "http://$SINK_ADDR/stats"; }
events() { sql "SELECT count(*) FROM ticket_events"; }
# Waits until the receiver has every event of the timeline; prints its stats.
all_delivered() {
    local events
    events=$(events)
    until [ "$(sink_stats | jq .distinct)" -ge "$events" ]; do sleep 0.1; done
    sink_stats
}

say "1. live: W5 for ${DURATION}s, every event delivered to the receiver"
line=$(TOKEN=$writer BODY=$(body_of "$W5") wrk_run "http://$SERVER_ADDR/graphql" 32 "$DURATION")
written_ms=$(now_ms)
say "W5: $line"
stats=$(all_delivered)
read -r requests distinct first last < <(jq -r '"\(.requests) \(.distinct) \(.first_ms) \(.last_ms)"' <<<"$stats")
live_rate=$(awk -v n="$distinct" -v ms="$((last - first))" 'BEGIN { printf "%.0f", n * 1000 / ms }')
behind=$(awk -v ms="$((last - written_ms))" 'BEGIN { printf "%.1f", ms / 1000 }')
say "delivered $distinct events in $requests requests, $live_rate/s; the last ${behind}s after the writes stopped"

say "2. drain: the receiver stopped while W5 writes for ${DURATION}s, then resumed"
kill -STOP "$sink"
before=$distinct
line2=$(TOKEN=$writer BODY=$(body_of "$W5") wrk_run "http://$SERVER_ADDR/graphql" 32 "$DURATION")
say "W5: $line2"
# Every event owed before the receiver comes back.
until [ "$(sql "SELECT count(*) FROM webhook_deliveries")" -ge "$(events)" ]; do sleep 0.1; done
backlog=$(($(events) - before))
resumed_ms=$(now_ms)
kill -CONT "$sink"
stats=$(all_delivered)
read -r requests2 _ _ last2 < <(jq -r '"\(.requests) \(.distinct) \(.first_ms) \(.last_ms)"' <<<"$stats")
drain_rate=$(awk -v n="$backlog" -v ms="$((last2 - resumed_ms))" 'BEGIN { printf "%.0f", n * 1000 / ms }')
drain_s=$(awk -v ms="$((last2 - resumed_ms))" 'BEGIN { printf "%.1f", ms / 1000 }')
say "a backlog of $backlog delivered in ${drain_s}s: $drain_rate deliveries/s ($((requests2 - requests)) requests)"
printf 'phase\tevents\tdeliveries_per_s\tseconds\twrites\n' >"$OUT/throughput.tsv"
printf 'live\t%s\t%s\t%s\t%s\n' "$distinct" "$live_rate" "$behind" "$line" >>"$OUT/throughput.tsv"
printf 'drain\t%s\t%s\t%s\t%s\n' "$backlog" "$drain_rate" "$drain_s" "$line2" >>"$OUT/throughput.tsv"

say "3. the receiver gone while $BACKLOG events are written"
stop "$sink"
printf 'pending\tevents_owed\trss_mib\n' >"$OUT/backlog.tsv"
sample() {
    sleep 3
    local pending owed
    pending=$(sql "SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING'")
    owed=$(sql "SELECT count(*) FROM webhook_deliveries WHERE status <> 'SUCCEEDED'")
    printf '%s\t%s\t%s\n' "$pending" "$owed" "$(rss "$server")" | tee -a "$OUT/backlog.tsv" >&2
}
sample
while [ "$(sql "SELECT count(*) FROM webhook_deliveries WHERE status <> 'SUCCEEDED'")" -lt "$BACKLOG" ]; do
    TOKEN=$writer BODY=$(body_of "$W5") wrk_run "http://$SERVER_ADDR/graphql" 32 "$BACKLOG_ROUND" >/dev/null
    sample
done
say "idle ${IDLE}s: the worker retries the backlog"
for _ in $(seq 1 $((IDLE / 5))); do
    sleep 2
    sample
done
attempts=$(sql "SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.status <> 'SUCCEEDED'")
say "failed attempts recorded for the backlog: $attempts; peak RSS $(peak_rss "$server") MiB"
echo "$attempts" >"$OUT/backlog-attempts.txt"
peak_rss "$server" >"$OUT/peak-rss.txt"
