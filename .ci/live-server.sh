# Sourced by .ci/run: starts the debug server on a free port over a fresh SQLite
# database, for the checks that drive it from outside (the browser, the typed client).
# After `start_live_server`, SUPPORTDESK_URL is its GraphQL endpoint and
# `live_token SUB ROLE` prints a token it accepts; the server stops when the script exits.

# The binary cargo builds, wherever CARGO_TARGET_DIR puts it.
LIVE_BIN="${CARGO_TARGET_DIR:-target}/debug/supportdesk"

start_live_server() {
    LIVE_DIR="$(mktemp -d)"
    export JWT_SECRET
    JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export DATABASE_URL="sqlite://$LIVE_DIR/live.db?mode=rwc"
    cargo build -q --bin supportdesk
    LISTEN_ADDR=127.0.0.1:0 "$LIVE_BIN" >"$LIVE_DIR/server.log" 2>&1 &
    LIVE_PID=$!
    trap 'kill "$LIVE_PID" 2>/dev/null; wait "$LIVE_PID" 2>/dev/null; rm -rf "$LIVE_DIR"' EXIT
    local address=""
    for _ in $(seq 1 100); do
        address="$(sed -e 's/\x1b\[[0-9;]*m//g' "$LIVE_DIR/server.log" |
            sed -n 's/.*supportdesk is listening.*address=\([0-9.:]*\).*/\1/p' | head -n 1)"
        [ -n "$address" ] && break
        sleep 0.1
    done
    if [ -z "$address" ]; then
        echo "the live server did not start:" >&2
        cat "$LIVE_DIR/server.log" >&2
        return 1
    fi
    export SUPPORTDESK_URL="http://$address/graphql"
    # The schema is migrated in the background: wait until the server says it is ready.
    for _ in $(seq 1 100); do
        curl -sf "http://$address/readyz" >/dev/null && return 0
        sleep 0.1
    done
    echo "the live server never became ready" >&2
    return 1
}

live_token() {
    "$LIVE_BIN" token --sub "$1" --role "$2"
}
