#!/usr/bin/env bash
# Makes sure the real clients the Cargo end-to-end tests (edge/cargo) drive
# are there: cargo and rustc 1.74 or later (sparse registries with the
# cargo:token credential provider and `registry.global-credential-providers`;
# the tests were written against 1.95), and python3, whose http.server
# serves the tests' static upstream index.
#
# Debian 12's own cargo (0.66) predates credential providers, and no
# toolchain can be downloaded here, so this script finds the machine's
# rustup toolchain (~/.cargo/bin) and links cargo and rustc into
# $ENTREPOT_TEST_CACHE/bin, where the test command looks. Idempotent.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

apt_install python3

min_minor=74
bin="$ENTREPOT_TEST_CACHE/bin"
mkdir -p "$bin"
for tool in cargo rustc; do
	p=$(command -v "$tool" || true)
	[ "$p" = "$bin/$tool" ] && p=$(readlink "$p")
	if [ -z "$p" ] && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/$tool" ]; then
		p="${CARGO_HOME:-$HOME/.cargo}/bin/$tool"
	fi
	if [ -z "$p" ]; then
		echo "[testenv] $tool not found: install a Rust toolchain 1.$min_minor+ (rustup) for the cargo tests" >&2
		exit 1
	fi
	v=$("$p" --version | awk '{print $2}')
	minor=$(echo "$v" | cut -d. -f2)
	if [ "$(echo "$v" | cut -d. -f1)" -lt 1 ] || [ "$minor" -lt "$min_minor" ]; then
		echo "[testenv] $tool $v is too old: the cargo tests need 1.$min_minor or later" >&2
		exit 1
	fi
	# rustup's proxies dispatch on their name, so a link keeps working.
	[ "$(readlink "$bin/$tool" 2>/dev/null)" = "$p" ] || ln -sfn "$p" "$bin/$tool"
done
