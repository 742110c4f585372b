// Command entrepot is the Entrepot registry: one binary that serves an
// organization's private packages and mirrors the public registries for
// npm, OCI, PyPI, Cargo, Maven, Composer and RubyGems.
//
//	entrepot serve [flags]    run the registry (entrepot serve --help lists every setting)
//	entrepot blob put|get|stat  admin helper on the configured blob store
//	entrepot cache purge [--protocol P]  forget the mirror's cached content
//	entrepot gc [--dry-run]   reclaim the blobs nothing references (hosted/gc)
//	entrepot fsck [--repair]  check every referenced blob and the records' agreement
//	entrepot backup DIR | --verify [DIR]  online backup; check every referenced blob
//	entrepot restore DIR [--force]  a backup into an empty data directory
//	entrepot warm LOCKFILE... fill a running server's mirror with what lockfiles pin
//	entrepot healthcheck      0 if the local server's /healthz answers 200
//	entrepot version          print version and build information
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"entrepot/bench/harness"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	switch args[0] {
	case "serve":
		err := serve(args[1:], getenv, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			// One line that names what is wrong, never a stack trace.
			fmt.Fprintf(stderr, "entrepot: %s\n", oneLine(err.Error()))
			return 1
		}
		return 0
	case "blob":
		if err := blobCmd(args[1:], getenv, os.Stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "entrepot: %s\n", oneLine(err.Error()))
			return 1
		}
		return 0
	case "cache":
		if err := cacheCmd(args[1:], getenv, stdout); err != nil {
			fmt.Fprintf(stderr, "entrepot: %s\n", oneLine(err.Error()))
			return 1
		}
		return 0
	case "bench":
		self, _ := os.Executable()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		if err := harness.Main(ctx, args[1:], stdout, stderr, self, self); err != nil {
			fmt.Fprintf(stderr, "entrepot: bench: %s\n", oneLine(err.Error()))
			return 1
		}
		return 0
	case "gc":
		return exitCode(stderr, gcCmd(args[1:], getenv, stdout))
	case "fsck":
		return exitCode(stderr, fsckCmd(args[1:], getenv, stdout))
	case "backup":
		return exitCode(stderr, backupCmd(args[1:], getenv, stdout))
	case "restore":
		return exitCode(stderr, restoreCmd(args[1:], getenv, stdout))
	case "healthcheck":
		return exitCode(stderr, healthcheck(getenv, stdout))
	case "migrate":
		return exitCode(stderr, migrateCmd(args[1:], getenv, stdout))
	case "warm":
		return exitCode(stderr, warmCmd(args[1:], getenv, stdout, stderr))
	case "version", "--version", "-v":
		printVersion(stdout)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usageText)
		return 0
	}
	fmt.Fprintf(stderr, "entrepot: unknown command %q\n\n%s", args[0], usageText)
	return 2
}

const usageText = `Usage: entrepot <command> [flags]

Commands:
  serve     run the registry (entrepot serve --help lists every setting)
  blob      put, get or stat a blob of the configured store (admin helper)
  cache     purge [--protocol P]: forget the mirror's cached content (after switching registries)
  gc        [--dry-run] [--json]: delete the blobs nothing references, older than GC_GRACE
  fsck      [--repair] [--quick] [--json]: check referenced blobs (size, digest) and records; --repair drops dangling records and mirrored copies to refetch
  backup    DIR: online copy of the embedded store and its blobs; --verify [DIR]: check every referenced blob
  restore   DIR [--force]: a backup into an empty data directory
  migrate   --from URL --from-token T [--to URL] [--token T] [--protocols npm,pypi,rubygems]: re-publish an old registry's hosted packages here, read through its protocols
  warm      [--url URL] [--token T] LOCKFILE...: fetch every artifact a lockfile pins into the mirror of a running server (package-lock.json, npm-shrinkwrap.json, requirements.txt with hashes, Cargo.lock)
  healthcheck  exit 0 if /healthz of the server on PORT answers 200 (the container's health check)
  bench     run the load harness against a fresh instance (see bench/README.md)
  version   print version and build information
`

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// exitCode prints err, if any, as one line and returns the exit status.
func exitCode(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "entrepot: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}
