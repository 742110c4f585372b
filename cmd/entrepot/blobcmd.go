package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"entrepot/hosted/blob"
)

// blobCmd is the `entrepot blob` admin helper: put, get and stat blobs of
// the configured blob store directly, for imports, checks and repairs. It
// takes the same settings as serve, and the embedded store's lock, so it
// cannot run beside a server on the same data directory.
func blobCmd(args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: entrepot blob put [--sha256 DIGEST] < FILE | get DIGEST > FILE | stat DIGEST")
	}
	verb, rest := args[0], args[1:]
	var want []blob.Digest
	var operand string
	for len(rest) > 0 && verb == "put" && rest[0] == "--sha256" && len(rest) > 1 {
		want = append(want, blob.Digest("sha256:"+rest[1]))
		rest = rest[2:]
	}
	if verb == "get" || verb == "stat" {
		if len(rest) == 0 {
			return fmt.Errorf("blob %s: a digest is needed", verb)
		}
		operand, rest = rest[0], rest[1:]
	}
	ctx := context.Background()
	cfg, meta, err := adminMeta(ctx, rest, getenv, stdout)
	if err != nil {
		return err
	}
	defer meta.Close(ctx)
	blobs, _, err := openBlobs(ctx, cfg)
	if err != nil {
		return err
	}
	switch verb {
	case "put":
		w, err := blobs.Create(ctx, want...)
		if err != nil {
			return err
		}
		defer w.Cancel(ctx)
		if _, err := io.Copy(w, stdin); err != nil {
			return err
		}
		info, err := w.Commit(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %d\n", info.Digest, info.Size)
		return nil
	case "get":
		r, err := blobs.Open(ctx, blob.Digest(operand), 0, -1)
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(stdout, r)
		return err
	case "stat":
		info, err := blobs.Stat(ctx, blob.Digest(operand))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %d\n", info.Digest, info.Size)
		return nil
	}
	return fmt.Errorf("blob: unknown verb %q (put, get, stat)", verb)
}
