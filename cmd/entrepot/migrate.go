package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// migrateCmd copies the hosted packages of a registry of the kind
// Entrepot replaces (or of another Entrepot) into a running Entrepot,
// reading the old one through its own protocols at their root paths and
// publishing through Entrepot's: the content-addressed layout, the
// revisions and the checks are Entrepot's own, as for any publish. The
// package list comes from the old registry's management API
// (GET /api/v1/packages), which both share. A version the target already
// has is reported and skipped, so the command can be run again.
//
//	entrepot migrate --from URL --from-token T [--to URL] [--token T] [--protocols npm,pypi,rubygems,composer]
func migrateCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	from := fs.String("from", "", "base URL of the old registry (its protocols at the root)")
	fromToken := fs.String("from-token", getenv("MIGRATE_FROM_TOKEN"), "token of the old registry (default $MIGRATE_FROM_TOKEN)")
	to := fs.String("to", getenv("ENTREPOT_URL"), "base URL of this Entrepot (default $ENTREPOT_URL)")
	token := fs.String("token", getenv("ENTREPOT_TOKEN"), "srg_ token with publish rights on the target (default $ENTREPOT_TOKEN)")
	protos := fs.String("protocols", "npm,pypi,rubygems,composer", "protocols to migrate")
	timeout := fs.Duration("timeout", 2*time.Minute, "deadline of each request")
	maxSize := fs.Int64("max-size", 1<<30, "largest document or file read from the old registry, in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || *token == "" {
		return fmt.Errorf("migrate: --from, --to (or ENTREPOT_URL) and --token (or ENTREPOT_TOKEN) are required")
	}
	m := &migration{
		from: strings.TrimSuffix(*from, "/"), fromToken: *fromToken,
		to: strings.TrimSuffix(*to, "/"), token: *token,
		client: &http.Client{Timeout: *timeout}, out: stdout, maxSize: *maxSize,
	}
	kinds := map[string]func(context.Context, string) error{"npm": m.npm, "pypi": m.pypi, "rubygems": m.gem, "composer": m.composer}
	ctx := context.Background()
	for _, p := range strings.Split(*protos, ",") {
		migrate, ok := kinds[p]
		if !ok {
			return fmt.Errorf("migrate: protocol %q is not migrated (npm, pypi, rubygems, composer)", p)
		}
		names, err := m.packages(ctx, p)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := migrate(ctx, n); err != nil {
				m.report(p, n, "", "failed: "+err.Error())
			}
		}
	}
	fmt.Fprintf(stdout, "migrated %d versions, %d already there, %d failed\n", m.done, m.skipped, m.failed)
	if m.failed > 0 {
		return fmt.Errorf("migrate: %d versions failed", m.failed)
	}
	return nil
}

type migration struct {
	from, fromToken, to, token string
	client                     *http.Client
	out                        io.Writer
	maxSize                    int64
	done, skipped, failed      int
}

func (m *migration) report(proto, name, version, what string) {
	switch {
	case what == "migrated":
		m.done++
	case what == "exists":
		m.skipped++
	default:
		m.failed++
	}
	fmt.Fprintf(m.out, "%s %s %s: %s\n", proto, name, version, what)
}

// get reads a URL of the old registry, which must answer 200.
func (m *migration) get(ctx context.Context, u string, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	// The old registry's token goes to the old registry only, never to
	// a host its documents link to.
	if m.fromToken != "" && (u == m.from || strings.HasPrefix(u, m.from+"/")) {
		req.Header.Set("Authorization", "Bearer "+m.fromToken)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if resp.ContentLength > m.maxSize {
		return nil, fmt.Errorf("GET %s: %d bytes, over --max-size", u, resp.ContentLength)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, m.maxSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > m.maxSize {
		return nil, fmt.Errorf("GET %s: over --max-size (%d bytes)", u, m.maxSize)
	}
	return b, nil
}

// send publishes to the target: "migrated", "exists" (409), or an error
// with the target's answer.
func (m *migration) send(ctx context.Context, method, u, ctype, authz string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", authz)
	resp, err := m.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode < 300:
		return "migrated", nil
	// Each protocol says "already there" its own way: a 409 that says
	// the version or file exists (PyPI, RubyGems, Composer), npm's 403
	// "cannot publish over". Another 409 (a name another organization
	// holds) is a failure.
	case resp.StatusCode == http.StatusConflict && bytes.Contains(bytes.ToLower(msg), []byte("exist")) ||
		resp.StatusCode == http.StatusForbidden && bytes.Contains(msg, []byte("cannot publish over")):
		return "exists", nil
	}
	return "", fmt.Errorf("%s %s: %s %s", method, u, resp.Status, bytes.TrimSpace(msg))
}

// packages lists the old registry's hosted packages of a protocol.
func (m *migration) packages(ctx context.Context, proto string) ([]string, error) {
	var names []string
	cursor := ""
	for {
		u := m.from + "/api/v1/packages?limit=1000&protocol=" + url.QueryEscape(proto)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		b, err := m.get(ctx, u, "application/json")
		if err != nil {
			return nil, fmt.Errorf("migrate: listing %s packages: %w", proto, err)
		}
		var page struct {
			Items []struct {
				Name string `json:"name"`
			} `json:"items"`
			NextCursor string `json:"nextCursor"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("migrate: listing %s packages: %w", proto, err)
		}
		for _, it := range page.Items {
			names = append(names, it.Name)
		}
		if cursor = page.NextCursor; cursor == "" {
			return names, nil
		}
	}
}

// npm publishes every version of a package from its full packument, in
// publication order, each with the dist-tags that name it.
func (m *migration) npm(ctx context.Context, name string) error {
	raw, err := m.get(ctx, m.from+"/"+strings.Replace(url.PathEscape(name), "%40", "@", 1), "application/json")
	if err != nil {
		return err
	}
	var doc struct {
		DistTags map[string]string          `json:"dist-tags"`
		Versions map[string]json.RawMessage `json:"versions"`
		Time     map[string]string          `json:"time"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("packument: %w", err)
	}
	versions := make([]string, 0, len(doc.Versions))
	for v := range doc.Versions {
		versions = append(versions, v)
	}
	slices.SortFunc(versions, func(a, b string) int { return strings.Compare(doc.Time[a]+a, doc.Time[b]+b) })
	for _, v := range versions {
		var man struct {
			Dist struct {
				Tarball string `json:"tarball"`
			} `json:"dist"`
		}
		json.Unmarshal(doc.Versions[v], &man)
		tgz, err := m.get(ctx, man.Dist.Tarball, "")
		if err != nil {
			m.report("npm", name, v, "failed: "+err.Error())
			continue
		}
		tags := map[string]string{}
		for t, tv := range doc.DistTags {
			if tv == v {
				tags[t] = v
			}
		}
		base := name[strings.LastIndex(name, "/")+1:]
		body, _ := json.Marshal(map[string]any{
			"_id": name, "name": name, "dist-tags": tags,
			"versions": map[string]json.RawMessage{v: doc.Versions[v]},
			"_attachments": map[string]any{base + "-" + v + ".tgz": map[string]any{
				"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tgz), "length": len(tgz),
			}},
		})
		what, err := m.send(ctx, "PUT", m.to+"/npm/"+url.PathEscape(name), "application/json", "Bearer "+m.token, body)
		if err != nil {
			what = "failed: " + err.Error()
		}
		m.report("npm", name, v, what)
	}
	return nil
}

// pypi uploads every file of every release, from the JSON API, as twine
// would.
func (m *migration) pypi(ctx context.Context, name string) error {
	raw, err := m.get(ctx, m.from+"/pypi/"+url.PathEscape(name)+"/json", "application/json")
	if err != nil {
		return err
	}
	var doc struct {
		Info struct {
			Name    string `json:"name"`
			Summary string `json:"summary"`
		} `json:"info"`
		Releases map[string][]struct {
			Filename      string            `json:"filename"`
			URL           string            `json:"url"`
			Digests       map[string]string `json:"digests"`
			PackageType   string            `json:"packagetype"`
			PythonVersion string            `json:"python_version"`
		} `json:"releases"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("JSON API: %w", err)
	}
	for v, files := range doc.Releases {
		for _, f := range files {
			content, err := m.get(ctx, f.URL, "")
			if err == nil {
				if sum := sha256.Sum256(content); f.Digests["sha256"] != "" && hex.EncodeToString(sum[:]) != f.Digests["sha256"] {
					err = fmt.Errorf("%s does not match its sha256", f.Filename)
				}
			}
			if err != nil {
				m.report("pypi", name, v, "failed: "+err.Error())
				continue
			}
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			sum := sha256.Sum256(content)
			for k, val := range map[string]string{
				":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
				"name": doc.Info.Name, "version": v, "filetype": f.PackageType, "pyversion": f.PythonVersion,
				"summary": doc.Info.Summary, "sha256_digest": hex.EncodeToString(sum[:]),
			} {
				mw.WriteField(k, val)
			}
			w, _ := mw.CreateFormFile("content", f.Filename)
			w.Write(content)
			mw.Close()
			what, err := m.send(ctx, "POST", m.to+"/pypi/", mw.FormDataContentType(),
				"Basic "+base64.StdEncoding.EncodeToString([]byte("__token__:"+m.token)), buf.Bytes())
			if err != nil {
				what = "failed: " + err.Error()
			}
			m.report("pypi", name, v+" "+f.Filename, what)
		}
	}
	return nil
}

// gem pushes every version of a gem, from the compact index's info file.
func (m *migration) gem(ctx context.Context, name string) error {
	raw, err := m.get(ctx, m.from+"/info/"+url.PathEscape(name), "")
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if line == "---" || line == "" {
			continue
		}
		v, _, _ := strings.Cut(line, " ") // VERSION[-PLATFORM] DEPS|REQS
		gem, err := m.get(ctx, m.from+"/gems/"+url.PathEscape(name+"-"+v)+".gem", "")
		if err != nil {
			m.report("rubygems", name, v, "failed: "+err.Error())
			continue
		}
		what, err := m.send(ctx, "POST", m.to+"/rubygems/api/v1/gems", "application/octet-stream", m.token, gem)
		if err != nil {
			what = "failed: " + err.Error()
		}
		m.report("rubygems", name, v, what)
	}
	return nil
}

// composer publishes every tagged version of a package, read as Composer
// reads it: packages.json's metadata-url (Composer 2, minified or not),
// else its providers-url (Composer 1), and each version's dist archive.
// Development versions (branches) are not migrated: they are published
// again from their branches.
func (m *migration) composer(ctx context.Context, name string) error {
	rootURL := m.from + "/packages.json"
	raw, err := m.get(ctx, rootURL, "application/json")
	if err != nil {
		return err
	}
	var root struct {
		MetadataURL  string `json:"metadata-url"`
		ProvidersURL string `json:"providers-url"`
	}
	if err := json.Unmarshal(raw, &root); err != nil {
		return fmt.Errorf("packages.json: %w", err)
	}
	tmpl := root.MetadataURL
	if tmpl == "" {
		tmpl = root.ProvidersURL
	}
	if tmpl == "" {
		return fmt.Errorf("packages.json names neither metadata-url nor providers-url")
	}
	base, _ := url.Parse(rootURL)
	ref, err := url.Parse(strings.ReplaceAll(tmpl, "%package%", name))
	if err != nil {
		return fmt.Errorf("packages.json: %w", err)
	}
	if raw, err = m.get(ctx, base.ResolveReference(ref).String(), "application/json"); err != nil {
		return err
	}
	versions, err := composerVersions(raw, name)
	if err != nil {
		return err
	}
	for _, v := range versions {
		var ver struct {
			Version string `json:"version"`
			Dist    struct {
				URL string `json:"url"`
			} `json:"dist"`
		}
		json.Unmarshal(v, &ver)
		if ver.Version == "" || strings.HasPrefix(ver.Version, "dev-") || strings.HasSuffix(ver.Version, "-dev") {
			continue
		}
		zip, err := m.get(ctx, ver.Dist.URL, "")
		if err != nil {
			m.report("composer", name, ver.Version, "failed: "+err.Error())
			continue
		}
		what, err := m.send(ctx, "PUT", m.to+"/composer/packages/"+name+"?version="+url.QueryEscape(ver.Version), "application/zip", "Bearer "+m.token, zip)
		if err != nil {
			what = "failed: " + err.Error()
		}
		m.report("composer", name, ver.Version, what)
	}
	return nil
}

// composerVersions reads a package's versions from a Composer 2 metadata
// file ({"packages": {NAME: [v, ...]}}, expanded when "minified": each
// version then holds only what differs from the one before, "__unset"
// removing a key) or a Composer 1 provider file ({"packages": {NAME:
// {VERSION: v}}}).
func composerVersions(raw []byte, name string) ([]json.RawMessage, error) {
	var doc struct {
		Packages map[string]json.RawMessage `json:"packages"`
		Minified string                     `json:"minified"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", name, err)
	}
	pkg, ok := doc.Packages[name]
	if !ok {
		return nil, fmt.Errorf("metadata of %s does not name it", name)
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(pkg, &list); err != nil {
		var byVersion map[string]json.RawMessage
		if err := json.Unmarshal(pkg, &byVersion); err != nil {
			return nil, fmt.Errorf("metadata of %s: %w", name, err)
		}
		out := make([]json.RawMessage, 0, len(byVersion))
		for _, k := range slices.Sorted(maps.Keys(byVersion)) {
			out = append(out, byVersion[k])
		}
		return out, nil
	}
	out := make([]json.RawMessage, 0, len(list))
	prev := map[string]json.RawMessage{}
	for _, v := range list {
		cur := v
		if doc.Minified != "" {
			cur = maps.Clone(prev)
			for k, val := range v {
				if string(val) == `"__unset"` {
					delete(cur, k)
				} else {
					cur[k] = val
				}
			}
			prev = cur
		}
		b, _ := json.Marshal(cur)
		out = append(out, b)
	}
	return out, nil
}
