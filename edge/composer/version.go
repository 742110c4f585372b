package composer

import (
	"regexp"
	"strconv"
	"strings"

	"entrepot/hosted/fault"
)

// This file is Composer's VersionParser::normalize, as composer/semver 3.3
// (the one Composer 2.5 ships) writes it, rule for rule: every version
// Entrepot stores or compares goes through it, so that "1.2", "v1.2.0"
// and "1.2.0.0" are one version, as they are to Composer. The regular
// expressions are PCRE's, minus possessive quantifiers, which change no
// result here (nothing after a possessive run can match what it gave
// back); Go's leftmost-first matching then picks the same groups as PHP.

const modifier = `[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*)?)?([.-]?dev)?`

var (
	aliasRE     = regexp.MustCompile(`^([^,\s]+) +as +([^,\s]+)$`)
	flagRE      = regexp.MustCompile(`(?i)@(?:stable|RC|beta|alpha|dev)$`)
	buildRE     = regexp.MustCompile(`^([^,\s+]+)\+[^\s]+$`)
	classicalRE = regexp.MustCompile(`(?i)^v?(\d{1,5})(\.\d+)?(\.\d+)?(\.\d+)?` + modifier + `$`)
	dateRE      = regexp.MustCompile(`(?i)^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3})?)` + modifier + `$`)
	devRE       = regexp.MustCompile(`(?i)^(.*?)[.-]?dev$`)
	branchRE    = regexp.MustCompile(`(?i)^v?(\d+)(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?$`)
	nonDigitRE  = regexp.MustCompile(`\D`)
)

// phpTrim is PHP's trim() with its default character set.
func phpTrim(s string) string { return strings.Trim(s, " \t\n\r\x00\x0b") }

// Normalize returns Composer's normalized form of a version string
// ("1.2" → "1.2.0.0", "v2.0-beta.1" → "2.0.0.0-beta1", "1.x-dev" →
// "1.9999999.9999999.9999999-dev", "dev-main" → "dev-main"), or an
// Invalid error, exactly where Composer's VersionParser would throw.
// It is pure and safe for concurrent use.
func Normalize(version string) (string, error) {
	v := phpTrim(version)
	orig := v
	if m := aliasRE.FindStringSubmatch(v); m != nil {
		v = m[1]
	}
	if loc := flagRE.FindStringIndex(v); loc != nil {
		v = v[:loc[0]]
	}
	if v == "master" || v == "trunk" || v == "default" {
		v = "dev-" + v
	}
	if len(v) >= 4 && strings.EqualFold(v[:4], "dev-") {
		return "dev-" + v[4:], nil
	}
	if m := buildRE.FindStringSubmatch(v); m != nil {
		v = m[1]
	}

	var (
		m     []string
		index int
	)
	if m = classicalRE.FindStringSubmatch(v); m != nil {
		v = m[1] + orDefault(m[2], ".0") + orDefault(m[3], ".0") + orDefault(m[4], ".0")
		index = 5
	} else if m = dateRE.FindStringSubmatch(v); m != nil {
		v = nonDigitRE.ReplaceAllString(m[1], ".")
		index = 2
	}
	if index > 0 {
		if phpNonEmpty(m[index]) {
			if m[index] == "stable" {
				return v, nil
			}
			v += "-" + expandStability(m[index]) + strings.TrimLeft(m[index+1], ".-")
		}
		if phpNonEmpty(m[index+2]) {
			v += "-dev"
		}
		return v, nil
	}

	if m := devRE.FindStringSubmatch(v); m != nil {
		if n := normalizeBranch(m[1]); !strings.Contains(n, "dev-") {
			return n, nil
		}
	}
	return "", fault.Newf("composer.Normalize", fault.Invalid, "invalid version string %s", strconv.Quote(orig))
}

// normalizeBranch is VersionParser::normalizeBranch: numeric branches
// ("1.x", "2.1.*") become 9999999 versions with -dev, others dev-NAME.
func normalizeBranch(name string) string {
	name = phpTrim(name)
	m := branchRE.FindStringSubmatchIndex(name)
	if m == nil {
		return "dev-" + name
	}
	var b strings.Builder
	for i := 1; i < 5; i++ {
		if m[2*i] < 0 { // PHP leaves trailing unmatched groups unset
			b.WriteString(".x")
			continue
		}
		g := name[m[2*i]:m[2*i+1]]
		b.WriteString(strings.NewReplacer("*", "x", "X", "x").Replace(g))
	}
	return strings.ReplaceAll(b.String(), "x", "9999999") + "-dev"
}

func expandStability(s string) string {
	switch s = strings.ToLower(s); s {
	case "a":
		return "alpha"
	case "b":
		return "beta"
	case "p", "pl":
		return "patch"
	case "rc":
		return "RC"
	}
	return s
}

// phpNonEmpty is !empty($s) for a string: "" and "0" are empty.
func phpNonEmpty(s string) bool { return s != "" && s != "0" }

func orDefault(s, def string) string {
	if phpNonEmpty(s) {
		return s
	}
	return def
}

// IsDev reports whether a normalized version is a development one
// (a branch): those live in the ~dev metadata file.
func IsDev(normalized string) bool {
	return strings.HasPrefix(normalized, "dev-") || strings.HasSuffix(normalized, "-dev")
}

// stabilityRank orders the suffixes of a normalized version as Composer
// does (dev < alpha < beta < RC < stable < patch).
func stabilityRank(s string) int {
	switch strings.ToLower(s) {
	case "dev":
		return 0
	case "alpha":
		return 1
	case "beta":
		return 2
	case "rc":
		return 3
	case "", "stable":
		return 4
	case "patch":
		return 5
	}
	return 4
}

// compareVersions orders two normalized versions, newest last: numeric
// parts first, then stability (with its number), branches (dev-*) before
// everything. It only orders documents; resolution is Composer's job.
func compareVersions(a, b string) int {
	if IsBranch(a) != IsBranch(b) {
		if IsBranch(a) {
			return -1
		}
		return 1
	}
	if IsBranch(a) {
		return strings.Compare(a, b)
	}
	na, sa := splitNormalized(a)
	nb, sb := splitNormalized(b)
	for i := 0; i < max(len(na), len(nb)); i++ {
		var x, y int64
		if i < len(na) {
			x = na[i]
		}
		if i < len(nb) {
			y = nb[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return compareSuffix(sa, sb)
}

// IsBranch reports whether a normalized version names a non-numeric
// branch (dev-main).
func IsBranch(normalized string) bool { return strings.HasPrefix(normalized, "dev-") }

func splitNormalized(v string) ([]int64, string) {
	num, suffix, _ := strings.Cut(v, "-")
	var out []int64
	for _, p := range strings.Split(num, ".") {
		n, _ := strconv.ParseInt(p, 10, 64)
		out = append(out, n)
	}
	return out, suffix
}

func compareSuffix(a, b string) int {
	// "dev" alone sorts below any pre-release; "beta1-dev" below "beta1".
	ra, na, da := suffixParts(a)
	rb, nb, db := suffixParts(b)
	switch {
	case ra != rb:
		return cmpInt(int64(ra), int64(rb))
	case na != nb:
		return cmpInt(na, nb)
	case da != db:
		if da {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func suffixParts(s string) (rank int, n int64, dev bool) {
	if s == "dev" {
		return 0, 0, false
	}
	s, dev = strings.CutSuffix(s, "-dev")
	i := strings.IndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' })
	word := s
	if i >= 0 {
		word = s[:i]
		n, _ = strconv.ParseInt(strings.ReplaceAll(s[i:], ".", ""), 10, 64)
	}
	return stabilityRank(word), n, dev
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
