package hosted

import "strings"

// The claim layer compares namespaces as the clients do, so that names a
// client takes for one package are one name for claiming and for
// resolution: a claim on "acme_gem" holds "Acme-Gem" too, and a request
// for "com/Acme/..." finds the claim on "com.acme". The rules are data,
// one entry per protocol, in this one place; the protocol names are those
// of cmd/entrepot's protocol table.
//
//	protocol  folded as                                  hierarchy
//	npm       lowercase                                  -
//	oci       lowercase                                  -
//	composer  lowercase                                  -
//	maven     lowercase                                  "." (a groupId holds the groupIds below it)
//	pypi      PEP 503: lowercase, runs of - _ . as "-"    -
//	rubygems  lowercase, runs of - _ . as "-"            -
//	cargo     lowercase, "-" as "_" (as crates.io)       -
var claimRules = map[string]claimRule{
	"npm":      {fold: strings.ToLower},
	"oci":      {fold: strings.ToLower},
	"composer": {fold: strings.ToLower},
	"maven":    {fold: strings.ToLower, sep: ".", ownLevels: 2},
	"pypi":     {fold: foldSeparators},
	"rubygems": {fold: foldSeparators},
	"cargo":    {fold: foldCrate},
}

type claimRule struct {
	fold func(string) string
	// sep separates the levels of a hierarchical namespace, "" for flat
	// ones: a claim on a level holds every name below it.
	sep string
	// ownLevels, when set, is the depth up to which a namespace needs a
	// platform admin to be claimed, unless its last level is the claiming
	// organization's name (com.acme for acme). A first publish takes
	// deeper namespaces only: "com" or "com.example" would take every
	// organization's groupIds below it.
	ownLevels int
}

func ruleOf(protocol string) claimRule {
	if r, ok := claimRules[protocol]; ok {
		return r
	}
	return claimRule{fold: func(s string) string { return s }}
}

// ClaimKey is the form of namespace under which claims of protocol are
// stored, compared and cached: "protocol:folded". Two namespaces with one
// key are one name. Folding allocates nothing for a namespace already
// folded, which is every namespace a protocol's parser normalizes.
func ClaimKey(protocol, namespace string) string {
	return protocol + ":" + ruleOf(protocol).fold(namespace)
}

// FoldClaim returns namespace as protocol's claims compare it.
func FoldClaim(protocol, namespace string) string { return ruleOf(protocol).fold(namespace) }

// FirstClaimAllowed reports whether a first publish by the organization
// named org may claim namespace of protocol without a platform admin:
// false for a namespace too broad to be anybody's by default (a Maven
// groupId of one or two levels that does not end with the organization's
// name).
func FirstClaimAllowed(protocol, namespace, org string) bool {
	r := ruleOf(protocol)
	if r.ownLevels == 0 {
		return true
	}
	levels := strings.Split(r.fold(namespace), r.sep)
	return len(levels) > r.ownLevels || len(levels) == r.ownLevels && levels[len(levels)-1] == r.fold(org)
}

// ancestors returns the folded namespaces above namespace in protocol's
// hierarchy, nearest first; none for a flat protocol.
func ancestors(protocol, folded string) []string {
	sep := ruleOf(protocol).sep
	if sep == "" {
		return nil
	}
	var out []string
	for i := strings.LastIndex(folded, sep); i > 0; i = strings.LastIndex(folded[:i], sep) {
		out = append(out, folded[:i])
	}
	return out
}

// foldSeparators lowercases s and writes every run of '-', '_' and '.' as
// one '-' (PEP 503, and how RubyGems tells gem names apart).
func foldSeparators(s string) string {
	if folded(s, func(c byte, prev byte) bool { return c == '-' && !isSep(prev) || !isSep(c) }) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	sep := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSep(c) {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		b.WriteByte(lower(c))
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}

// foldCrate lowercases s and writes '-' as '_', as crates.io compares
// crate names.
func foldCrate(s string) string {
	if folded(s, func(c, _ byte) bool { return c != '-' }) {
		return s
	}
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// folded reports whether s has no uppercase ASCII letter and ok holds for
// every byte (given the byte before it, 0 at the start).
func folded(s string, ok func(c, prev byte) bool) bool {
	var prev byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || !ok(c, prev) {
			return false
		}
		prev = c
	}
	return true
}

func isSep(c byte) bool { return c == '-' || c == '_' || c == '.' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
