#!/usr/bin/env bash
# Installs what the dashboard's tests need: Debian's Chromium (driven
# headless by playwright-core, which never downloads a browser of its own)
# and the pinned playwright-core, outside the repository. Idempotent.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

apt_install chromium
npm_install ui-e2e playwright-core@1.65.1
