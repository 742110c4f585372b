package auth

import (
	"entrepot/hosted/fault"
)

// MaxNameLen bounds organization, team, repository and user names.
const MaxNameLen = 64

// reserved are names that would shadow a route or a protocol mount point;
// no organization, team or repository may take them.
var reserved = map[string]struct{}{
	"-": {}, "api": {}, "admin": {}, "v2": {}, "npm": {}, "oci": {}, "pypi": {}, "cargo": {},
	"maven": {}, "maven2": {}, "composer": {}, "rubygems": {}, "go": {}, "health": {},
	"healthz": {}, "metrics": {}, "static": {}, "assets": {}, "login": {}, "logout": {},
	"auth": {}, "_": {}, "openapi.json": {},
}

// ValidName reports, as an Invalid error, why name cannot name an
// organization, team or repository: 1 to 64 of lowercase letters, digits,
// '-', '.', '_', starting with a letter or digit, and not reserved.
func ValidName(name string) error {
	const op = "auth.ValidName"
	if err := validChars(op, name); err != nil {
		return err
	}
	if _, ok := reserved[name]; ok {
		return fault.Newf(op, fault.Invalid, "name %q is reserved", name)
	}
	return nil
}

func validChars(op, name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fault.Newf(op, fault.Invalid, "name must be 1 to %d characters", MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fault.Newf(op, fault.Invalid, "name %q must start with a lowercase letter or a digit", name)
		}
		if !alnum && c != '-' && c != '.' && c != '_' {
			return fault.Newf(op, fault.Invalid, "name %q may hold only lowercase letters, digits, '-', '.' and '_'", name)
		}
	}
	return nil
}
