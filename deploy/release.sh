#!/usr/bin/env bash
# `make release`: cross-compiles entrepot for every platform of PLATFORMS
# into DIST as entrepot-VERSION-OS-ARCH.tar.gz, with install.sh and
# SHA256SUMS beside them. Reproducible: the binaries are static (no cgo), built with
# -trimpath and without the VCS stamp (what it would add is given by the
# flags below instead, so a build from a source archive stamps the same),
# dated by the commit (SOURCE_DATE_EPOCH), and the archives have a fixed
# order, mtime and owner, so two builds of one commit are byte-identical.
#
# Settings (environment): VERSION (default: git describe), COMMIT,
# SOURCE_DATE_EPOCH (default: the commit's time), PLATFORMS, DIST.
# Needs GNU tar and gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0 LC_ALL=C TZ=UTC

git_() { git "$@" 2>/dev/null; }
VERSION=${VERSION:-$(git_ describe --tags --always --dirty || echo dev)}
COMMIT=${COMMIT:-$(git_ rev-parse HEAD || echo unknown)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git_ log -1 --format=%ct || echo 0)}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
DIST=${DIST:-dist}
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

archives=()
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	name=entrepot-$VERSION-$os-$arch
	mkdir -p "$work/$name"
	GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X main.version=$VERSION -X main.commit=$COMMIT -X main.buildDate=$date" \
		-o "$work/$name/entrepot" ./cmd/entrepot
	cp README.md "$work/$name/"
	mkdir -p "$work/$name/deploy/systemd"
	cp deploy/install.sh "$work/$name/deploy/"
	cp deploy/systemd/entrepot.service "$work/$name/deploy/systemd/"
	find "$work/$name" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	tar -C "$work" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		--mode='u+rwX,go+rX,go-w' --format=gnu -cf - "$name" | gzip -9n >"$DIST/$name.tar.gz"
	archives+=("$name.tar.gz")
	echo "$DIST/$name.tar.gz"
done
# The installer beside the archives, for `curl -fsSL .../install.sh | sh -s -- --from ...`.
cp deploy/install.sh "$DIST/install.sh"
touch -d "@$SOURCE_DATE_EPOCH" "$DIST/install.sh"
(cd "$DIST" && sha256sum "${archives[@]}" install.sh >SHA256SUMS)
echo "$DIST/SHA256SUMS"
