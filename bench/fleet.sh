#!/usr/bin/env bash
# A fleet behind a load balancer (issue 17): PostgreSQL, Redis, HAProxy with
# deploy/haproxy.cfg and three instances on this machine. One command, from the
# repository root:
#
#     bash bench/fleet.sh              # release build, about 3 minutes
#     SHORT=1 bash bench/fleet.sh      # steps 1 and 3, shorter (what .ci/run runs)
#
# While a load client (bench/src/bin/fleet.rs `load`: three list reads, then one
# createTicket with an Idempotency-Key, CONNECTIONS workers) and SUBSCRIBERS admin feeds
# (`subscribe`, each reconnecting with `after` its last event) go through HAProxy, it
#   1. restarts the three instances one after another (SIGTERM, wait for the exit, start,
#      wait for /readyz): every request must succeed, every instance exit 0, and every
#      subscriber must have received every event written since it started, each once;
#   2. kills one instance with SIGKILL mid-load: reports the requests failed against those
#      HAProxy had in flight on it just before (its stats, `scur`), sends the failed
#      writes again with their keys, and checks that every write meant exists exactly
#      once and that the subscribers missed nothing;
#   3. sends one user's mutations to the three instances at once, with the bucket in
#      Redis and without: accepted must stay within one bucket's burst plus its refill
#      with Redis, against up to three buckets' worth without.
# Exits non-zero when a check fails. Prints a Markdown summary; everything is kept in
# bench/results/fleet-<date-time>/ (the clients' files, the instances' and HAProxy's logs).
#
# Settings (environment): SHORT, CONNECTIONS (16), SUBSCRIBERS (20), PG_URL
# (postgres://postgres@127.0.0.1:5432), REDIS_URL (redis://127.0.0.1:6379),
# SUPPORTDESK_BIN and FLEET_BIN (the release builds; set both to skip the build),
# CARGO_TARGET_DIR (./target).
set -euo pipefail
cd "$(dirname "$0")/.."

SHORT=${SHORT:-}
export CONNECTIONS=${CONNECTIONS:-16}
export SUBSCRIBERS=${SUBSCRIBERS:-20}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
SERVER=${SUPPORTDESK_BIN:-$TARGET_DIR/release/supportdesk}
FLEET=${FLEET_BIN:-$TARGET_DIR/release/fleet}
OUT=$PWD/bench/results/fleet-$(date +%Y%m%d-%H%M%S)
DATABASE=supportdesk_fleet_$$
LB=127.0.0.1:28080
STATS=127.0.0.1:28404
APPS=(127.0.0.1:28081 127.0.0.1:28082 127.0.0.1:28083)
# The step-3 bucket: small, so that three buckets' worth is plain to see.
BURST=10
PER_SECOND=2

say() { echo "== $*" >&2; }
fail() {
    echo "FAILED: $*" >&2
    exit 1
}

if ! command -v haproxy >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        say "installing haproxy"
        apt-get install -y haproxy >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y haproxy >/dev/null; }
    else
        say "SKIPPED: haproxy is not installed and this is not root to install it"
        exit 0
    fi
fi
# Debian's package starts its own service on port 80: not ours to run.
service haproxy stop >/dev/null 2>&1 || true
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    say "SKIPPED: no Redis at 127.0.0.1:6379"
    exit 0
fi

if [ -z "${SUPPORTDESK_BIN:-}${FLEET_BIN:-}" ]; then
    say "building the release server and the fleet client"
    cargo build --release --quiet -p supportdesk -p supportdesk-bench --bin supportdesk --bin fleet
fi
mkdir -p "$OUT"

export DATABASE_URL=$PG_URL/$DATABASE
export JWT_SECRET=supportdesk-fleet-secret-not-for-production
export RUST_LOG=warn TRUSTED_PROXIES=127.0.0.1
export SUPPORTDESK_LB_BIND=$LB SUPPORTDESK_APP1=${APPS[0]} SUPPORTDESK_APP2=${APPS[1]} \
    SUPPORTDESK_APP3=${APPS[2]}

declare -a app_pid
haproxy_pid=''
cleanup() {
    for pid in "${app_pid[@]}" $haproxy_pid; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -X -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" \
        >/dev/null 2>&1 || true
}
trap cleanup EXIT

q() { psql -X -q -A -t "$DATABASE_URL" -c "$1"; }
token() { "$SERVER" token --sub "$1" --role "$2" --ttl 86400; }

wait_ready() { # address
    for _ in $(seq 1 300); do
        curl -sf "http://$1/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "nothing ready at $1"
}

start_instance() { # index, then extra settings as NAME=value
    local index=$1
    shift
    env "$@" LISTEN_ADDR="${APPS[$index]}" "$SERVER" serve >>"$OUT/app$index.log" 2>&1 &
    app_pid[index]=$!
    wait_ready "${APPS[$index]}"
}

# SIGTERM, and waits for the exit: its code in `exited` (not run in a subshell, which
# could not wait for the instance).
stop_instance() { # index
    exited=0
    kill -TERM "${app_pid[$1]}"
    wait "${app_pid[$1]}" || exited=$?
}

# HAProxy's count of requests in flight on an instance (`scur` of its server line).
in_flight_on() { # server name (app1…)
    curl -s "http://$STATS/stats;csv" |
        awk -F, -v name="$1" '$1 == "instances" && $2 == name { print $5 }'
}

# After the last event recorded so far: where the subscribers start.
last_event() { q "SELECT COALESCE((SELECT id::text FROM ticket_events ORDER BY id DESC LIMIT 1), '')"; }

result_of() { grep '^RESULT' "$1" | sed 's/^RESULT //'; }
field() { sed -nE "s/.*(^| )$2=([^ ]*).*/\\2/p" <<<"$1"; }

# Every key a load run meant to write, and how many tickets each opened.
writes_per_key() { # intended.txt
    psql -X -q -A -t -F' ' "$DATABASE_URL" <<SQL
CREATE TEMP TABLE intended (key text);
\copy intended FROM '$1'
SELECT COUNT(*) FILTER (WHERE n = 0), COUNT(*) FILTER (WHERE n = 1), COUNT(*) FILTER (WHERE n > 1)
FROM (SELECT i.key, COUNT(t.id) AS n FROM intended i
      LEFT JOIN tickets t ON t.subject = 'fleet ' || i.key GROUP BY i.key) AS counted;
SQL
}

# Starts the load and the subscribers of a step; `finish_step` stops them and checks.
begin_step() { # name
    local dir=$OUT/$1
    mkdir -p "$dir"
    rm -f "$dir/load.stop" "$dir/subscribe.stop"
    AFTER=$(last_event) WS_URL=ws://$LB/graphql TOKEN=$admin STOP_FILE=$dir/subscribe.stop \
        OUT_DIR=$dir/subscribers "$FLEET" subscribe >"$dir/subscribe.txt" 2>&1 &
    subscribe_pid=$!
    sleep 1
    URL=http://$LB/graphql READ_TOKEN=$reader WRITE_TOKEN=$writer STOP_FILE=$dir/load.stop \
        OUT_DIR=$dir/load "$FLEET" load >"$dir/load.txt" 2>&1 &
    load_pid=$!
}

stop_load() { # name
    touch "$OUT/$1/load.stop"
    wait "$load_pid" || fail "the load client of $1 failed: $(cat "$OUT/$1/load.txt")"
}

# The subscribers are given a moment to receive the last events, then compared with every
# event recorded since they started.
check_subscribers() { # name, the last event before the step
    local dir=$OUT/$1
    sleep 3
    touch "$dir/subscribe.stop"
    wait "$subscribe_pid" || fail "the subscribers of $1 failed: $(cat "$dir/subscribe.txt")"
    q "SELECT id FROM ticket_events WHERE id > COALESCE(NULLIF('$2', '')::uuid, '00000000-0000-0000-0000-000000000000') ORDER BY id" \
        >"$dir/expected.txt"
    EXPECTED=$dir/expected.txt OUT_DIR=$dir/subscribers "$FLEET" check >"$dir/check.txt"
}

psql -X -q "$PG_URL/postgres" -c "CREATE DATABASE $DATABASE"
"$SERVER" migrate 2>"$OUT/migrate.log"
haproxy -c -q -f deploy/haproxy.cfg -f bench/haproxy-stats.cfg
haproxy -db -f deploy/haproxy.cfg -f bench/haproxy-stats.cfg >"$OUT/haproxy.log" 2>&1 &
haproxy_pid=$!

admin=$(token fleet-admin admin)
reader=$(token fleet-reader customer)
writer=$(token fleet-writer customer)
# Steps 1 and 2 measure the fleet, not the limiter: a bucket far above the load's writes.
LOAD_SETTINGS=(RATE_LIMIT_REDIS_URL=$REDIS_URL MUTATION_RATE_LIMIT_BURST=1000000)
for index in 0 1 2; do start_instance "$index" "${LOAD_SETTINGS[@]}"; done
wait_ready "$LB"
sleep 2 # every instance up in HAProxy (rise 2 × inter 1 s)

# --- Step 1: a rolling restart ------------------------------------------------------
say "step 1: rolling restart of the three instances under load"
step1_after=$(last_event)
begin_step step1
sleep "$([ -n "$SHORT" ] && echo 2 || echo 5)"
exits=()
for index in 0 1 2; do
    stop_instance "$index"
    exits+=("$exited")
    start_instance "$index" "${LOAD_SETTINGS[@]}"
    sleep "$([ -n "$SHORT" ] && echo 3 || echo 5)" # back in HAProxy before the next one goes
done
stop_load step1
check_subscribers step1 "$step1_after"
load1=$(result_of "$OUT/step1/load.txt")
check1=$(result_of "$OUT/step1/check.txt")
reconnects1=$(field "$(result_of "$OUT/step1/subscribe.txt")" reconnects)
say "step 1: load $load1; exits ${exits[*]}; subscribers $check1, reconnects $reconnects1"

# --- Step 2: one instance killed --------------------------------------------------------
if [ -z "$SHORT" ]; then
    say "step 2: SIGKILL one instance mid-load"
    step2_after=$(last_event)
    begin_step step2
    sleep 5
    in_flight=$(in_flight_on app2)
    kill -KILL "${app_pid[1]}"
    wait "${app_pid[1]}" 2>/dev/null || true
    sleep 5 # HAProxy takes it out (fall 2 × inter 1 s); its subscribers reconnect elsewhere
    start_instance 1 "${LOAD_SETTINGS[@]}"
    sleep 3
    stop_load step2
    URL=http://$LB/graphql WRITE_TOKEN=$writer OUT_DIR=$OUT/step2/load "$FLEET" retry \
        >"$OUT/step2/retry.txt"
    check_subscribers step2 "$step2_after"
    load2=$(result_of "$OUT/step2/load.txt")
    retry2=$(result_of "$OUT/step2/retry.txt")
    check2=$(result_of "$OUT/step2/check.txt")
    read -r missing2 once2 twice2 < <(writes_per_key "$OUT/step2/load/intended.txt")
    say "step 2: in flight on the instance killed $in_flight; load $load2; retry $retry2;" \
        "writes meant: $missing2 missing, $once2 once, $twice2 more than once; subscribers $check2"
fi

# --- Step 3: one user's bucket across the fleet ----------------------------------------
say "step 3: one user's mutations over the three instances at once"
URLS=$(printf 'http://%s/graphql,' "${APPS[@]}")
URLS=${URLS%,}
burst_over_fleet() { # name, then the instances' settings
    local name=$1
    shift
    for index in 0 1 2; do
        stop_instance "$index"
        [ "$exited" = 0 ] || fail "an instance did not exit 0"
        start_instance "$index" MUTATION_RATE_LIMIT_BURST=$BURST \
            MUTATION_RATE_LIMIT_PER_SECOND=$PER_SECOND "$@"
    done
    URLS=$URLS TOKEN=$(token "fleet-burst-$name" customer) REQUESTS=$((BURST * 6)) \
        "$FLEET" burst >"$OUT/burst-$name.txt"
}
# A Redis slower than RATE_LIMIT_REDIS_TIMEOUT_MS (50 ms) is passed over for the
# instance's own bucket (fail open): on this shared machine, with three instances just
# started, a first call can take that long. The step measures the sharing, so it gives
# Redis a second.
burst_over_fleet redis RATE_LIMIT_REDIS_URL=$REDIS_URL RATE_LIMIT_REDIS_TIMEOUT_MS=1000
burst_over_fleet local
with_redis=$(result_of "$OUT/burst-redis.txt")
without_redis=$(result_of "$OUT/burst-local.txt")
say "step 3: with Redis $with_redis; without $without_redis"

# --- Verdicts -------------------------------------------------------------------------
allowed() { # seconds the burst took: one bucket's burst plus its refill meanwhile
    awk -v s="$1" -v b="$BURST" -v r="$PER_SECOND" 'BEGIN { printf "%d", b + int(s * r) + 1 }'
}
accepted_redis=$(field "$with_redis" accepted)
accepted_local=$(field "$without_redis" accepted)
allowed_redis=$(allowed "$(field "$with_redis" seconds)")

cat <<EOF
### Fleet run ($(basename "$OUT"))

| step | figure | value |
|---|---|---|
| 1. rolling restart | requests / failed | $(field "$load1" requests) / $(field "$load1" failed) |
| | exit codes of the three SIGTERMs | ${exits[*]} |
| | subscribers: events expected / missing / duplicated | $(field "$check1" expected) / $(field "$check1" missing) / $(field "$check1" duplicates) ($reconnects1 reconnects) |
EOF
if [ -z "$SHORT" ]; then
    cat <<EOF
| 2. SIGKILL | in flight on it (HAProxy) / failed requests | $in_flight / $(field "$load2" failed) |
| | failed writes retried with their keys: ran / replayed / given up | $(field "$retry2" ran) / $(field "$retry2" replayed) / $(field "$retry2" given_up) |
| | writes meant: missing / once / more than once | $missing2 / $once2 / $twice2 |
| | subscribers: events expected / missing / duplicated | $(field "$check2" expected) / $(field "$check2" missing) / $(field "$check2" duplicates) |
EOF
fi
cat <<EOF
| 3. one user, three instances | accepted with Redis (allowed: burst $BURST + refill) | $accepted_redis (≤ $allowed_redis) |
| | accepted without Redis (three buckets) | $accepted_local |
EOF

[ "$(field "$load1" failed)" = 0 ] || fail "step 1: requests failed during the rolling restart"
[ "${exits[*]}" = "0 0 0" ] || fail "step 1: an instance did not exit 0"
[ "$(field "$check1" missing)" = 0 ] && [ "$(field "$check1" duplicates)" = 0 ] ||
    fail "step 1: a subscriber missed or repeated an event"
if [ -z "$SHORT" ]; then
    [ "$(field "$load2" failed)" -le "$in_flight" ] ||
        say "step 2: more requests failed ($(field "$load2" failed)) than were in flight ($in_flight)"
    [ "$missing2" = 0 ] && [ "$twice2" = 0 ] || fail "step 2: a write is missing or written twice"
    [ "$(field "$check2" missing)" = 0 ] && [ "$(field "$check2" duplicates)" = 0 ] ||
        fail "step 2: a subscriber missed or repeated an event"
fi
[ "$accepted_redis" -le "$allowed_redis" ] || fail "step 3: the shared bucket let through more than one bucket's worth"
[ "$accepted_local" -gt "$allowed_redis" ] || say "step 3: without Redis no more was accepted than with it"
say "fleet checks passed"
