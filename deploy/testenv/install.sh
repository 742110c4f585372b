#!/usr/bin/env bash
# Installs (builds from pinned Go module versions) the two real servers the
# storage tests need: FerretDB (MongoDB wire protocol, SQLite backend) and MinIO
# (S3 API); checks that nginx, the scale-out tests' balancer, is there
# (installing the distribution's nginx-light when it is not). Binaries are cached OUTSIDE the repository, in
#   ${ENTREPOT_TEST_CACHE:-$HOME/.cache/entrepot-test}/bin
# and reused on later runs (a warm run only checks and prints what it reused).
#
# Usage: deploy/testenv/install.sh
# Prints the binaries' paths on stdout as "ferretdb: <path>", "minio: <path>",
# "staticcheck: <path>" and "nginx: <path>" (logs go to stderr).
set -euo pipefail

FERRETDB_MODULE=github.com/FerretDB/FerretDB
FERRETDB_VERSION=v1.24.2
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
STATICCHECK_MODULE=honnef.co/go/tools
STATICCHECK_VERSION=v0.8.2

CACHE="${ENTREPOT_TEST_CACHE:-$HOME/.cache/entrepot-test}"
BIN="$CACHE/bin"
FERRETDB_BIN="$BIN/ferretdb-$FERRETDB_VERSION"
MINIO_BIN="$BIN/minio-${MINIO_VERSION#v0.0.0-}"
STATICCHECK_BIN="$BIN/staticcheck-$STATICCHECK_VERSION"

log() { printf '[testenv install] %s\n' "$*" >&2; }
die() { printf '[testenv install] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2fs", b - a }'; }

command -v go >/dev/null 2>&1 || die "go is not on PATH"

# Never let the caller's module, workspace or toolchain settings leak in: every
# go command below runs in a scratch directory with its own throwaway go.mod.
export GOTOOLCHAIN=local
export GOWORK=off
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
unset GOOS GOARCH

T0=$(now)
mkdir -p "$BIN"

# Serialise concurrent installs (e.g. parallel CI jobs sharing one cache).
exec 9>"$CACHE/.install.lock"
flock 9

WORK=$(mktemp -d "${TMPDIR:-/tmp}/entrepot-testenv-install.XXXXXX")
cleanup() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# check_bin PATH ARGS...: the binary exists, is executable and answers ARGS.
check_bin() {
	local bin=$1; shift
	[[ -x $bin ]] || return 1
	"$bin" "$@" >"$WORK/check.out" 2>&1
}

install_ferretdb() {
	local t
	t=$(now)
	if check_bin "$FERRETDB_BIN" --version && grep -q "version: $FERRETDB_VERSION" "$WORK/check.out"; then
		log "reused FerretDB $FERRETDB_VERSION: $FERRETDB_BIN ($(elapsed "$t"))"
		return
	fi
	log "building FerretDB $FERRETDB_VERSION (SQLite backend, no build tags) ..."

	mkdir -p "$WORK/dl"
	(cd "$WORK/dl" && go mod init entrepot-testenv-download >/dev/null 2>&1) ||
		die "go mod init failed in $WORK/dl"
	local json dir
	json=$(cd "$WORK/dl" && go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION") ||
		die "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed: $json"
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n $dir && -d $dir ]] || die "go mod download did not report a module directory: $json"

	# The module cache is read-only; build from a writable copy so that the
	# version file (normally generated from git) can be written.
	local src="$WORK/ferretdb-src"
	cp -R "$dir" "$src"
	chmod -R u+w "$src"
	printf '%s\n' "$FERRETDB_VERSION" >"$src/build/version/version.txt"
	printf '%s\n' "entrepot-testenv" >"$src/build/version/package.txt"

	(cd "$src" && go build -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb) ||
		die "go build of FerretDB $FERRETDB_VERSION failed"
	check_bin "$FERRETDB_BIN.tmp" --version ||
		die "built FerretDB does not run: $(cat "$WORK/check.out")"
	grep -q "version: $FERRETDB_VERSION" "$WORK/check.out" ||
		die "built FerretDB reports an unexpected version: $(cat "$WORK/check.out")"
	mv -f "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
	log "built FerretDB $FERRETDB_VERSION: $FERRETDB_BIN ($(elapsed "$t"))"
}

install_minio() {
	local t
	t=$(now)
	if check_bin "$MINIO_BIN" --version; then
		log "reused MinIO $MINIO_VERSION: $MINIO_BIN ($(elapsed "$t"))"
		return
	fi
	log "building MinIO $MINIO_VERSION (this takes several minutes on a cold cache) ..."

	local gobin="$CACHE/bin-minio"
	mkdir -p "$gobin" "$WORK/minio"
	rm -f "$gobin/minio"
	# `go install pkg@version` ignores any go.mod; it rejects -mod, so drop GOFLAGS.
	(cd "$WORK/minio" && GOFLAGS=-buildvcs=false GOBIN="$gobin" \
		go install -trimpath "$MINIO_MODULE@$MINIO_VERSION") ||
		die "go install $MINIO_MODULE@$MINIO_VERSION failed"
	check_bin "$gobin/minio" --version ||
		die "built MinIO does not run: $(cat "$WORK/check.out")"
	cp -f "$gobin/minio" "$MINIO_BIN.tmp"
	mv -f "$MINIO_BIN.tmp" "$MINIO_BIN"
	log "built MinIO $MINIO_VERSION: $MINIO_BIN ($(elapsed "$t"))"
}

# install_staticcheck: the linter the test command runs, built with the
# local toolchain so that it understands the Go version the tree uses.
install_staticcheck() {
	local t
	t=$(now)
	if check_bin "$STATICCHECK_BIN" -version; then
		log "reused staticcheck $STATICCHECK_VERSION: $STATICCHECK_BIN ($(elapsed "$t"))"
		return
	fi
	log "building staticcheck $STATICCHECK_VERSION ..."
	local gobin="$CACHE/bin-staticcheck"
	mkdir -p "$gobin" "$WORK/staticcheck"
	rm -f "$gobin/staticcheck"
	(cd "$WORK/staticcheck" && GOFLAGS=-buildvcs=false GOBIN="$gobin" \
		go install -trimpath "$STATICCHECK_MODULE/cmd/staticcheck@$STATICCHECK_VERSION") ||
		die "go install staticcheck@$STATICCHECK_VERSION failed"
	check_bin "$gobin/staticcheck" -version ||
		die "built staticcheck does not run: $(cat "$WORK/check.out")"
	cp -f "$gobin/staticcheck" "$STATICCHECK_BIN.tmp"
	mv -f "$STATICCHECK_BIN.tmp" "$STATICCHECK_BIN"
	log "built staticcheck $STATICCHECK_VERSION: $STATICCHECK_BIN ($(elapsed "$t"))"
}

# install_nginx: the round-robin balancer in front of the edges in
# deploy/scaleout and `entrepot bench scale`; a distribution package, so
# apt installs it (idempotently: nothing happens when it is there).
install_nginx() {
	local t
	t=$(now)
	NGINX_BIN=$(command -v nginx 2>/dev/null || true)
	[[ -z $NGINX_BIN && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
	if [[ -z $NGINX_BIN ]]; then
		# shellcheck source=lib.sh
		source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
		apt_install nginx-light
		NGINX_BIN=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
	fi
	"$NGINX_BIN" -v >"$WORK/check.out" 2>&1 || die "nginx does not run: $(cat "$WORK/check.out")"
	log "nginx: $(cat "$WORK/check.out") at $NGINX_BIN ($(elapsed "$t"))"
}

install_ferretdb
install_minio
install_staticcheck
install_nginx

log "done in $(elapsed "$T0"); cache: $CACHE"
echo "ferretdb: $FERRETDB_BIN"
echo "minio: $MINIO_BIN"
echo "staticcheck: $STATICCHECK_BIN"
echo "nginx: $NGINX_BIN"
