#!/usr/bin/env bash
# GraphiQL driven in headless Chromium against a live server: tests/browser/graphiql-check.mjs.
# Chromium is Debian's package; where it is missing, CI (root) installs it (about 35 s
# with its libraries), and anywhere else the check is skipped, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/live-server.sh

CHROMIUM=/usr/bin/chromium

ensure_chromium() {
    [ -x "$CHROMIUM" ] && return 0
    [ "$(id -u)" = 0 ] || return 1
    echo "installing chromium"
    apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null &&
        [ -x "$CHROMIUM" ]
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "== browser check SKIPPED: node or npm not installed"
    exit 0
fi
if ! ensure_chromium; then
    echo "== browser check SKIPPED: chromium not installed"
    exit 0
fi

echo "== browser check: GraphiQL in headless Chromium"
npm ci --prefix tests/browser --no-audit --no-fund --silent
start_live_server
SUPPORTDESK_TOKEN="$(live_token browser-check customer)" SUPPORTDESK_SUB=browser-check \
    CHROMIUM="$CHROMIUM" node tests/browser/graphiql-check.mjs
