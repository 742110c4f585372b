#!/usr/bin/env bash
# Installs the real client the npm end-to-end tests drive (edge/npm): the
# npm CLI. The machine image carries node 20 and npm 11; when npm is
# missing, Debian 12's nodejs and npm packages are installed instead (the
# tests use nothing newer than what both provide). The mirror test also
# needs the npm registry that `npm config get registry` names to be
# reachable.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

if ! command -v npm >/dev/null 2>&1 || ! npm --version >/dev/null 2>&1; then
	apt_install nodejs npm
fi
echo "[testenv] npm $(npm --version), node $(node --version)" >&2
