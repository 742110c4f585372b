# Shared helpers for deploy/testenv/clients/*.sh (sourced, not run).
# Each client script installs what one protocol's end-to-end tests need,
# idempotently: a second run finds everything present and does nothing.

# ENTREPOT_TEST_CACHE holds everything installed outside the repository.
ENTREPOT_TEST_CACHE="${ENTREPOT_TEST_CACHE:-$HOME/.cache/entrepot-test}"
mkdir -p "$ENTREPOT_TEST_CACHE"

# apt_install PKG...: installs the Debian packages that are missing. The
# package lists are refreshed at most once a day.
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local stamp="$ENTREPOT_TEST_CACHE/.apt-updated"
	if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440)" ]; then
		echo "[testenv] apt-get update" >&2
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
		touch "$stamp"
	fi
	echo "[testenv] apt-get install ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# npm_install DIR PKG@VERSION...: installs pinned npm packages into
# $ENTREPOT_TEST_CACHE/DIR (with a package.json of its own) once.
npm_install() {
	local dir="$ENTREPOT_TEST_CACHE/$1"; shift
	local want="$*"
	if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then
		return 0
	fi
	mkdir -p "$dir"
	[ -f "$dir/package.json" ] || echo '{"private":true}' >"$dir/package.json"
	(cd "$dir" && npm install --no-audit --no-fund --save-exact "$@" >&2)
	echo "$want" >"$dir/.installed"
}

# go_install NAME MODULE@VERSION: builds a pinned Go command into
# $ENTREPOT_TEST_CACHE/bin/NAME once, outside the repository's module.
go_install() {
	local name=$1 mod=$2 bin="$ENTREPOT_TEST_CACHE/bin"
	local stamp="$bin/.$name.version"
	if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ]; then
		return 0
	fi
	mkdir -p "$bin"
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && GOFLAGS= GOWORK=off GOTOOLCHAIN=local GOBIN="$tmp/bin" go install "$mod" >&2)
	mv "$tmp/bin/"* "$bin/$name"
	rm -rf "$tmp"
	echo "$mod" >"$stamp"
}
