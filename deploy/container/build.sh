#!/bin/sh
# Builds the container image from this checkout: a static linux binary
# (for GOARCH, default this machine's) and deploy/container/Containerfile.
#
#   deploy/container/build.sh [TAG]     default TAG: entrepot:dev
#
# CONTAINER_TOOL picks podman (default) or docker; GOARCH cross-builds.
set -eu
cd "$(dirname "$0")/../.."
tag=${1:-entrepot:dev}
tool=${CONTAINER_TOOL:-podman}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 GOOS=linux GOTOOLCHAIN=${GOTOOLCHAIN:-local} go build -trimpath \
	-ldflags "-s -w -X main.version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)" \
	-o "$ctx/entrepot" ./cmd/entrepot
mkdir "$ctx/data"
cp deploy/container/Containerfile "$ctx/"
"$tool" build --format docker -f "$ctx/Containerfile" -t "$tag" "$ctx"
