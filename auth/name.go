package auth

import (
	"entrepot/hosted/fault"
)

// MaxNameLen bounds organization, team, repository and user names.
const MaxNameLen = 64

// edgeNames are names that would shadow a route of the edge's own (the
// API, the dashboard, health and metrics); no organization, team or
// repository may take them. The protocols' names and mount points are
// reserved through Config.Protocols and Config.Reserved.
var edgeNames = []string{
	"-", "_", "api", "admin", "health", "healthz", "metrics", "static", "assets",
	"login", "logout", "auth", "openapi.json",
}

// reservedNames is the set ValidName refuses: the edge's own names, the
// protocols' names and the further names the configuration reserves.
func reservedNames(cfg Config) map[string]struct{} {
	out := make(map[string]struct{}, len(edgeNames)+len(cfg.Protocols)+len(cfg.Reserved))
	for _, l := range [][]string{edgeNames, cfg.Protocols, cfg.Reserved} {
		for _, n := range l {
			out[n] = struct{}{}
		}
	}
	return out
}

// ValidName reports, as an Invalid error, why name cannot name an
// organization, team or repository: 1 to 64 of lowercase letters, digits,
// '-', '.', '_', starting with a letter or digit, and not reserved (a
// route of the edge, a protocol's name or mount point).
func (s *Service) ValidName(name string) error {
	const op = "auth.ValidName"
	if err := validChars(op, name); err != nil {
		return err
	}
	if _, ok := s.reserved[name]; ok {
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
