# The two commands of the README: `make run` and `make test`.
export GOTOOLCHAIN := local

.PHONY: run test build vet bench

run:
	go run ./cmd/entrepot serve

test:
	bash deploy/testenv/test.sh

build:
	go build -o bin/entrepot ./cmd/entrepot

vet:
	go vet ./...
