#!/usr/bin/env bash
# Installs what the external identity end-to-end tests (edge/api, LDAP and
# OIDC) drive: Debian's OpenLDAP server and tools (slapd, ldap-utils; the
# tests start their own slapd on a loopback port with a generated
# slapd.conf, never the system service), the npm CLI's node (for the OIDC
# provider) and the certified OpenID provider oidc-provider, pinned, into
# $ENTREPOT_TEST_CACHE/idp.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

# slapd's postinst would configure and start a system directory: answer
# its questions with "omit configuration" and keep the service stopped.
if ! dpkg-query -W -f='${Status}' slapd 2>/dev/null | grep -q "install ok installed"; then
	echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
fi
RUNLEVEL=1 apt_install slapd ldap-utils
if command -v systemctl >/dev/null && systemctl is-active --quiet slapd 2>/dev/null; then
	systemctl stop slapd || true
fi

npm_install idp oidc-provider@9.13.3
