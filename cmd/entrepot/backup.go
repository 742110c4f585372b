package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
)

// Backups of the embedded store. bbolt locks its file for the one process
// that writes it, so an online backup goes through the running server: it
// listens on DATA_DIR/backup.sock (mode 0600: whoever may read the data
// directory may copy it) and answers each connection with a snapshot of
// the file taken in one read transaction — the length on a line, then the
// bytes — while it goes on serving. `entrepot backup` then copies the
// blobs the snapshot references; blobs are content-addressed and written
// before the metadata naming them, and nothing deletes them, so every one
// is there. With no server running, it opens the file itself.
//
// A backup directory holds entrepot.db, secrets.json (when the data
// directory has one: it decrypts what the store keeps encrypted), blobs/
// (the filesystem blob layout) and backup.json.

const backupSocket = "backup.sock"

// blobRefs names, per collection, the JSON fields of its records that hold
// the sha256 digest of a blob: the hosted files, the mirror's cache
// records and OCI's manifests and layer links. The backup test publishes
// in every protocol and restores, so a kind of reference missing here
// fails it.
var blobRefs = []struct {
	collection string
	field      string
}{
	{"files", "digest"},
	{"cache_records", "digest"},
	{"oci_manifests", "blob"},
	{"oci_blobs", "blob"},
}

// listenBackups serves snapshots of meta on DATA_DIR/backup.sock until ctx
// ends, when meta is the embedded store; the returned func removes the
// socket.
func listenBackups(ctx context.Context, dataDir string, meta hosted.Store, log *slog.Logger) func() {
	db, ok := meta.(*bolt.Store)
	if !ok {
		return func() {}
	}
	path := filepath.Join(dataDir, backupSocket)
	os.Remove(path) // a crash's leftover: the store's lock makes this the data directory's only server
	ln, err := net.Listen("unix", path)
	if err == nil {
		err = os.Chmod(path, 0o600)
	}
	if err != nil {
		log.Warn("backup socket: online backups unavailable", "error", err)
		return func() {}
	}
	go func() { <-ctx.Done(); ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				start := time.Now()
				w := bufio.NewWriterSize(c, 1<<20)
				err := db.Snapshot(w, func(n int64) error { _, err := fmt.Fprintf(w, "%d\n", n); return err })
				if err == nil {
					err = w.Flush()
				}
				if err != nil {
					log.Warn("backup snapshot", "error", err)
					return
				}
				log.Info("backup snapshot sent", "took", time.Since(start).Round(time.Millisecond))
			}()
		}
	}()
	return func() { ln.Close(); os.Remove(path) }
}

// backupCmd is `entrepot backup DIR` and `entrepot backup --verify [DIR]`.
func backupCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	verify := false
	if len(args) > 0 && args[0] == "--verify" {
		verify, args = true, args[1:]
	}
	dir := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if dir == "" && !verify {
		return errors.New("usage: entrepot backup DIR [serve flags] | entrepot backup --verify [DIR] [serve flags]")
	}
	cfg, err := loadConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if verify {
		return verifyCmd(ctx, cfg, dir, stdout)
	}
	if cfg.MongoURL != "" {
		return errors.New("backup: the metadata is in MongoDB: back it up with mongodump and the bucket with its versioning or replication (README: Back up and restore); entrepot backup --verify checks the blobs")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	start := time.Now()
	snap := filepath.Join(dir, "entrepot.db")
	via, err := snapshot(cfg.DataDir, snap)
	if err != nil {
		return fmt.Errorf("backup: snapshot: %w", err)
	}
	if err := copyFile(filepath.Join(cfg.DataDir, "secrets.json"), filepath.Join(dir, "secrets.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	meta, err := bolt.Open(snap)
	if err != nil {
		return err
	}
	defer meta.Close(ctx)
	src, _, err := openBlobs(ctx, cfg)
	if err != nil {
		return err
	}
	dst, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		return err
	}
	n, copied, err := copyBlobs(ctx, meta, src, dst)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	manifest, _ := json.MarshalIndent(map[string]any{
		"version": version, "commit": commit, "createdAt": start.UTC().Format(time.RFC3339), "blobs": n,
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "backup.json"), append(manifest, '\n'), 0o640); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %s in %s (%s): %d blobs referenced, %d copied, %s\n",
		cfg.DataDir, dir, via, n, copied, time.Since(start).Round(time.Millisecond))
	return nil
}

// snapshot writes a consistent copy of DATA_DIR's store to path: from the
// running server when one answers on its socket, else from the file.
func snapshot(dataDir, path string) (via string, err error) {
	c, err := net.Dial("unix", filepath.Join(dataDir, backupSocket))
	if err != nil {
		db, err := bolt.Open(filepath.Join(dataDir, "entrepot.db"))
		if err != nil {
			return "", err
		}
		defer db.Close(context.Background())
		return "no server running", writeAtomic(path, func(w io.Writer) error {
			return db.Snapshot(w, func(int64) error { return nil })
		})
	}
	defer c.Close()
	return "from the running server", writeAtomic(path, func(w io.Writer) error {
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("the server sent no snapshot: %w", err)
		}
		size, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
		if err != nil {
			return fmt.Errorf("the server sent %q", line)
		}
		if n, err := io.Copy(w, r); err != nil || n != size {
			return fmt.Errorf("snapshot cut at %d of %d bytes: %v", n, size, err)
		}
		return nil
	})
}

// writeAtomic writes path (mode 0600) with what fill writes: in a temp
// file, synced, then renamed over it, so that path is whole or absent.
func writeAtomic(path string, fill func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// copyFile copies src to dst (mode 0600) when src exists.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, func(w io.Writer) error { _, err := io.Copy(w, in); return err })
}

// eachBlob calls fn with every blob digest meta references, once each.
func eachBlob(ctx context.Context, meta hosted.Store, fn func(blob.Digest) error) (int, error) {
	seen := map[blob.Digest]bool{}
	for _, ref := range blobRefs {
		c := hosted.Collection{Name: ref.collection}
		after := ""
		for {
			recs, next, err := meta.Query(ctx, c, hosted.Query{After: after})
			if err != nil {
				return len(seen), fmt.Errorf("scan %s: %w", ref.collection, err)
			}
			for _, r := range recs {
				var doc map[string]json.RawMessage
				if json.Unmarshal(r.Data, &doc) != nil || string(doc["deleted"]) == "true" {
					continue
				}
				var s string
				json.Unmarshal(doc[ref.field], &s)
				d, err := blob.ParseDigest(s)
				if err != nil || d.Algorithm() != blob.SHA256 || seen[d] {
					continue
				}
				seen[d] = true
				if err := fn(d); err != nil {
					return len(seen), err
				}
			}
			if next == "" {
				break
			}
			after = next
		}
	}
	return len(seen), nil
}

// copyBlobs copies every blob meta references from src to dst, skipping
// those dst has already (a backup into the same directory is
// incremental); dst verifies each digest as it commits.
func copyBlobs(ctx context.Context, meta hosted.Store, src, dst blob.Store) (n, copied int, err error) {
	n, err = eachBlob(ctx, meta, func(d blob.Digest) error {
		if _, err := dst.Stat(ctx, d); err == nil {
			return nil
		}
		if err := copyBlob(ctx, src, dst, d); err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
		copied++
		return nil
	})
	return n, copied, err
}

func copyBlob(ctx context.Context, src, dst blob.Store, d blob.Digest) error {
	r, err := src.Open(ctx, d, 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := dst.Create(ctx, d)
	if err != nil {
		return err
	}
	defer w.Cancel(ctx)
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	_, err = w.Commit(ctx)
	return err
}

// verifyCmd checks that every blob the metadata references exists with
// its digest: the configured stores' (MongoDB or a snapshot of the
// embedded store; filesystem or S3) or, given dir, a backup's.
func verifyCmd(ctx context.Context, cfg *Config, dir string, stdout io.Writer) error {
	var meta hosted.Store
	var blobs blob.Store
	var err error
	switch {
	case dir != "":
		if meta, err = bolt.Open(filepath.Join(dir, "entrepot.db")); err != nil {
			return err
		}
		if blobs, err = fs.New(filepath.Join(dir, "blobs")); err != nil {
			return err
		}
	case cfg.MongoURL != "":
		if meta, _, err = openMeta(ctx, cfg); err != nil {
			return err
		}
	default:
		// The server holds the file: verify a snapshot of it.
		tmp, err := os.MkdirTemp(cfg.DataDir, "verify-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if _, err := snapshot(cfg.DataDir, filepath.Join(tmp, "entrepot.db")); err != nil {
			return err
		}
		if meta, err = bolt.Open(filepath.Join(tmp, "entrepot.db")); err != nil {
			return err
		}
	}
	defer meta.Close(ctx)
	if blobs == nil {
		if blobs, _, err = openBlobs(ctx, cfg); err != nil {
			return err
		}
	}
	var bad []string
	n, err := eachBlob(ctx, meta, func(d blob.Digest) error {
		if err := checkBlob(ctx, blobs, d); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", d, err))
			fmt.Fprintf(stdout, "BAD %s: %v\n", d, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("backup --verify: %d of %d referenced blobs missing or corrupt", len(bad), n)
	}
	fmt.Fprintf(stdout, "%d referenced blobs present with their digests\n", n)
	return nil
}

// checkBlob reads the blob d and compares its sha256.
func checkBlob(ctx context.Context, blobs blob.Store, d blob.Digest) error {
	r, err := blobs.Open(ctx, d, 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	if got := blob.NewDigest(blob.SHA256, h.Sum(nil)); got != d {
		return fmt.Errorf("content hashes to %s", got)
	}
	return nil
}

// restoreCmd is `entrepot restore DIR [--force]`: the backup's store,
// secrets and blobs into the configured data directory and blob store.
// It refuses a data directory that holds anything unless --force, and a
// running server's in any case (the store's lock).
func restoreCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	force := false
	dir := ""
	var rest []string
	for _, a := range args {
		switch {
		case a == "--force":
			force = true
		case dir == "" && !strings.HasPrefix(a, "-"):
			dir = a
		default:
			rest = append(rest, a)
		}
	}
	if dir == "" {
		return errors.New("usage: entrepot restore DIR [--force] [serve flags]")
	}
	cfg, err := loadConfig(rest, getenv, stdout)
	if err != nil {
		return err
	}
	if cfg.MongoURL != "" {
		return errors.New("restore: the metadata is in MongoDB: restore it with mongorestore (README: Back up and restore)")
	}
	ctx := context.Background()
	src, err := bolt.Open(filepath.Join(dir, "entrepot.db"))
	if err != nil {
		return fmt.Errorf("restore: %s is not a backup: %w", dir, err)
	}
	defer src.Close(ctx)
	if entries, _ := os.ReadDir(cfg.DataDir); len(entries) > 0 && !force {
		return fmt.Errorf("restore: %s is not empty; restore into an empty data directory, or add --force to replace its store", cfg.DataDir)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return err
	}
	// Taking the store's lock keeps a running server's file untouched.
	target := filepath.Join(cfg.DataDir, "entrepot.db")
	held, err := bolt.Open(target)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	err = writeAtomic(target, func(w io.Writer) error { return src.Snapshot(w, func(int64) error { return nil }) })
	held.Close(ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := copyFile(filepath.Join(dir, "secrets.json"), filepath.Join(cfg.DataDir, "secrets.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	backupBlobs, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		return err
	}
	dst, _, err := openBlobs(ctx, cfg)
	if err != nil {
		return err
	}
	n, copied, err := copyBlobs(ctx, src, backupBlobs, dst)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s: %d blobs referenced, %d copied\n", dir, cfg.DataDir, n, copied)
	return nil
}
