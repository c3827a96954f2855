# Shell pieces shared by bench/run.sh and bench/observability.sh (sourced, not run). The
# caller sets SERVER (the release binary) and SERVER_ADDR (where it listens) first.

export JWT_SECRET=supportdesk-bench-secret-not-for-production
# Logging at warn, as the baseline does not log; the rate limit of mutations out of the
# way, so that W5 and W6 measure writes, not the limiter.
export RUST_LOG=warn
export MUTATION_RATE_LIMIT_BURST=1000000
# A benchmark stops its servers with SIGTERM: no balancer waits for them to drain.
export SHUTDOWN_DRAIN_SECONDS=0

say() { echo "== $*" >&2; }

if ! command -v wrk >/dev/null; then
    say "installing wrk"
    apt-get install -y wrk >/dev/null
fi

# Waits (at most 10 s) until something listens on host:port.
wait_for() {
    local host=${1%:*} port=${1#*:}
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

token() { "$SERVER" token --sub "$1" --role "$2" --ttl 86400; }

body_of() { jq -cn --arg query "$1" '{query: $query}'; }

# POSTs a GraphQL document (JSON-encoded by jq) and prints the answer; fails on errors.
graphql() { # token, query
    local answer
    answer=$(curl -sS "http://$SERVER_ADDR/graphql" -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$(body_of "$2")")
    if [ "$(jq 'has("errors")' <<<"$answer")" != false ]; then
        echo "GraphQL errors: $answer" >&2
        return 1
    fi
    echo "$answer"
}

# One wrk run of bench/wrk/workload.lua (TOKEN, BODY, MIX_* from the caller's environment);
# prints its RESULT line: rps=… p50_ms=… p99_ms=… requests=… errors=…
wrk_run() { # url, connections, seconds
    local threads=2
    [ "$2" -ge 2 ] || threads=1
    wrk -t"$threads" -c"$2" -d"${3}s" --timeout 5s -s bench/wrk/workload.lua "$1" | grep '^RESULT'
}

# A RESULT line's values, tab-separated, in its order.
result_fields() { sed -E 's/^RESULT //; s/[a-z0-9_]+=//g; s/ /\t/g' <<<"$1"; }

# Peak resident set (VmHWM) of a process, in MiB.
peak_rss() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

stop() { # pids
    for pid in "$@"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

W1='{ me { id } }'
PAGINATION='pagination { total page limit totalPages hasNextPage hasPreviousPage }'
W2="{ tickets(limit: 20) { items { id subject status createdAt } $PAGINATION } }"
W3="{ tickets(status: OPEN, limit: 20) { items { id subject status createdAt messages { body authorRole } } $PAGINATION } }"
W5='mutation { createTicket(input: { subject: "Benchmark", message: "Opened by the benchmark." }) { id status createdAt } }'
