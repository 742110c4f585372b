package composer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"strings"
)

// This file holds the pure byte-to-byte work on Composer metadata:
// Composer 2's "minified" version lists (composer/metadata-minifier's
// MetadataMinifier, reproduced with PHP's quirks), the p2 documents the
// edge writes for hosted packages, and the rewrite of an upstream's p2
// documents so that every dist points back at the edge.

// minifiedFormat is the value of a p2 document's "minified" key.
const minifiedFormat = "composer/2.0"

// unset marks, in a minified version, a key the previous version had.
const unset = "__unset"

// member is one key of a JSON object, its value kept as raw JSON.
type member struct {
	Key string
	Val json.RawMessage
}

// object is a JSON object that keeps its keys in order, as PHP's arrays
// do: the minified form depends on that order.
type object []member

// parseObject decodes raw, which must be a JSON object. A repeated key
// keeps its first position and its last value, as json_decode does.
func parseObject(raw []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("expected a JSON object")
	}
	var o object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o.set(k, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return o, nil
}

func (o object) index(k string) int {
	for i, m := range o {
		if m.Key == k {
			return i
		}
	}
	return -1
}

// get returns a key's raw value.
func (o object) get(k string) (json.RawMessage, bool) {
	if i := o.index(k); i >= 0 {
		return o[i].Val, true
	}
	return nil, false
}

// isset is PHP's isset($o[$k]): present and not null.
func (o object) isset(k string) bool {
	v, ok := o.get(k)
	return ok && !isNull(v)
}

// str returns a key's value when it is a JSON string.
func (o object) str(k string) (string, bool) {
	v, ok := o.get(k)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// set replaces a key's value in place, or appends the key.
func (o *object) set(k string, v json.RawMessage) {
	if i := o.index(k); i >= 0 {
		(*o)[i].Val = v
		return
	}
	*o = append(*o, member{k, v})
}

func (o *object) setString(k, s string) { o.set(k, jsonString(s)) }

// del removes a key.
func (o *object) del(k string) {
	if i := o.index(k); i >= 0 {
		*o = append((*o)[:i:i], (*o)[i+1:]...)
	}
}

func (o object) clone() object { return append(object(nil), o...) }

// MarshalJSON writes the members in order, compactly.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(m.Key))
		b.WriteByte(':')
		if err := json.Compact(&b, m.Val); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// jsonString encodes s without HTML escaping, as PHP does with
// JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE.
func jsonString(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

func isUnset(v json.RawMessage) bool {
	var s string
	return len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil && s == unset
}

// same is PHP's === on two decoded JSON values, but blind to the key
// order of nested objects and to the spelling of equal strings: at worst
// it keeps a key the minifier could have dropped, never the reverse.
func same(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// Expand is MetadataMinifier::expand: each version after the first holds
// only what changed from the one before it, and "__unset" for the keys it
// dropped. As in PHP, an empty version restarts the chain.
func Expand(versions []object) []object {
	out := make([]object, 0, len(versions))
	var cur object
	for _, v := range versions {
		if len(cur) == 0 {
			cur = v.clone()
			out = append(out, cur.clone())
			continue
		}
		for _, m := range v {
			if isUnset(m.Val) {
				cur.del(m.Key)
			} else {
				cur.set(m.Key, m.Val)
			}
		}
		out = append(out, cur.clone())
	}
	return out
}

// Minify is MetadataMinifier::minify, the inverse of Expand. As in PHP,
// a null value counts as absent (isset), so it becomes "__unset".
func Minify(versions []object) []object {
	out := make([]object, 0, len(versions))
	var last object
	for _, v := range versions {
		if len(last) == 0 {
			last = v.clone()
			out = append(out, v.clone())
			continue
		}
		var m object
		for _, kv := range v {
			if prev, ok := last.get(kv.Key); !ok || isNull(prev) || !same(prev, kv.Val) {
				m.set(kv.Key, kv.Val)
				last.set(kv.Key, kv.Val)
			}
		}
		for _, kv := range last.clone() {
			if !v.isset(kv.Key) {
				m.set(kv.Key, jsonString(unset))
				last.del(kv.Key)
			}
		}
		out = append(out, m)
	}
	return out
}

// p2 is a parsed p2 document: its packages (name → versions, expanded)
// in order, and its other top-level keys.
type p2 struct {
	names    []string
	versions map[string][]object
	rest     object
}

// parseP2 reads a p2 document, expanding it when it is minified. A
// package's versions may also come as an object keyed by version
// (the Composer 1 layout), which is read in order.
func parseP2(raw []byte) (*p2, error) {
	top, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("p2 document: %w", err)
	}
	doc := &p2{versions: map[string][]object{}}
	minified := false
	if s, ok := top.str("minified"); ok {
		if s != minifiedFormat {
			return nil, fmt.Errorf("p2 document: unknown minified format %q", s)
		}
		minified = true
	}
	for _, m := range top {
		switch m.Key {
		case "minified":
		case "packages":
		default:
			doc.rest = append(doc.rest, m)
		}
	}
	pv, ok := top.get("packages")
	if !ok || isNull(pv) {
		return doc, nil
	}
	if bytes.Equal(bytes.TrimSpace(pv), []byte("[]")) { // PHP's empty array
		return doc, nil
	}
	pkgs, err := parseObject(pv)
	if err != nil {
		return nil, fmt.Errorf("p2 packages: %w", err)
	}
	for _, p := range pkgs {
		vs, err := parseVersionList(p.Val)
		if err != nil {
			return nil, fmt.Errorf("p2 package %q: %w", p.Key, err)
		}
		if minified {
			vs = Expand(vs)
		}
		if _, dup := doc.versions[p.Key]; !dup {
			doc.names = append(doc.names, p.Key)
		}
		doc.versions[p.Key] = vs
	}
	return doc, nil
}

func parseVersionList(raw json.RawMessage) ([]object, error) {
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	switch {
	case len(raw) > 0 && raw[0] == '[':
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
	case len(raw) > 0 && raw[0] == '{':
		o, err := parseObject(raw)
		if err != nil {
			return nil, err
		}
		for _, m := range o {
			items = append(items, m.Val)
		}
	default:
		return nil, fmt.Errorf("versions are neither a list nor an object")
	}
	out := make([]object, 0, len(items))
	for _, it := range items {
		o, err := parseObject(it)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// render writes the document minified, packages first.
func (d *p2) render() ([]byte, error) {
	var pk object
	for _, n := range d.names {
		vs := Minify(d.versions[n])
		var b bytes.Buffer
		b.WriteByte('[')
		for i, v := range vs {
			if i > 0 {
				b.WriteByte(',')
			}
			j, err := v.MarshalJSON()
			if err != nil {
				return nil, err
			}
			b.Write(j)
		}
		b.WriteByte(']')
		pk = append(pk, member{n, b.Bytes()})
	}
	pkj, err := pk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if len(pk) == 0 {
		pkj = []byte("{}")
	}
	top := object{{"packages", pkj}}
	top = append(top, d.rest...)
	top = append(top, member{"minified", jsonString(minifiedFormat)})
	return top.MarshalJSON()
}

// distPath is where the edge serves dist archives, below the protocol's
// mount point: every base passed around here is the mount point's public
// URL (Handler.mount).
const distPath = "/dist/"

// refSegRE is what a dist reference may look like to be used verbatim as
// a path segment; anything else is written as "_".
var refSegRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// refSegment is the path segment that stands for a dist reference.
func refSegment(ref string) string {
	if refSegRE.MatchString(ref) {
		return ref
	}
	return "_"
}

// distType is the file extension of a dist type, "zip" by default.
func distType(t string) string {
	if t == "" || !typeRE.MatchString(t) {
		return "zip"
	}
	return t
}

var typeRE = regexp.MustCompile(`^[a-z0-9]{1,16}$`)

// edgeDistURL is where the edge serves a version's dist archive:
// BASE/composer/dist/VENDOR/PACKAGE/REF/VERSION.TYPE, VERSION being the
// normalized version (a branch name may hold slashes: it is the tail).
func edgeDistURL(base, name, normalized, ref, typ string) string {
	return base + distPath + name + "/" + refSegment(ref) + "/" + escapeVersion(normalized) + "." + distType(typ)
}

func escapeVersion(v string) string {
	parts := strings.Split(v, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// versionKey is a version's normalized version: version_normalized when
// the metadata has it, else Composer's normalization of version.
func versionKey(v object) (string, bool) {
	if n, ok := v.str("version_normalized"); ok && n != "" {
		return n, true
	}
	if s, ok := v.str("version"); ok {
		if n, err := Normalize(s); err == nil {
			return n, true
		}
	}
	return "", false
}

// dist is what the edge needs of a version's dist.
type dist struct {
	URL, Type, Reference, Shasum string
}

// distOf reads a version's dist; false when it has none.
func distOf(v object) (dist, bool) {
	raw, ok := v.get("dist")
	if !ok || isNull(raw) {
		return dist{}, false
	}
	d, err := parseObject(raw)
	if err != nil {
		return dist{}, false
	}
	var out dist
	out.URL, _ = d.str("url")
	out.Type, _ = d.str("type")
	out.Reference, _ = d.str("reference")
	out.Shasum, _ = d.str("shasum")
	return out, out.URL != ""
}

// rewriteMirror turns an upstream p2 document into the one the edge
// serves at base, for package only ("" keeps every package): expanded if the upstream minified it, each dist's url
// pointing at the edge (and its mirrors dropped), each version's
// notification-url dropped (Composer then notifies the edge), minified
// again. A version whose normalized version cannot be told loses its
// dist rather than keep a link to the upstream.
func rewriteMirror(raw []byte, base, only string) ([]byte, error) {
	doc, err := parseP2(raw)
	if err != nil {
		return nil, err
	}
	if only != "" {
		// Composer reads only the package it asked for; nothing else in
		// an upstream document is passed on.
		vs := doc.versions[only]
		doc.names, doc.versions = []string{only}, map[string][]object{only: vs}
		if vs == nil {
			doc.names = nil
		}
	}
	for _, name := range doc.names {
		vs := doc.versions[name]
		for i := range vs {
			vs[i] = rewriteVersion(vs[i], name, base)
		}
	}
	return doc.render()
}

func rewriteVersion(v object, name, base string) object {
	v = v.clone()
	v.del("notification-url")
	raw, ok := v.get("dist")
	if !ok || isNull(raw) {
		return v
	}
	d, err := parseObject(raw)
	n, known := versionKey(v)
	if err != nil || !known {
		v.del("dist")
		return v
	}
	typ, _ := d.str("type")
	ref, _ := d.str("reference")
	d.setString("url", edgeDistURL(base, name, n, ref, typ))
	d.del("mirrors")
	j, _ := d.MarshalJSON()
	v.set("dist", j)
	return v
}
