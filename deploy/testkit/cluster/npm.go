package cluster

// The npm package and publish document that `entrepot bench` and the
// scale-out tests send to an edge.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// NPMTarball builds a package tarball of about size bytes (random content,
// so gzip cannot shrink it) with a package.json for name@version.
func NPMTarball(name, version string, size int) []byte {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	pj, _ := json.Marshal(map[string]any{"name": name, "version": version, "description": "bench fixture", "main": "index.js"})
	add := func(path string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: "package/" + path, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	add("package.json", pj)
	blob := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(size)}).Read(blob)
	add("data.bin", blob)
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// NPMPublishBody is the document `npm publish` PUTs for one version of
// name, tagged tag ("latest" when ""), whose tarball is tgz; base is the
// registry's npm URL, for the tarball's dist URL.
func NPMPublishBody(base, name, version, tag string, tgz []byte) []byte {
	if tag == "" {
		tag = "latest"
	}
	s1 := sha1.Sum(tgz)
	s5 := sha512.Sum512(tgz)
	basename := name
	if i := bytes.LastIndexByte([]byte(name), '/'); i >= 0 {
		basename = name[i+1:]
	}
	file := fmt.Sprintf("%s-%s.tgz", basename, version)
	doc := map[string]any{
		"_id":       name,
		"name":      name,
		"dist-tags": map[string]string{tag: version},
		"versions": map[string]any{version: map[string]any{
			"name": name, "version": version, "_id": name + "@" + version,
			"dist": map[string]any{
				"shasum":    hex.EncodeToString(s1[:]),
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s5[:]),
				"tarball":   base + "/" + name + "/-/" + file,
			},
		}},
		"_attachments": map[string]any{file: map[string]any{
			"content_type": "application/octet-stream",
			"data":         base64.StdEncoding.EncodeToString(tgz),
			"length":       len(tgz),
		}},
	}
	b, _ := json.Marshal(doc)
	return b
}
