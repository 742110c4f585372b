#!/usr/bin/env bash
# Installs the real client the Composer end-to-end tests drive
# (edge/composer): Debian's composer (2.5, pinned by the Debian 12 release)
# with the PHP extensions it needs to download and unpack zip dists
# (php-zip, php-curl, php-mbstring, unzip), and python3, whose http.server
# serves the tests' static upstream repository.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

apt_install composer php-cli php-zip php-curl php-mbstring unzip python3
