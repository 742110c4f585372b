#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzXxx) of the given packages for a
# bounded time each: the test command's fuzz step.
#
# Usage: deploy/testenv/fuzz.sh [go package patterns; default ./...]
#   FUZZTIME    per target, as go test -fuzztime takes it (default 1s)
#   FUZZ_UPDATE=1  copy the inputs the fuzzer found interesting into
#               testdata/fuzz/<Target>/ (to grow the committed corpus), at
#               most FUZZ_KEEP (default 20) per target, the largest first
#
# go test -fuzz takes one target per invocation, so each target is its own
# run. A target's committed corpus (testdata/fuzz/<Target>/ beside its
# package) seeds the run, and plain `go test` replays it, so an input once
# found to crash stays a regression case. When a run finds a crash, go
# writes the input there itself; this script lists it and fails: commit
# that file with the fix.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
export GOTOOLCHAIN=local
pkgs=("${@:-./...}")
fuzztime=${FUZZTIME:-1s}

# flake reports whether a failed run's only failure is the coordinator's
# deadline (the target's FAIL line followed by "context deadline
# exceeded", and no failing input written).
flake() {
	! grep -q 'Failing input written to' <<<"$1" &&
		grep -qE '^\s+context deadline exceeded$' <<<"$1" &&
		[ "$(grep -cE '^\s*--- FAIL' <<<"$1")" = 1 ]
}

# inputs counts the corpus files of a target's directory (0 when none).
inputs() {
	if [ -d "$1" ]; then
		find "$1" -type f | wc -l
	else
		echo 0
	fi
}

t0=$(date +%s)
status=0
n=0
flaked=0
failed=()
# go list prints the directories of packages that have test files; the
# fuzz targets are found by name in them (go test -list builds the test
# binary, which the -fuzz run reuses from the build cache).
while read -r pkg dir; do
	[ -n "$pkg" ] || continue
	grep -qs '^func Fuzz[A-Z0-9_a-z]*(f \*testing.F)' "$dir"/*_test.go || continue
	targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for t in $targets; do
		n=$((n + 1))
		s=$(date +%s)
		cache=""
		if [ "${FUZZ_UPDATE:-}" = 1 ]; then
			cache=$(mktemp -d "${TMPDIR:-/tmp}/entrepot-fuzz.XXXXXX")
		fi
		# -run '^$' skips the package's other tests; -parallel keeps the
		# workers to the machine's cores. The fuzz cache directory is ours
		# when updating, so that only this run's finds are copied.
		args=(-run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg")
		if [ -n "$cache" ]; then
			args+=(-args -test.fuzzcachedir="$cache")
		fi
		before=$(inputs "$dir/testdata/fuzz/$t")
		if out=$(go test "${args[@]}" 2>&1); then
			printf 'ok   %-40s %-28s %3ss\n' "$pkg" "$t" "$(( $(date +%s) - s ))"
		elif flake "$out" && [ "$(inputs "$dir/testdata/fuzz/$t")" = "$before" ]; then
			# go1.26's coordinator can report its own -fuzztime deadline
			# as the target's failure (golang/go#75804, fixed in go1.27):
			# no input was written, so there is nothing to reproduce.
			flaked=$((flaked + 1))
			printf 'ok   %-40s %-28s %3ss (fuzztime deadline race, golang/go#75804)\n' "$pkg" "$t" "$(( $(date +%s) - s ))"
		else
			status=1
			failed+=("$pkg $t")
			printf 'FAIL %-40s %-28s\n' "$pkg" "$t"
			printf '%s\n' "$out" | tail -n 40
		fi
		if [ -n "$cache" ]; then
			if [ -d "$cache/$t" ]; then
				mkdir -p "$dir/testdata/fuzz/$t"
				# ls -S: the largest inputs tend to reach the deepest code.
				(cd "$cache/$t" && ls -S | head -n "${FUZZ_KEEP:-20}" | xargs -r cp -n -t "$dir/testdata/fuzz/$t/")
			fi
			rm -rf "$cache"
		fi
	done
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' "${pkgs[@]}")

echo "fuzz: $n targets, ${fuzztime} each, $(( $(date +%s) - t0 ))s ($flaked stopped by the deadline race)"
if [ $status -ne 0 ]; then
	echo "fuzz: failing targets: ${failed[*]}"
	# The failing inputs go wrote, to be committed with the fix.
	git status --porcelain -- '*/testdata/fuzz/*' | sed 's/^/fuzz: new input: /' || true
fi
exit $status
