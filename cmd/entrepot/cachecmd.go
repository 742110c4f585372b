package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"entrepot/cache"
	"entrepot/edge/mirror"
	"entrepot/hosted"
)

// cacheCmd is `entrepot cache purge [--protocol P]`: it removes the
// mirror's cache records (documents and artifacts) of one protocol, or of
// all, for an operator who points a protocol at a different registry:
// the cache is keyed by package, not by upstream URL, so without a purge
// the new registry's packages would be answered with the old one's
// cached documents. Blobs stay for a sweep. It takes the same settings as
// serve, and the embedded store's lock, so it runs with the servers
// stopped; on MongoDB, restart the servers afterwards, since their
// memory caches keep what they hold.
func cacheCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	var served []string // the protocols that may have a mirror
	for _, p := range protocols {
		if p.mount != nil {
			served = append(served, p.name)
		}
	}
	usage := errors.New("usage: entrepot cache purge [--protocol " + strings.Join(served, "|") + "] [serve flags]")
	if len(args) == 0 || args[0] != "purge" {
		return usage
	}
	rest := args[1:]
	purge := served
	if len(rest) > 0 && (rest[0] == "--protocol" || strings.HasPrefix(rest[0], "--protocol=")) {
		p, ok := strings.CutPrefix(rest[0], "--protocol=")
		rest = rest[1:]
		if !ok {
			if len(rest) == 0 {
				return usage
			}
			p, rest = rest[0], rest[1:]
		}
		if !slices.Contains(served, p) {
			return fmt.Errorf("cache purge: unknown protocol %q (%s)", p, strings.Join(served, ", "))
		}
		purge = []string{p}
	}
	ctx := context.Background()
	_, meta, err := adminMeta(ctx, rest, getenv, stdout)
	if err != nil {
		return err
	}
	defer meta.Close(ctx)
	for _, p := range purge {
		total := 0
		for _, prefix := range mirror.Prefixes(p) {
			n, err := cache.Purge(ctx, meta, prefix)
			total += n
			if err != nil {
				return fmt.Errorf("cache purge %s: %d records removed, then: %w", p, total, err)
			}
		}
		fmt.Fprintf(stdout, "%s: %d cache records removed\n", p, total)
	}
	return nil
}

// adminMeta opens the metadata store an admin helper works on, from the
// same settings as serve (args are serve's flags); the caller closes it.
func adminMeta(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (*Config, hosted.Store, error) {
	cfg, err := loadConfig(args, getenv, stdout)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, nil, &ConfigError{Var: "DATA_DIR", Err: err}
	}
	meta, _, err := openMeta(ctx, cfg)
	return cfg, meta, err
}
