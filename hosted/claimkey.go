package hosted

import (
	"slices"
	"strings"
)

// The claim layer compares namespaces as the clients do, so that names a
// client takes for one package are one name for claiming and for
// resolution: a claim on "acme_gem" holds "Acme-Gem" too, and a request
// for "com/Acme/..." finds the claim on "com.acme". The rules are data,
// one entry per protocol, in this one place; the protocol names are those
// of cmd/entrepot's protocol table. The spellings are those an upstream
// is asked about before a first publish claims a name (Spellings).
//
//	protocol  folded as                                  hierarchy   upstream spellings
//	npm       lowercase                                  -           as written, lowercase
//	oci       lowercase                                  -           as written, lowercase
//	composer  lowercase                                  -           as written, lowercase
//	maven     lowercase                                  "." (a groupId holds the groupIds below it)
//	                                                                 as written, lowercase
//	pypi      PEP 503: lowercase, runs of - _ . as "-"    -           folded (the index normalizes, PEP 503)
//	rubygems  lowercase, runs of - _ . as "-"            -           as written, lowercase, folded to "-", to "_"
//	cargo     lowercase, "-" as "_" (as crates.io)       -           every "-"/"_" choice, lowercase
//	go        lowercase (module paths differ in case only "/" (a module path prefix holds the modules below it)
//	          on the wire, by ! escapes)                             as written, lowercase
var claimRules = map[string]claimRule{
	"npm":      {fold: strings.ToLower, spell: spellLower},
	"oci":      {fold: strings.ToLower, spell: spellLower},
	"composer": {fold: strings.ToLower, spell: spellLower},
	"maven":    {fold: strings.ToLower, spell: spellLower, sep: ".", ownLevels: 2},
	"pypi":     {fold: foldSeparators, spell: spellFolded},
	"rubygems": {fold: foldSeparators, spell: spellSeparators},
	"cargo":    {fold: foldCrate, spell: spellCrate},
	"go":       {fold: strings.ToLower, spell: spellLower, sep: "/"},
}

type claimRule struct {
	fold func(string) string
	// spell lists the spellings of a namespace an upstream is asked
	// about, the namespace as written first.
	spell func(string) []string
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
	return claimRule{fold: func(s string) string { return s }, spell: func(s string) []string { return []string{s} }}
}

// ClaimKey is the form of namespace under which claims of protocol are
// stored, compared and cached: "protocol:folded". Two namespaces with one
// key are one name. Folding allocates nothing for a namespace already
// folded, which is every namespace a protocol's parser normalizes.
func ClaimKey(protocol, namespace string) string {
	return protocol + ":" + ruleOf(protocol).fold(namespace)
}

// Spellings lists the spellings of namespace that protocol's clients
// take for it and an upstream may serve it under: what a first publish
// asks the upstream about (edge.Registry.ClaimForPublish), so that
// "Rails_HTML" does not claim, and so hide, the upstream's "rails-html".
// The likeliest comes first (the namespace as written, where the
// upstream's paths take it so); the list is short (at most maxSpellings).
func Spellings(protocol, namespace string) []string {
	return ruleOf(protocol).spell(namespace)
}

// maxSpellings bounds Spellings: every spelling of a crate name with up
// to 4 separators, else the name as written and the two uniform ones.
const maxSpellings = 16

// spellLower is the namespace as written and lowercased.
func spellLower(s string) []string { return distinct(s, strings.ToLower(s)) }

// spellFolded is the folded namespace only: a PEP 503 index answers for
// it whatever the spelling.
func spellFolded(s string) []string { return []string{foldSeparators(s)} }

// spellSeparators is the namespace as written, lowercased, and with its
// separators folded to '-' and to '_' (the spellings RubyGems users
// give one gem).
func spellSeparators(s string) []string {
	f := foldSeparators(s)
	return distinct(s, strings.ToLower(s), f, strings.ReplaceAll(f, "-", "_"))
}

// spellCrate lists the lowercase names that are the same crate (a
// sparse index's paths are lowercase), the namespace's own first: every
// choice of '-' or '_' at each separator, or, for a name with many
// separators, its own spelling and the two uniform ones.
func spellCrate(name string) []string {
	lower := strings.ToLower(name)
	var seps []int
	for i := 0; i < len(lower); i++ {
		if lower[i] == '-' || lower[i] == '_' {
			seps = append(seps, i)
		}
	}
	if 1<<len(seps) > maxSpellings {
		return distinct(lower, strings.ReplaceAll(lower, "_", "-"), strings.ReplaceAll(lower, "-", "_"))
	}
	out := []string{lower}
	b := []byte(lower)
	for mask := 0; mask < 1<<len(seps); mask++ {
		for j, i := range seps {
			b[i] = '-'
			if mask&(1<<j) != 0 {
				b[i] = '_'
			}
		}
		out = distinct(append(out, string(b))...)
	}
	return out
}

// distinct returns ss without repeats, in order.
func distinct(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
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
