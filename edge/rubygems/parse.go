package rubygems

import (
	"strings"

	"entrepot/hosted/fault"
)

// coord is a gem file's coordinates: name, version and platform ("ruby"
// for pure-Ruby gems).
type coord struct {
	Name, Version, Platform string
}

func (c coord) FullName() string { return fullName(c.Name, c.Version, c.Platform) }

// parseFullName splits "name-version[-platform]" into every reading that
// is valid. Names may hold '-' and platforms do ("x86_64-linux",
// "universal-darwin-19"), so a full name can be ambiguous; candidates come
// leftmost version first, which is how RubyGems' own names read almost
// always. It is pure.
func parseFullName(full string) []coord {
	var out []coord
	for i := 0; i < len(full); i++ {
		if full[i] != '-' || i+1 >= len(full) || full[i+1] < '0' || full[i+1] > '9' {
			continue
		}
		name, rest := full[:i], full[i+1:]
		if !validName(name) {
			continue
		}
		version, platform, hasPlatform := strings.Cut(rest, "-")
		if !hasPlatform {
			platform = "ruby"
		}
		if !validVersion(version) || !validPlatform(platform) || (hasPlatform && platform == "ruby") {
			continue
		}
		out = append(out, coord{Name: name, Version: version, Platform: platform})
	}
	return out
}

// parseFile strips suffix from a requested file name and reads the rest
// as a full name. Errors are Invalid (NotFound would invite a retry).
func parseFile(file, suffix string) (string, []coord, error) {
	full, ok := strings.CutSuffix(file, suffix)
	cs := parseFullName(full)
	if !ok || len(cs) == 0 {
		return "", nil, fault.Newf("rubygems.parseFile", fault.NotFound, "%q is not a gem file name (name-version[-platform]%s)", trunc(file), suffix)
	}
	return full, cs, nil
}

// parseName validates a gem name from a URL.
func parseName(name string) (string, error) {
	if !validName(name) {
		return "", fault.Newf("rubygems.parseName", fault.NotFound, "%q is not a gem name", trunc(name))
	}
	return name, nil
}

// versionKey is the catalog's version string of a gem: the version, with
// -platform unless it is ruby, so that name+version+platform is the
// immutable unit.
func versionKey(version, platform string) string {
	if platform == "" || platform == "ruby" {
		return version
	}
	return version + "-" + platform
}

// NormalizeClaim returns the namespace an organization claims when it
// asks for a gem name through the management API: the name itself, since
// gems are keyed by their exact name (see push). An invalid name is
// Invalid; org plays no part.
func NormalizeClaim(org, namespace string) (string, error) {
	if !validName(namespace) {
		return "", fault.Newf("rubygems.NormalizeClaim", fault.Invalid, "invalid gem name %q: use letters, digits, '.', '_' and '-', up to 100 characters", trunc(namespace))
	}
	return namespace, nil
}
