#!/usr/bin/env bash
# Copies the pinned GraphiQL, React and ReactDOM builds into src/http/graphiql/vendor/,
# where the binary embeds them: /graphiql then loads nothing from outside the server.
#
# To update: change a version below, set its integrity to what
# `npm view <package>@<version> dist.integrity` prints, run this script, and rename the
# versioned directories in src/http/graphiql.rs and src/http/graphiql/index.html.
# Running it twice gives the same files.
set -euo pipefail
cd "$(dirname "$0")/.."

# package  version  integrity of its npm tarball (sha512, base64)
PINNED=(
    "graphiql 4.1.2 sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg=="
    "react 18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ=="
    "react-dom 18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw=="
)

# The files each package contributes, as paths inside its tarball. GraphiQL's UMD build
# bundles graphql-ws, which its fetcher uses for subscriptions, and expects React and
# ReactDOM as the globals that the two React builds define.
files_of() {
    case "$1" in
    graphiql) echo "package/dist/index.umd.js package/dist/style.css package/LICENSE" ;;
    react) echo "package/umd/react.production.min.js package/LICENSE" ;;
    react-dom) echo "package/umd/react-dom.production.min.js package/LICENSE" ;;
    *) return 1 ;;
    esac
}

VENDOR=src/http/graphiql/vendor
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

rm -rf "$VENDOR"
for entry in "${PINNED[@]}"; do
    read -r package version integrity <<<"$entry"
    tarball="$WORK/$(npm pack --silent --pack-destination "$WORK" "$package@$version")"
    actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    if [ "$actual" != "$integrity" ]; then
        echo "$package@$version: the tarball's integrity is $actual, pinned $integrity" >&2
        exit 1
    fi
    unpacked="$WORK/$package"
    mkdir -p "$unpacked"
    tar -xzf "$tarball" -C "$unpacked"
    target="$VENDOR/$package-$version"
    mkdir -p "$target"
    for file in $(files_of "$package"); do
        install -m 0644 "$unpacked/$file" "$target/$(basename "$file")"
    done
    echo "$package@$version -> $target"
done
