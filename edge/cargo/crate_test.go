package cargo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"

	"entrepot/hosted/fault"
)

// crateFile builds a .crate: a gzipped tar of files (path → content).
func crateFile(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

const goodToml = `
[package]
name = "demo"
version = "1.0.0"
links = "z"

[dependencies]
ent-a = { version = "0.1", registry-index = "sparse+http://x/" }
aliased = { version = "1", package = "real-crate" }

[dev-dependencies]
pretty = "1"

[build-dependencies]
cc = "1"

[target."cfg(unix)".dependencies]
libc = "0.2"
`

func meta(deps ...publishDep) publishMeta {
	z := "z"
	return publishMeta{Name: "demo", Vers: "1.0.0", Links: &z, Deps: deps}
}

func str(s string) *string { return &s }

var goodDeps = []publishDep{
	{Name: "ent-a", VersionReq: "^0.1", Kind: "normal"},
	{Name: "real-crate", VersionReq: "^1", Kind: "normal", ExplicitNameInToml: str("aliased")},
	{Name: "cc", VersionReq: "^1", Kind: "build"},
	{Name: "libc", VersionReq: "^0.2", Kind: "normal", Target: str("cfg(unix)")},
}

func TestManifestCheck(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		meta  publishMeta
		ok    bool
	}{
		{"good", map[string]string{"demo-1.0.0/Cargo.toml": goodToml, "demo-1.0.0/src/lib.rs": ""}, meta(goodDeps...), true},
		{"good with dev dep published", map[string]string{"demo-1.0.0/Cargo.toml": goodToml},
			meta(append(goodDeps, publishDep{Name: "pretty", VersionReq: "^1", Kind: "dev"})...), true},
		{"other name", map[string]string{"demo-1.0.0/Cargo.toml": goodToml}, func() publishMeta { m := meta(goodDeps...); m.Name = "demo2"; return m }(), false},
		{"other version", map[string]string{"demo-1.0.0/Cargo.toml": goodToml}, func() publishMeta { m := meta(goodDeps...); m.Vers = "1.0.1"; return m }(), false},
		{"other links", map[string]string{"demo-1.0.0/Cargo.toml": goodToml}, func() publishMeta { m := meta(goodDeps...); m.Links = nil; return m }(), false},
		{"dependency missing from metadata", map[string]string{"demo-1.0.0/Cargo.toml": goodToml}, meta(goodDeps[1:]...), false},
		{"dependency missing from manifest", map[string]string{"demo-1.0.0/Cargo.toml": goodToml},
			meta(append(goodDeps, publishDep{Name: "evil", VersionReq: "1", Kind: "normal"})...), false},
		{"renamed to another crate", map[string]string{"demo-1.0.0/Cargo.toml": goodToml},
			meta(goodDeps[0], publishDep{Name: "other-crate", VersionReq: "^1", Kind: "normal", ExplicitNameInToml: str("aliased")}, goodDeps[2], goodDeps[3]), false},
		{"wrong target", map[string]string{"demo-1.0.0/Cargo.toml": goodToml},
			meta(goodDeps[0], goodDeps[1], goodDeps[2], publishDep{Name: "libc", VersionReq: "^0.2", Kind: "normal"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := readManifest(bytes.NewReader(crateFile(t, tt.files)), 1<<20, tt.meta.Name, tt.meta.Vers)
			if err == nil {
				err = m.check(tt.meta)
			}
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !fault.Is(err, fault.Invalid) {
				t.Fatalf("kind %v", fault.KindOf(err))
			}
		})
	}
}

func TestReadManifestBadArchives(t *testing.T) {
	good := crateFile(t, map[string]string{"demo-1.0.0/Cargo.toml": goodToml})
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-6] ^= 0xff // the gzip trailer's checksum
	tests := []struct {
		name string
		body []byte
	}{
		{"not gzip", []byte("plain text, not a crate")},
		{"truncated", good[:len(good)/2]},
		{"corrupt", corrupt},
		{"no manifest", crateFile(t, map[string]string{"demo-1.0.0/src/lib.rs": ""})},
		{"outside the folder", crateFile(t, map[string]string{"demo-1.0.0/Cargo.toml": goodToml, "../../etc/passwd": "x"})},
		{"other folder", crateFile(t, map[string]string{"other-1.0.0/Cargo.toml": goodToml})},
		{"bad toml", crateFile(t, map[string]string{"demo-1.0.0/Cargo.toml": "[package\nname="})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readManifest(bytes.NewReader(tt.body), 1<<20, "demo", "1.0.0")
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("got %v, want Invalid", err)
			}
		})
	}
}
