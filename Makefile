# The two commands of the README: `make run` and `make test`.
export GOTOOLCHAIN := local

.PHONY: run test build vet bench ui ui-test release

run:
	go run ./cmd/entrepot serve

test:
	bash deploy/testenv/test.sh

build:
	go build -o bin/entrepot ./cmd/entrepot

vet:
	go vet ./...

# Release archives for linux and macOS on amd64 and arm64, with SHA256SUMS,
# into dist/ (reproducible: see deploy/release.sh; PLATFORMS, VERSION and
# DIST may be overridden).
release:
	bash deploy/release.sh

# The dashboard (admin-ui): rebuild the embedded assets from admin-ui/web
# with the dependencies pinned by its package-lock.json; ui-test runs its
# unit tests (Vitest + jsdom) and type check.
ui:
	cd admin-ui/web && npm ci --no-audit --no-fund && npm run build

ui-test:
	cd admin-ui/web && npm ci --no-audit --no-fund && npm run typecheck && npm test
