#!/usr/bin/env bash
# Installs what the RubyGems end-to-end tests (edge/rubygems) need: Debian's
# Ruby (3.1, with its bundled RubyGems 3.3: gem build, push, install and
# generate_index) and Bundler (2.3). The tests serve their local upstream
# with python3's http.server, which comes with the machine.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

apt_install ruby bundler
