// Package mirror is the mirror toolkit the protocol packages share: the
// cache keys of everything mirrored (this file, the only place a key is
// built) and the fetches that fill them from an upstream (fetch.go).
//
// One policy for keys: content is keyed by what it is — protocol, kind,
// then the package's coordinates, and for an artifact the digest its
// metadata promised when the request knows it before the fill — never by
// the URL that served it. So a changed upstream URL keeps the cache, a
// mirror restarted against an upstream that is down still serves
// everything it holds, and metadata that starts promising other bytes for
// a file names another key (the cache only checks a stored sha256 itself).
// An operator who points a protocol at a different registry (other
// content under the same names) runs `entrepot cache purge --protocol P`,
// which removes every record under Prefixes(P).
//
// The layout (one record per key in the cache's store; the bytes are
// blobs, shared by every key whose content has the same digest):
//
//	npm/
//	    packument/<name>                    full packument (lodash, @scope/pkg)          TTL
//	    abbreviated/<name>                  abbreviated packument (corgi)                 TTL
//	    tarball/<name>/<file>               verified against dist.integrity              forever
//	oci/
//	    blob/<digest>                       layer or config, any repository or upstream  forever
//	    manifest/<digest>                   manifest pulled by digest                    forever
//	    tag/<prefix>/<name>/<tag>           manifest pulled by tag                       TTL
//	    tags/<prefix>/<name>?<query>        one page of the tags list                    TTL
//	    referrers/<prefix>/<name>/<digest>  referrers list of a subject                  TTL
//	pypi/
//	    page/<project>                      simple page (JSON or HTML)                   TTL
//	    file/<project>/<filename>/<digest>  file with the page's sha256 or sha512        forever
//	    file/<project>/<filename>           one without (nothing to verify it by)        TTL
//	    metadata/<project>/<filename>[/<digest>]  its core metadata (PEP 658), likewise
//	cargo/
//	    config.json                         the index's config.json (its dl template)    TTL
//	    index/<name>                        index file of a crate (name lowercase)       TTL
//	    crate/<name>/<version>/<digest>     .crate, verified against the index's cksum   forever
//	maven/
//	    metadata/<path>                     maven-metadata.xml                           TTL
//	    artifact/<path>                     any other file (a SNAPSHOT's plain name: TTL) forever
//	    checksum/<path>                     upstream .sha1, ... of a file not cached      forever
//	composer/
//	    packages.json                       the repository's root (its metadata-url)     TTL
//	    p2/<vendor>/<name>[~dev]            p2 document                                  TTL
//	    dist/<vendor>/<name>/<version>/<reference>.<type>[/<digest>]  dist, verified
//	                                        against its shasum when it has one          forever
//	rubygems/
//	    versions, names                     compact index files                          TTL
//	    info/<name>                         compact index info file                      TTL
//	    gem/<full name>/<digest>            .gem, verified against its info checksum     forever
//	    gemspec/<full name>                 quick/Marshal.4.8 gemspec                    forever
//	go/
//	    list/<module>, latest/<module>      @v/list, @latest                              TTL
//	    info/<module>/<version>             .info of a canonical version                  forever
//	    query/<module>/<query>              .info of any other query (a branch)           TTL
//	    mod/<module>/<version>              .mod                                          forever
//	    zip/<module>/<version>              .zip, checked by golang.org/x/mod/zip's rules forever
//	    sumdb/<name>/latest                 the checksum database's signed tree head      TTL
//	    sumdb/<name>/<path>                 a lookup or a tile                            forever
//
// Go module paths are keyed decoded (capitals as they are), which is
// one name whatever the client's case encoding.
//
// <prefix> is the operator's name of an OCI upstream (UPSTREAM_OCI's
// "hub=..."), not its URL: it tells two registries' repositories apart.
// Digests are written "<algorithm>:<hex>"; versions as the protocol
// normalizes them. npm tarballs and Maven files carry no digest in their
// key because it is known only inside the fill (from the packument, from
// the upstream's .sha1): so a repeat download is answered without reading
// the packument.
//
// Keys of the layout before this one are read once and moved to their
// new name (see the Legacy functions and cache.Request.Legacy), so that
// an upgraded mirror keeps serving what it held, offline too: npm's
// ("npm:packument:<name>") and OCI's ("oci/<prefix>/blobs/<digest>")
// named no URL; the others named the upstream's host, and are found as
// long as the upstream URL is the one they were filled from.
package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"

	"entrepot/hosted/blob"
)

// The protocols' names, as the first segment of their keys.
const (
	npm      = "npm"
	oci      = "oci"
	pypi     = "pypi"
	cargo    = "cargo"
	maven    = "maven"
	composer = "composer"
	rubygems = "rubygems"
	gomod    = "go"
)

// Prefixes returns the key prefixes of protocol's records, those of the
// layout before this one included.
func Prefixes(protocol string) []string {
	if protocol == npm {
		return []string{npm + "/", npm + ":"}
	}
	return []string{protocol + "/"}
}

func key(parts ...string) string { return strings.Join(parts, "/") }

// artifact is the key of an artifact: its coordinates, then the digest
// the fill must match, when one is known.
func artifact(protocol, kind string, d blob.Digest, coords ...string) string {
	parts := append([]string{protocol, kind}, coords...)
	if d != "" {
		parts = append(parts, string(d))
	}
	return key(parts...)
}

// NPMPackument is npm's packument of name, full or abbreviated.
func NPMPackument(name string, abbreviated bool) string {
	if abbreviated {
		return key(npm, "abbreviated", name)
	}
	return key(npm, "packument", name)
}

// NPMTarball is npm's tarball file of name.
func NPMTarball(name, file string) string { return key(npm, "tarball", name, file) }

// OCIBlob is a blob by digest, whichever repository or upstream served it.
func OCIBlob(d blob.Digest) string { return key(oci, "blob", string(d)) }

// OCIManifest is a manifest by digest.
func OCIManifest(d blob.Digest) string { return key(oci, "manifest", string(d)) }

// OCITag is the manifest a tag of name names on the upstream called prefix.
func OCITag(prefix, name, tag string) string { return key(oci, "tag", prefix, name, tag) }

// OCITags is one page of name's tags list (query is its encoded n and last).
func OCITags(prefix, name, query string) string { return key(oci, "tags", prefix, name) + "?" + query }

// OCIReferrers is the referrers list of subject in name.
func OCIReferrers(prefix, name string, subject blob.Digest) string {
	return key(oci, "referrers", prefix, name, string(subject))
}

// PyPIPage is the simple page of a normalized project name.
func PyPIPage(project string) string { return key(pypi, "page", project) }

// PyPIFile is a distribution file of project, or its core metadata; d is
// the sha256 or sha512 its page gives, "" when it gives none.
func PyPIFile(metadata bool, project, filename string, d blob.Digest) string {
	kind := "file"
	if metadata {
		kind = "metadata"
	}
	return artifact(pypi, kind, d, project, filename)
}

// CargoConfig is the index's config.json.
func CargoConfig() string { return key(cargo, "config.json") }

// CargoIndex is the index file of a crate (name lowercase).
func CargoIndex(name string) string { return key(cargo, "index", name) }

// CargoCrate is a .crate of name (lowercase) and version, with the sha256
// its index entry gives.
func CargoCrate(name, version string, d blob.Digest) string {
	return artifact(cargo, "crate", d, name, version)
}

// MavenMetadata is a maven-metadata.xml, by its repository path.
func MavenMetadata(path string) string { return key(maven, "metadata", path) }

// MavenArtifact is any other file of a Maven repository, by its path.
func MavenArtifact(path string) string { return key(maven, "artifact", path) }

// MavenChecksum is an upstream checksum file (path ends .sha1, ...).
func MavenChecksum(path string) string { return key(maven, "checksum", path) }

// ComposerRoot is the repository's packages.json.
func ComposerRoot() string { return key(composer, "packages.json") }

// ComposerP2 is the p2 document of file ("vendor/name" or
// "vendor/name~dev").
func ComposerP2(file string) string { return key(composer, "p2", file) }

// ComposerDist is a dist archive of a package's normalized version, by
// the reference's path segment and type, with the sha1 its shasum gives
// ("" when it has none).
func ComposerDist(name, version, ref, typ string, d blob.Digest) string {
	return artifact(composer, "dist", d, name, version, ref+"."+typ)
}

// RubyGemsIndex is a compact index file: "versions", "names" or
// "info/<name>".
func RubyGemsIndex(path string) string { return key(rubygems, path) }

// RubyGemsGem is a .gem by its full name, with the sha256 its info line
// gives.
func RubyGemsGem(full string, d blob.Digest) string { return artifact(rubygems, "gem", d, full) }

// RubyGemsGemspec is a gem's quick/Marshal.4.8 gemspec, by its full name
// ("rails-7.1.0", "nokogiri-1.16.0-x86_64-linux").
func RubyGemsGemspec(full string) string { return key(rubygems, "gemspec", full) }

// LegacyNPMPackument is NPMPackument's key before this layout.
func LegacyNPMPackument(name string, abbreviated bool) string {
	if abbreviated {
		return "npm:packument:" + name + ":abbreviated"
	}
	return "npm:packument:" + name
}

// LegacyNPMTarball is NPMTarball's key before this layout.
func LegacyNPMTarball(name, file string) string { return "npm:tarball:" + name + "/" + file }

// LegacyOCIBlob is OCIBlob's key before this layout, when it was kept per
// upstream.
func LegacyOCIBlob(prefix string, d blob.Digest) string { return key(oci, prefix, "blobs", string(d)) }

// LegacyOCIRepo is the key before this layout of a repository's
// "manifests/<reference>", "tags/list?<query>" or "referrers/<digest>".
func LegacyOCIRepo(prefix, name, what string) string { return key(oci, prefix, name, what) }

// LegacyHost is the key before this layout of cargo's, maven's,
// composer's and rubygems' content: the protocol, the upstream's host and
// path, then the protocol's path of it (cargo's "index/<path>",
// "config.json", "crates/<name>/<version>"; maven's repository path;
// composer's "packages.json", "p2/<file>.json"; rubygems' upstream path).
func LegacyHost(protocol string, base *url.URL, path string) string {
	return protocol + "/" + base.Host + base.Path + path
}

// LegacyComposerDist is ComposerDist's key before this layout.
func LegacyComposerDist(base *url.URL, name, distURL, ref, shasum string) string {
	sum := sha256.Sum256([]byte(distURL + "\x00" + ref + "\x00" + shasum))
	return LegacyHost(composer, base, "dist/"+name+"/"+hex.EncodeToString(sum[:16]))
}

// LegacyPyPIPage is PyPIPage's key before this layout.
func LegacyPyPIPage(base *url.URL, project string) string {
	return pypi + "/" + base.String() + "simple/" + project
}

// LegacyPyPIFile is PyPIFile's key before this layout: by digest, else
// by the file's source URL.
func LegacyPyPIFile(base *url.URL, metadata bool, src string, d blob.Digest) string {
	kind, rest := "files", "url/"+src
	if metadata {
		kind = "metadata"
	}
	if d != "" {
		rest = d.Algorithm() + "/" + d.Hex()
	}
	return pypi + "/" + base.String() + kind + "/" + rest
}

// GoModule is a Go module proxy file of module: what is "list",
// "latest", "info", "query", "mod" or "zip"; version is "" for list and
// latest.
func GoModule(what, module, version string) string {
	if version == "" {
		return key(gomod, what, module)
	}
	return key(gomod, what, module, version)
}

// GoSumDB is a file of the checksum database name: "latest", a
// lookup/<module>@<version> or a tile/... path.
func GoSumDB(name, path string) string { return key(gomod, "sumdb", name, path) }
