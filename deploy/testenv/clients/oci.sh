#!/usr/bin/env bash
# Clients and servers for edge/oci's end-to-end tests, pinned and
# idempotent: podman and skopeo from Debian, the OCI distribution-spec
# conformance suite and a distribution v3 registry (the local pull-through
# upstream) built from pinned Go module versions into
# $ENTREPOT_TEST_CACHE/bin.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

apt_install podman skopeo
# The conformance suite is a main package (run.go); "go install" builds it.
go_install oci-conformance github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111
go_install registry github.com/distribution/distribution/v3/cmd/registry@v3.1.2
