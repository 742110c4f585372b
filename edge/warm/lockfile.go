package warm

import (
	"encoding/json"
	"path"
	"strings"

	"entrepot/hosted/fault"
)

// Item is one pinned artifact of a lockfile: where the edge serves it and
// what the lockfile says its bytes hash to.
type Item struct {
	// Protocol is the package protocol that serves the artifact ("npm").
	Protocol string `json:"protocol"`
	// Name and Version name the artifact for the report.
	Name    string `json:"name"`
	Version string `json:"version"`
	// Path is the artifact's path under the protocol's mount point, as
	// a client configured with the edge asks for it ("/left-pad/-/left-pad-1.0.0.tgz").
	// "" until found on Index, when the lockfile names no file.
	Path string `json:"path"`
	// Index is the page (under the mount) that lists the files of a
	// lockfile entry pinned by hash only (requirements.txt).
	Index string `json:"index,omitempty"`
	// Integrity is the lockfile's own digest of the artifact, in SRI
	// form ("sha512-<base64>", "sha1-<base64>"); "" when it has none.
	Integrity string `json:"integrity,omitempty"`
}

// Parse reads the lockfile named name (its base name decides the format;
// "" sniffs the content) into the artifacts it pins. It is pure. Errors are
// Invalid: an unknown format or a file that is not what its name says.
func Parse(name string, body []byte) ([]Item, error) {
	base := path.Base(name)
	switch {
	case base == "package-lock.json" || base == "npm-shrinkwrap.json":
		return parseNpm(body)
	case strings.HasSuffix(base, ".txt") && strings.HasPrefix(base, "requirements"):
		return parseRequirements(body)
	case base == "Cargo.lock":
		return parseCargo(body)
	case name == "" || base == "." || base == "/":
		if json.Valid(body) && strings.Contains(string(body), `"lockfileVersion"`) {
			return parseNpm(body)
		}
	}
	return nil, fault.Newf("warm", fault.Invalid, "lockfile %q: format not supported (package-lock.json, npm-shrinkwrap.json, requirements*.txt with hashes, Cargo.lock)", base)
}

// npmEntry is a package of a package-lock.json: v2 and v3 list them under
// "packages" keyed by their node_modules path, v1 under "dependencies",
// nested.
type npmEntry struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Resolved  string `json:"resolved"`
	Integrity string `json:"integrity"`
	Link      bool   `json:"link"`
	Bundled   bool   `json:"inBundle"`
	BundledV1 bool   `json:"bundled"`
	// Dependencies are v1's nested entries; in v2 and v3 they are
	// ranges, so they are decoded only while walking v1.
	Dependencies json.RawMessage `json:"dependencies"`
}

func parseNpm(body []byte) ([]Item, error) {
	var lock struct {
		LockfileVersion int                 `json:"lockfileVersion"`
		Packages        map[string]npmEntry `json:"packages"`
		Dependencies    json.RawMessage     `json:"dependencies"`
	}
	if err := json.Unmarshal(body, &lock); err != nil {
		return nil, fault.Newf("warm", fault.Invalid, "package-lock.json is not a lockfile: %v", err)
	}
	seen := map[string]bool{}
	var items []Item
	add := func(name string, e npmEntry) {
		if e.Link || e.Bundled || e.BundledV1 || e.Version == "" || name == "" {
			return
		}
		// A git, file or alias dependency has no registry tarball.
		if e.Resolved != "" && !strings.HasSuffix(e.Resolved, ".tgz") {
			return
		}
		if strings.HasPrefix(e.Version, "file:") || strings.Contains(e.Version, "://") || strings.HasPrefix(e.Version, "npm:") {
			return
		}
		file := path.Base(e.Resolved)
		if e.Resolved == "" {
			file = path.Base(name) + "-" + e.Version + ".tgz"
		}
		p := "/" + name + "/-/" + file
		if seen[p] {
			return
		}
		seen[p] = true
		items = append(items, Item{Protocol: "npm", Name: name, Version: e.Version, Path: p, Integrity: e.Integrity})
	}
	if len(lock.Packages) > 0 {
		for key, e := range lock.Packages {
			if key == "" {
				continue // the project itself
			}
			name := e.Name
			if name == "" {
				i := strings.LastIndex(key, "node_modules/")
				if i < 0 {
					continue // a workspace folder, not a dependency
				}
				name = key[i+len("node_modules/"):]
			}
			add(name, e)
		}
		return items, nil
	}
	var walk func(json.RawMessage) error
	walk = func(raw json.RawMessage) error {
		if len(raw) == 0 {
			return nil
		}
		var deps map[string]npmEntry
		if err := json.Unmarshal(raw, &deps); err != nil {
			return fault.Newf("warm", fault.Invalid, "package-lock.json: dependencies: %v", err)
		}
		for name, e := range deps {
			add(name, e)
			if err := walk(e.Dependencies); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(lock.Dependencies); err != nil {
		return nil, err
	}
	return items, nil
}
