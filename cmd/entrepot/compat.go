package main

import (
	"strings"

	"entrepot/edge"
)

// The root paths (ROOT_PATHS, on by default): the registry Entrepot
// replaces serves npm, PyPI, Composer, RubyGems and Cargo at the root of
// the server, and its users' client configurations say so
// ("registry=http://registry:3000", "--index-url http://registry:3000/simple/",
// "gem sources -a http://registry:3000"). These rules serve those paths
// beside the prefixed ones, by rewriting them onto the mount points before
// routing (edge.RootRule): one pipeline, and links in the form the client
// used.
//
// What no rule takes and no root route holds (the dashboard, /api, /v2,
// /maven2, /health, /metrics, the protocols' prefixes) is an npm name:
// npm's names are served at the root but for those first segments, which
// npm serves under /npm/ only (README, "Root paths").
const rootFallback = "/npm"

var rootRules = []edge.RootRule{
	// Cargo: the web API at /api/v1/crates (publish, yank, owners,
	// search, downloads) and the sparse index at /api/v1/crates/index/.
	// These and /api/v1/gems are the only /api/v1 paths that are not the
	// management API.
	{Prefix: "/cargo", MatchSegment: "api", Match: cargoRoot},
	// RubyGems: the push and yank API, and what gem and Bundler read.
	{Prefix: "/rubygems", MatchSegment: "api", Match: rubygemsAPI, Segments: []string{
		"gems", "info", "names", "versions", "quick",
		"specs.4.8.gz", "latest_specs.4.8.gz", "prerelease_specs.4.8.gz",
	}},
	// PyPI: the simple index and its files, and the JSON API at
	// /pypi/<project>/json (uploads to /pypi/ are PyPI's own path).
	{Prefix: "/pypi", MatchSegment: "pypi", Match: pypiJSON, Segments: []string{"simple", "files"}},
	// Composer: the repository root, Composer 2's and Composer 1's
	// metadata, dists, search, download notifications and publishing.
	{Prefix: "/composer", Segments: []string{"packages.json", "p2", "p", "dist", "search.json", "downloads", "packages"}},
}

// cargoRoot takes /api/v1/crates[/...]. Under /api/v1/crates/index/ is the
// index, but for the API paths of a crate named "index" itself
// (/api/v1/crates/index/owners, /api/v1/crates/index/<version>/download),
// which no index path looks like.
func cargoRoot(path string) (string, bool) {
	const api = "/api/v1/crates"
	if path != api && !strings.HasPrefix(path, api+"/") {
		return "", false
	}
	if rest, ok := strings.CutPrefix(path, api+"/index/"); ok {
		segs := strings.Split(rest, "/")
		if rest != "owners" && !(len(segs) == 2 && segs[1] == "download") {
			return "/index/" + rest, true
		}
	}
	return path, true
}

func rubygemsAPI(path string) (string, bool) {
	const api = "/api/v1/gems"
	return path, path == api || strings.HasPrefix(path, api+"/")
}

// pypiJSON takes /pypi/<project>/json and /pypi/<project>/<version>/json,
// which are /pypi/pypi/... under the mount point. /pypi/pypi/<project>/json
// is Entrepot's own form and wins over a version of a project named pypi.
func pypiJSON(path string) (string, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if segs[0] != "pypi" || segs[len(segs)-1] != "json" {
		return "", false
	}
	if len(segs) == 3 || len(segs) == 4 && segs[1] != "pypi" {
		return path, true
	}
	return "", false
}
