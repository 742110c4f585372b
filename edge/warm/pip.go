package warm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"entrepot/hosted/fault"
)

// pep503 folds a project name as PyPI's simple index does.
var pep503 = regexp.MustCompile(`[-_.]+`)

// parseRequirements reads a requirements.txt made with hashes (pip-compile
// --generate-hashes, pip freeze plus hashin, uv pip compile): each
// "name==version --hash=sha256:..." line is one project whose file is
// found at warm time on its simple page, as pip finds it, by hash.
// Requirements without a pinned version or without hashes are refused:
// pip install --require-hashes would refuse them too.
func parseRequirements(body []byte) ([]Item, error) {
	// Join continuation lines first.
	text := strings.ReplaceAll(string(body), "\\\r\n", " ")
	text = strings.ReplaceAll(text, "\\\n", " ")
	var items []Item
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "-") {
			continue // comments and options (--index-url, -r, ...)
		}
		fields := strings.Fields(line)
		spec, _, _ := strings.Cut(fields[0], ";") // environment markers
		name, version, ok := strings.Cut(spec, "==")
		if !ok || version == "" {
			return nil, fault.Newf("warm", fault.Invalid, "requirements.txt: %q is not pinned with ==", fields[0])
		}
		if i := strings.Index(name, "["); i >= 0 {
			name = name[:i] // extras
		}
		var hashes []string
		for _, f := range fields[1:] {
			if h, ok := strings.CutPrefix(f, "--hash=sha256:"); ok {
				sum, err := hex.DecodeString(h)
				if err != nil || len(sum) != 32 {
					return nil, fault.Newf("warm", fault.Invalid, "requirements.txt: %s: hash %q is not a sha256", name, h)
				}
				hashes = append(hashes, "sha256-"+base64.StdEncoding.EncodeToString(sum))
			}
		}
		if len(hashes) == 0 {
			return nil, fault.Newf("warm", fault.Invalid, "requirements.txt: %s==%s has no --hash=sha256: (pip install --require-hashes needs them)", name, version)
		}
		project := strings.ToLower(pep503.ReplaceAllString(name, "-"))
		// One item per project: the hashes name every file pip may pick
		// (wheels for each platform, the sdist); the mirror gets each.
		for _, h := range hashes {
			items = append(items, Item{Protocol: "pypi", Name: project, Version: version,
				Path: "", Index: "/simple/" + project + "/", Integrity: h})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fault.Newf("warm", fault.Invalid, "requirements.txt: %v", err)
	}
	return items, nil
}

// locate finds, on the project's simple page (PEP 691 JSON, through the
// edge), the file whose sha256 is the item's, and returns its path under
// the protocol's mount point.
func locate(ctx context.Context, f Fetcher, it Item) (string, int, string) {
	status, body, err := f.Fetch(ctx, it.Protocol, it.Index, "application/vnd.pypi.simple.v1+json")
	if err != nil {
		return "", 0, err.Error()
	}
	defer body.Close()
	raw, _ := io.ReadAll(io.LimitReader(body, 32<<20))
	if status != 200 {
		return "", status, strings.TrimSpace(string(raw))
	}
	var page struct {
		Files []struct {
			Filename string            `json:"filename"`
			URL      string            `json:"url"`
			Hashes   map[string]string `json:"hashes"`
		} `json:"files"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(raw), &page); err != nil {
		return "", status, "the simple page is not PEP 691 JSON: " + err.Error()
	}
	_, want, _ := strings.Cut(it.Integrity, "-")
	sum, _ := base64.StdEncoding.DecodeString(want)
	for _, file := range page.Files {
		if file.Hashes["sha256"] != hex.EncodeToString(sum) {
			continue
		}
		// Links are absolute or relative to the page: resolve them
		// against the page's own path, then drop the mount point.
		pre := f.Prefix(it.Protocol)
		page, _ := url.Parse(pre + it.Index)
		u, err := url.Parse(file.URL)
		if err != nil {
			return "", status, fmt.Sprintf("file %s: bad url", file.Filename)
		}
		return strings.TrimPrefix(page.ResolveReference(u).EscapedPath(), pre), 200, ""
	}
	return "", 404, fmt.Sprintf("no file of %s %s has the sha256 the lockfile pins", it.Name, it.Version)
}
