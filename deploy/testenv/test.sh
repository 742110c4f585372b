#!/usr/bin/env bash
# The one test command (`make test` runs it, and .ci/run runs `make test`):
# installs what the tests need (idempotently, cached outside the
# repository), starts the real servers on loopback ports, builds the
# binary, runs every Go test with the race detector, every fuzz target
# for FUZZTIME (fuzz.sh), the memory benchmarks, the bench smoke run and a
# short soak (SOAK_DURATION, default 25s, which fails only on leaks),
# stops what it started and prints how many tests ran.
#
# Usage: deploy/testenv/test.sh [go test package patterns; default ./...]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
export GOTOOLCHAIN=local
pkgs=("${@:-./...}")

t0=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - t0 ))"; }

step "install test servers and linters"
tools=$(bash "$here/install.sh")
staticcheck=$(printf '%s\n' "$tools" | sed -n 's/^staticcheck: //p')
# The scale-out tests' balancer (deploy/scaleout) looks nginx up on PATH.
nginx=$(printf '%s\n' "$tools" | sed -n 's/^nginx: //p')
export PATH="$(dirname "$nginx"):$PATH"

step "install package-manager clients"
# One script per protocol; each is idempotent and pinned.
for f in "$here"/clients/*.sh; do
	[ -e "$f" ] || continue
	echo "-- $(basename "$f")"
	bash "$f"
done
export PATH="${ENTREPOT_TEST_CACHE:-$HOME/.cache/entrepot-test}/bin:$PATH"
# A client the tests need and cannot find fails the run instead of
# skipping (testkit.RequireTool).
export ENTREPOT_TEST_REQUIRE_CLIENTS=1

run=$(mktemp -d "${TMPDIR:-/tmp}/entrepot-test.XXXXXX")
cleanup() {
	bash "$here/stop.sh" "$run" || true
	rm -rf "$run"
}
trap cleanup EXIT

step "start FerretDB and MinIO"
bash "$here/start.sh" "$run"
# shellcheck disable=SC1091
source "$run/env.sh"
export ENTREPOT_TEST_MONGODB_URL ENTREPOT_TEST_S3_ENDPOINT ENTREPOT_TEST_S3_ACCESS_KEY \
	ENTREPOT_TEST_S3_SECRET_KEY ENTREPOT_TEST_S3_BUCKET ENTREPOT_TEST_S3_REGION

step "build"
go build -o "$run/entrepot" ./cmd/entrepot
export ENTREPOT_BIN="$run/entrepot"

step "lint (gofmt, go vet, staticcheck)"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './admin-ui/web/node_modules/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:"
	echo "$unformatted"
	exit 1
fi
go vet ./...
"$staticcheck" ./...

step "go test -race"
set +e
go test -race -count=1 -timeout 30m -v "${pkgs[@]}" >"$run/test.log" 2>&1
status=$?
set -e
# Keep the output readable: failures in full, passes as one line each.
grep -E '^(ok|FAIL|---|panic|\s+--- FAIL|.*_test\.go:[0-9]+:)' "$run/test.log" | grep -vE '^\s*--- (PASS|SKIP)' || true
if [ $status -ne 0 ]; then
	echo "---- full log of failing packages ----"
	grep -vE '^\s*(=== (RUN|PAUSE|CONT|NAME)|--- PASS)' "$run/test.log" | tail -n 400
fi

step "allocation guards (they skip under -race, so they run here without it)"
if [ $status -eq 0 ]; then
	allocs=$(grep -rl 'AllocsPerRun' --include='*_test.go' . | xargs -r -n1 dirname | sort -u)
	if [ -n "$allocs" ]; then
		# shellcheck disable=SC2086
		go test -count=1 -run 'Allocs' -v $allocs >"$run/allocs.log" 2>&1 || { status=1; cat "$run/allocs.log"; }
		grep -E '^(ok|FAIL)|--- (PASS|FAIL)' "$run/allocs.log" || true
	fi
fi

step "fuzz (every Fuzz target, FUZZTIME=${FUZZTIME:-1s} each, corpus in testdata/fuzz)"
if [ $status -eq 0 ]; then
	bash "$here/fuzz.sh" "${pkgs[@]}" || status=1
fi

step "memory benchmarks (1 GiB through each blob store)"
if [ $status -eq 0 ]; then
	go test -run '^$' -bench 'Heap1GiB' -benchtime 1x ./hosted/blob/... | grep -E 'Benchmark|^ok|FAIL' || status=1
fi

step "bench harness smoke run (proves it runs; asserts no number)"
if [ $status -eq 0 ]; then
	go run ./bench -smoke >"$run/bench.log" 2>&1 || { status=1; cat "$run/bench.log"; }
	grep -E '^\| ' "$run/bench.log" || true
fi

step "soak (${SOAK_DURATION:-25s}: fails only on goroutines or open files that leak)"
if [ $status -eq 0 ]; then
	"$ENTREPOT_BIN" bench soak -d "${SOAK_DURATION:-25s}" -sample 1s >"$run/soak.log" 2>&1 || { status=1; cat "$run/soak.log"; }
	grep -E '^\*\*(Flat|Not flat)|^\| (goroutines|open files|RSS|p50|p99|blobs) ' "$run/soak.log" || true
fi

passed=$(grep -cE '^\s*--- PASS' "$run/test.log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$run/test.log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$run/test.log" || true)
step "done"
if [ "$skipped" -gt 0 ]; then
	echo "skipped:"
	grep -E '^\s*--- SKIP' "$run/test.log" | sed 's/^/  /'
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
