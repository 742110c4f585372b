package pypi

import (
	"bytes"
	"encoding/json"
	"html"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	xhtml "golang.org/x/net/html"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// The media types of the simple API (PEP 691).
const (
	typeJSON   = "application/vnd.pypi.simple.v1+json"
	typeHTMLv1 = "application/vnd.pypi.simple.v1+html"
	typeHTML   = "text/html"
)

// apiVersion is the simple API version served: 1.1 adds PEP 700's size,
// upload-time and versions.
const apiVersion = "1.1"

// page is one project page in the simple API's model: what an upstream
// page said (with its own URLs in Source) or what the hosted catalog
// holds.
type page struct {
	Name   string // normalized
	Serial uint64 // 0 when unknown
	Files  []pageFile
	stamp  hosted.Stamp // of a hosted project's page: what it was built from
}

// weight is about what p holds in memory: its files' names, URLs and
// hashes.
func (p *page) weight() int { return 64 + len(p.Name) + 256*len(p.Files) }

// pageFile is one file of a project page.
type pageFile struct {
	Filename string
	// Source is the upstream URL of the file (absolute, no fragment);
	// empty for hosted files.
	Source         string
	Hashes         map[string]string // algorithm → lowercase hex
	RequiresPython string
	Yanked         bool
	YankReason     string
	Size           int64 // -1 when unknown
	UploadTime     time.Time
	// Metadata says that core metadata is served at <file>.metadata, with
	// MetadataHashes when known (PEP 658/714).
	Metadata       bool
	MetadataHashes map[string]string
	// Version is the file's normalized version, "" when its name does not
	// parse.
	Version string
}

// find returns the file called filename.
func (p *page) find(filename string) (pageFile, bool) {
	for _, f := range p.Files {
		if f.Filename == filename {
			return f, true
		}
	}
	return pageFile{}, false
}

// versions lists the versions of p's files, in PEP 440 order.
func (p *page) versions() []string {
	seen := map[string]bool{}
	var vs []string
	for _, f := range p.Files {
		if f.Version != "" && !seen[f.Version] {
			seen[f.Version] = true
			vs = append(vs, f.Version)
		}
	}
	sortVersions(vs)
	return vs
}

// sortVersions sorts normalized versions in PEP 440 order; any that do
// not parse go first, in string order.
func sortVersions(vs []string) {
	slices.SortStableFunc(vs, func(a, b string) int {
		va, _, ea := ParseVersion(a)
		vb, _, eb := ParseVersion(b)
		switch {
		case ea != nil && eb != nil:
			return strings.Compare(a, b)
		case ea != nil:
			return -1
		case eb != nil:
			return 1
		}
		return va.Compare(vb)
	})
}

// ParseUpstream reads an upstream project page, JSON (PEP 691) or HTML
// (PEP 503) as contentType says, fetched from pageURL (against which
// relative links resolve). Files whose names are unsafe or do not belong
// to project are dropped. A page that is neither is an Upstream error.
func ParseUpstream(body []byte, contentType, pageURL, project string) (*page, error) {
	const op = "pypi.ParseUpstream"
	base, err := url.Parse(pageURL)
	if err != nil {
		return nil, fault.Wrap(op, fault.Internal, err)
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	var files []pageFile
	if strings.HasSuffix(mt, "+json") || mt == "application/json" {
		files, err = parseJSONPage(body, base)
	} else {
		files, err = parseHTMLPage(body, base)
	}
	if err != nil {
		return nil, fault.WrapMsg(op, fault.Upstream, "the upstream index sent a project page that does not parse", err)
	}
	p := &page{Name: project}
	seen := map[string]bool{}
	for _, f := range files {
		d, err := ParseFilename(f.Filename, project)
		if err != nil || Normalize(d.Project) != project || seen[f.Filename] {
			continue
		}
		seen[f.Filename] = true
		f.Version = d.Normal
		p.Files = append(p.Files, f)
	}
	return p, nil
}

// parseJSONPage reads a PEP 691 project page.
func parseJSONPage(body []byte, base *url.URL) ([]pageFile, error) {
	var doc struct {
		Files []struct {
			Filename         string            `json:"filename"`
			URL              string            `json:"url"`
			Hashes           map[string]string `json:"hashes"`
			RequiresPython   *string           `json:"requires-python"`
			CoreMetadata     json.RawMessage   `json:"core-metadata"`
			DistInfoMetadata json.RawMessage   `json:"dist-info-metadata"`
			Yanked           json.RawMessage   `json:"yanked"`
			Size             *int64            `json:"size"`
			UploadTime       string            `json:"upload-time"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var out []pageFile
	for _, jf := range doc.Files {
		u, err := base.Parse(jf.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		f := pageFile{Filename: jf.Filename, Hashes: cleanHashes(jf.Hashes), Size: -1}
		if frag := u.Fragment; frag != "" && len(f.Hashes) == 0 {
			f.Hashes = fragmentHash(frag)
		}
		u.Fragment, u.RawFragment = "", ""
		f.Source = u.String()
		if jf.RequiresPython != nil {
			f.RequiresPython = *jf.RequiresPython
		}
		meta := jf.CoreMetadata
		if len(meta) == 0 {
			meta = jf.DistInfoMetadata
		}
		f.Metadata, f.MetadataHashes = jsonMetadata(meta)
		f.Yanked, f.YankReason = jsonYanked(jf.Yanked)
		if jf.Size != nil && *jf.Size >= 0 {
			f.Size = *jf.Size
		}
		if t, err := time.Parse(time.RFC3339Nano, jf.UploadTime); err == nil {
			f.UploadTime = t.UTC()
		}
		out = append(out, f)
	}
	return out, nil
}

// jsonMetadata reads core-metadata: true, false, or a hash dictionary.
func jsonMetadata(raw json.RawMessage) (bool, map[string]string) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var hs map[string]string
	if json.Unmarshal(raw, &hs) == nil && hs != nil {
		return true, cleanHashes(hs)
	}
	return false, nil
}

// jsonYanked reads yanked: a boolean or a reason.
func jsonYanked(raw json.RawMessage) (bool, string) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return true, s
	}
	return false, ""
}

// parseHTMLPage reads a PEP 503 project page: every anchor is a file.
func parseHTMLPage(body []byte, base *url.URL) ([]pageFile, error) {
	z := xhtml.NewTokenizer(bytes.NewReader(body))
	var (
		out  []pageFile
		cur  *pageFile
		text strings.Builder
	)
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return out, nil // io.EOF: a tokenizer error on HTML is only ever the end
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			t := z.Token()
			switch t.Data {
			case "base":
				if href, ok := attr(t, "href"); ok {
					if u, err := base.Parse(href); err == nil {
						base = u
					}
				}
			case "a":
				href, ok := attr(t, "href")
				if !ok {
					continue
				}
				u, err := base.Parse(strings.TrimSpace(href))
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
					continue
				}
				f := pageFile{Hashes: fragmentHash(u.Fragment), Size: -1}
				u.Fragment, u.RawFragment = "", ""
				f.Source = u.String()
				f.RequiresPython, _ = attr(t, "data-requires-python")
				f.YankReason, f.Yanked = attr(t, "data-yanked")
				meta, ok := attr(t, "data-core-metadata")
				if !ok {
					meta, ok = attr(t, "data-dist-info-metadata")
				}
				if ok && meta != "false" {
					f.Metadata = true
					if meta != "true" {
						f.MetadataHashes = fragmentHash(meta)
					}
				}
				cur = &f
				text.Reset()
				if tt == xhtml.SelfClosingTagToken {
					cur = nil
				}
			}
		case xhtml.TextToken:
			if cur != nil {
				text.Write(z.Text())
			}
		case xhtml.EndTagToken:
			if cur != nil {
				if name, _ := z.TagName(); string(name) == "a" {
					cur.Filename = strings.TrimSpace(text.String())
					if cur.Filename == "" {
						cur.Filename = lastSegment(cur.Source)
					}
					out = append(out, *cur)
					cur = nil
				}
			}
		}
	}
}

func attr(t xhtml.Token, key string) (string, bool) {
	for _, a := range t.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func lastSegment(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	p := u.EscapedPath()
	s, err := url.PathUnescape(p[strings.LastIndexByte(p, '/')+1:])
	if err != nil {
		return ""
	}
	return s
}

// fragmentHash reads "sha256=<hex>" (a URL fragment, or a metadata
// attribute) into a hash map; nil when it is anything else.
func fragmentHash(s string) map[string]string {
	alg, hex, ok := strings.Cut(s, "=")
	if !ok {
		return nil
	}
	return cleanHashes(map[string]string{alg: hex})
}

// hexLen is the digest length of the hash algorithms pages name.
var hexLen = map[string]int{"sha256": 64, "sha512": 128, "sha384": 96, "sha224": 56, "sha1": 40, "md5": 32, "blake2b_256": 64}

// cleanHashes keeps the well-formed hashes of known algorithms, in
// lowercase.
func cleanHashes(in map[string]string) map[string]string {
	var out map[string]string
	for alg, h := range in {
		h = strings.ToLower(h)
		alg = strings.ToLower(alg)
		if n, ok := hexLen[alg]; !ok || len(h) != n || !isHex(h) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[alg] = h
	}
	return out
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// strongest picks the hash a PEP 503 link fragment carries: sha256 when
// there is one, which every client checks.
func strongest(hs map[string]string) (alg, hex string) {
	for _, a := range []string{"sha256", "sha512", "sha384", "sha224", "sha1", "md5"} {
		if h, ok := hs[a]; ok {
			return a, h
		}
	}
	return "", ""
}

// format is a negotiated representation of a simple API page.
type format struct {
	json        bool
	contentType string
}

// negotiate picks the representation an Accept header prefers (PEP 691):
// JSON, or HTML under the media type asked for. No Accept header is
// text/html, as PyPI answers browsers; nothing acceptable is false (406).
func negotiate(accept string) (format, bool) {
	if strings.TrimSpace(accept) == "" {
		return format{contentType: typeHTML}, true
	}
	best, bestQ := format{}, -1.0
	for _, r := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
		if err != nil {
			continue
		}
		q := 1.0
		if qs, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(qs, 64); err == nil && v >= 0 && v <= 1 {
				q = v
			}
		}
		var f format
		switch mt {
		case typeJSON, "application/vnd.pypi.simple.latest+json":
			f = format{json: true, contentType: typeJSON}
		case typeHTMLv1, "application/vnd.pypi.simple.latest+html":
			f = format{contentType: typeHTMLv1}
		case typeHTML, "text/*", "*/*":
			f = format{contentType: typeHTML}
		case "application/*":
			f = format{json: true, contentType: typeJSON}
		default:
			continue
		}
		if q > bestQ && q > 0 {
			best, bestQ = f, q
		}
	}
	return best, bestQ > 0
}

// fileURL is where the edge serves a project's file; base is the mount
// point's public URL, as for every Render function.
func fileURL(base, project, filename string) string {
	return base + "/files/" + url.PathEscape(project) + "/" + url.PathEscape(filename)
}

// RenderHTML writes p as a PEP 503 page (with PEP 592, 658, 714 data
// attributes) whose links point at the edge under base.
func RenderHTML(p *page, base string) []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"" + apiVersion + "\">\n")
	b.WriteString("    <title>Links for " + html.EscapeString(p.Name) + "</title>\n  </head>\n  <body>\n")
	b.WriteString("    <h1>Links for " + html.EscapeString(p.Name) + "</h1>\n")
	for _, f := range p.Files {
		b.WriteString(`    <a href="`)
		b.WriteString(html.EscapeString(fileURL(base, p.Name, f.Filename)))
		if alg, h := strongest(f.Hashes); alg != "" {
			b.WriteString("#" + alg + "=" + h)
		}
		b.WriteByte('"')
		if f.RequiresPython != "" {
			b.WriteString(` data-requires-python="` + html.EscapeString(f.RequiresPython) + `"`)
		}
		if f.Metadata {
			v := "true"
			if h, ok := f.MetadataHashes["sha256"]; ok {
				v = "sha256=" + h
			}
			b.WriteString(` data-core-metadata="` + v + `" data-dist-info-metadata="` + v + `"`)
		}
		if f.Yanked {
			b.WriteString(` data-yanked="` + html.EscapeString(f.YankReason) + `"`)
		}
		b.WriteString(">" + html.EscapeString(f.Filename) + "</a><br />\n")
	}
	b.WriteString("  </body>\n</html>\n")
	return b.Bytes()
}

// RenderJSON writes p as a PEP 691 page (API 1.1, with PEP 700's
// versions, size and upload-time) whose URLs point at the edge under base.
func RenderJSON(p *page, base string) []byte {
	type jfile struct {
		Filename       string            `json:"filename"`
		URL            string            `json:"url"`
		Hashes         map[string]string `json:"hashes"`
		RequiresPython string            `json:"requires-python,omitempty"`
		// Only PEP 714's key: pip before 23.1 crashes on a hash dictionary
		// under the legacy dist-info-metadata key (the reason PEP 714
		// renamed it).
		CoreMetadata any    `json:"core-metadata,omitempty"`
		Yanked       any    `json:"yanked"`
		Size         *int64 `json:"size,omitempty"`
		UploadTime   string `json:"upload-time,omitempty"`
	}
	doc := struct {
		Meta     map[string]any `json:"meta"`
		Name     string         `json:"name"`
		Versions []string       `json:"versions"`
		Files    []jfile        `json:"files"`
	}{Meta: map[string]any{"api-version": apiVersion}, Name: p.Name, Versions: p.versions(), Files: []jfile{}}
	if p.Serial > 0 {
		doc.Meta["_last-serial"] = p.Serial
	}
	if doc.Versions == nil {
		doc.Versions = []string{}
	}
	for _, f := range p.Files {
		jf := jfile{Filename: f.Filename, URL: fileURL(base, p.Name, f.Filename), Hashes: f.Hashes, RequiresPython: f.RequiresPython, Yanked: false}
		if jf.Hashes == nil {
			jf.Hashes = map[string]string{}
		}
		if f.Metadata {
			var m any = true
			if len(f.MetadataHashes) > 0 {
				m = f.MetadataHashes
			}
			jf.CoreMetadata = m
		}
		if f.Yanked {
			jf.Yanked = true
			if f.YankReason != "" {
				jf.Yanked = f.YankReason
			}
		}
		if f.Size >= 0 {
			jf.Size = &f.Size
		}
		if !f.UploadTime.IsZero() {
			jf.UploadTime = uploadTime(f.UploadTime)
		}
		doc.Files = append(doc.Files, jf)
	}
	return marshal(doc)
}

// marshal encodes v as JSON without HTML escaping, newline-terminated.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return b.Bytes()
}

// uploadTime formats t as PEP 700 asks: ISO 8601 UTC with a Z.
func uploadTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// RenderIndex writes the root listing of projects in format f.
func RenderIndex(names []string, base string, f format) []byte {
	if f.json {
		type proj struct {
			Name string `json:"name"`
		}
		doc := struct {
			Meta     map[string]string `json:"meta"`
			Projects []proj            `json:"projects"`
		}{Meta: map[string]string{"api-version": apiVersion}, Projects: []proj{}}
		for _, n := range names {
			doc.Projects = append(doc.Projects, proj{n})
		}
		b, _ := json.Marshal(doc)
		return append(b, '\n')
	}
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"" + apiVersion + "\">\n    <title>Simple index</title>\n  </head>\n  <body>\n")
	for _, n := range names {
		b.WriteString(`    <a href="` + html.EscapeString(base+"/simple/"+url.PathEscape(n)+"/") + `">` + html.EscapeString(n) + "</a><br />\n")
	}
	b.WriteString("  </body>\n</html>\n")
	return b.Bytes()
}
