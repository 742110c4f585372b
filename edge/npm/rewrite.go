package npm

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"net/url"
	"path"
	"strings"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Dist is what a packument promises about one tarball: where the upstream
// keeps it and the digests its bytes must have.
type Dist struct {
	URL       string `json:"url"` // the upstream's own tarball URL
	Integrity string `json:"integrity,omitempty"`
	Shasum    string `json:"shasum,omitempty"`
}

// Want returns the digests a tarball must match: the strongest of
// dist.integrity's (sha512 normally), else dist.shasum's sha1. None means
// the metadata promised nothing that can be checked.
// errNull is the cause of refusing a JSON document that is null, which
// json.Unmarshal accepts into a map without an error.
var errNull = errors.New("the document is null")

func (d Dist) Want() []blob.Digest {
	var best blob.Digest
	rank := map[string]int{blob.SHA1: 1, blob.SHA256: 2, blob.SHA512: 3}
	for _, f := range strings.Fields(d.Integrity) {
		if i := strings.IndexByte(f, '?'); i >= 0 { // SRI options
			f = f[:i]
		}
		dg, err := blob.ParseIntegrity(f)
		if err == nil && rank[dg.Algorithm()] > rank[best.Algorithm()] {
			best = dg
		}
	}
	if best == "" && d.Shasum != "" {
		if dg, err := blob.ParseDigest(blob.SHA1 + ":" + strings.ToLower(d.Shasum)); err == nil {
			best = dg
		}
	}
	if best == "" {
		return nil
	}
	return []blob.Digest{best}
}

// RewritePackument rewrites an upstream packument (full or abbreviated)
// for clients of the edge: every version's dist.tarball becomes
// tarballBase + the tarball's file name, so that clients fetch tarballs
// from the edge only. It returns the rewritten document and, by file name,
// what each version's dist promised. It is pure. The output has its keys
// sorted; nothing else changes. An input that is not a packument is an
// Upstream error: it came from the upstream.
func RewritePackument(doc []byte, tarballBase string) ([]byte, map[string]Dist, error) {
	const op = "npm.RewritePackument"
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil || top == nil {
		// JSON null decodes without an error: errNull tells the log why.
		return nil, nil, fault.WrapMsg(op, fault.Upstream, "the upstream sent an invalid packument", cmp.Or(err, errNull))
	}
	files := map[string]Dist{}
	raw, ok := top["versions"]
	if !ok || isNull(raw) {
		out, err := marshal(top)
		return out, files, err
	}
	var versions map[string]json.RawMessage
	if err := json.Unmarshal(raw, &versions); err != nil {
		return nil, nil, fault.WrapMsg(op, fault.Upstream, "the upstream sent a packument with invalid versions", err)
	}
	for v, manifest := range versions {
		out, d, file, err := rewriteVersion(manifest, v, tarballBase)
		if err != nil {
			return nil, nil, fault.WrapMsg(op, fault.Upstream, "the upstream sent an invalid manifest for version "+v, err)
		}
		versions[v] = out
		if file != "" {
			files[file] = d
		}
	}
	var err error
	if top["versions"], err = marshal(versions); err != nil {
		return nil, nil, err
	}
	out, err := marshal(top)
	return out, files, err
}

// rewriteVersion points one manifest's dist.tarball at the edge. A
// tarball URL that names no fetchable file is pointed at the edge too, at
// a file that does not exist: a client of the edge never talks to the
// upstream itself.
func rewriteVersion(manifest json.RawMessage, version, tarballBase string) (json.RawMessage, Dist, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, Dist{}, "", err
	}
	rawDist, ok := m["dist"]
	if !ok || isNull(rawDist) {
		return manifest, Dist{}, "", nil
	}
	var dist map[string]json.RawMessage
	if err := json.Unmarshal(rawDist, &dist); err != nil {
		return nil, Dist{}, "", err
	}
	var d Dist
	json.Unmarshal(dist["tarball"], &d.URL)
	json.Unmarshal(dist["integrity"], &d.Integrity)
	json.Unmarshal(dist["shasum"], &d.Shasum)
	file := tarballFileOf(d.URL)
	target := tarballBase + url.PathEscape(file)
	if file == "" {
		target = tarballBase + "unavailable-" + url.PathEscape(version) + ".tgz"
	}
	tb, err := marshal(target)
	if err != nil {
		return nil, Dist{}, "", err
	}
	dist["tarball"] = tb
	if m["dist"], err = marshal(dist); err != nil {
		return nil, Dist{}, "", err
	}
	out, err := marshal(m)
	if file == "" {
		return out, Dist{}, "", err
	}
	return out, d, file, err
}

// tarballFileOf returns the file name at the end of a tarball URL, or ""
// when the URL is not one a tarball can be fetched from.
func tarballFileOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	f := path.Base(u.Path)
	if _, err := ParseFile(f); err != nil {
		return ""
	}
	return f
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// marshal encodes v as compact JSON without HTML escaping (readmes are
// full of '<' and '&', and npm's documents do not escape them).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fault.Wrap("npm.marshal", fault.Internal, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
