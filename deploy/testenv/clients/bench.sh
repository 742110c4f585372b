#!/usr/bin/env bash
# What `entrepot bench` measures against: wrk (the load generator; on two
# cores only wrk and bombardier saturate nginx), nginx (the static-file
# ceiling), Verdaccio 6 (the npm reference), pnpm (the install scenario).
# The distribution registry (the OCI reference) comes with clients/oci.sh.
# Pinned and idempotent.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

apt_install wrk nginx-light
# Verdaccio 6 on this Node needs node-fetch's CommonJS line pinned.
dir="$ENTREPOT_TEST_CACHE/verdaccio"
mkdir -p "$dir"
if [ ! -f "$dir/package.json" ] || ! grep -q overrides "$dir/package.json"; then
	echo '{"private":true,"overrides":{"node-fetch@cjs":"2.7.0"}}' >"$dir/package.json"
	rm -f "$dir/.installed"
fi
npm_install verdaccio verdaccio@6.8.0
# pnpm, for the install scenario (the npm CLI comes with clients/npm.sh).
npm_install pnpm pnpm@9.15.9
