package rubygems

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file builds the compact index and the legacy indexes from hosted
// specifications, and merges them with an upstream's: pure functions
// from values and bytes to bytes.
//
// The compact index (RubyGems' "compact index API" guide has
// the format): /versions is an append-only file, "created_at: <time>",
// "---", then one line per change: "name v1,v2-platform,-v3 <md5 of
// /info/name after the change>", where "-v" marks a yank; a client joins
// a gem's lines in order and trusts the last MD5. /info/name is "---"
// then "version[-platform] dep:req&req,dep:req|checksum:<sha256>,
// ruby:<req>,rubygems:<req>" per live version. /names is "---" then one
// name per line.

// noUpstreamHeader heads /versions when no upstream file is merged. It is
// a constant so that the file only ever grows.
const noUpstreamHeader = "created_at: 2000-01-01T00:00:00Z\n---\n"

// infoLine is a version's line of /info/{gem}.
func infoLine(s *Spec) string {
	var b strings.Builder
	b.WriteString(versionKey(s.Version, s.Platform))
	b.WriteByte(' ')
	n := 0
	for _, d := range s.Dependencies {
		if d.Type != "runtime" {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(d.Name)
		b.WriteByte(':')
		b.WriteString(ReqString(d.Requirement))
	}
	b.WriteString("|checksum:")
	b.WriteString(s.SHA256)
	if r := ReqString(s.RequiredRubyVersion); r != ">= 0" {
		b.WriteString(",ruby:" + r)
	}
	if r := ReqString(s.RequiredRubygemsVersion); r != ">= 0" {
		b.WriteString(",rubygems:" + r)
	}
	return b.String()
}

// infoFile is /info/{gem} for the live versions, in publish order.
func infoFile(live []*Spec) []byte {
	var b bytes.Buffer
	b.WriteString("---\n")
	for _, s := range live {
		b.WriteString(infoLine(s))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// change is one event in a hosted gem's history: a publish, a yank or
// an unyank of one version.
type change struct {
	At    time.Time
	Spec  *Spec
	Yank  bool
	order int // publish order, to keep events at the same instant stable
}

// versionsLine is one line of the hosted part of /versions.
type versionsLine struct {
	At   time.Time
	Line string
}

// history replays a gem's changes and returns, for each, its /versions
// line (with the MD5 of the info file right after it), and the info file
// in force at the end. A line, once written, never changes: later changes
// only add lines, which keeps /versions append-only.
func history(name string, changes []change) ([]versionsLine, []byte) {
	sort.SliceStable(changes, func(i, j int) bool {
		if !changes[i].At.Equal(changes[j].At) {
			return changes[i].At.Before(changes[j].At)
		}
		return changes[i].order < changes[j].order
	})
	var (
		live  []*Spec
		lines []versionsLine
		info  = infoFile(nil)
	)
	for _, c := range changes {
		key := versionKey(c.Spec.Version, c.Spec.Platform)
		idx := -1
		for i, s := range live {
			if versionKey(s.Version, s.Platform) == key {
				idx = i
			}
		}
		prefix := ""
		switch {
		case c.Yank && idx >= 0:
			live = append(live[:idx], live[idx+1:]...)
			prefix = "-"
		case !c.Yank && idx < 0:
			live = append(live, c.Spec)
		default:
			continue // a repeated yank or unyank changes nothing
		}
		info = infoFile(live)
		lines = append(lines, versionsLine{At: c.At, Line: name + " " + prefix + key + " " + md5hex(info)})
	}
	return lines, info
}

// afterHeader returns what follows a compact-index file's "---" line,
// and the header including that line.
func afterHeader(b []byte) (header, body []byte) {
	if bytes.HasPrefix(b, []byte("---\n")) {
		return b[:4], b[4:]
	}
	if i := bytes.Index(b, []byte("\n---\n")); i >= 0 {
		return b[:i+5], b[i+5:]
	}
	return nil, b
}

// mergeVersions builds the served /versions: the upstream's file (or a
// constant header when there is none) without the lines of gems that
// claimed reports as hosted here (a claimed name never resolves
// upstream), followed by the hosted lines in time order.
func mergeVersions(up []byte, claimed func(name string) bool, hosted []versionsLine) []byte {
	var b bytes.Buffer
	header, body := afterHeader(up)
	if up == nil || header == nil {
		b.WriteString(noUpstreamHeader)
	} else {
		b.Write(header)
	}
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(line) == 0 {
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(" "))
		if claimed(string(name)) {
			continue
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	hosted = append([]versionsLine(nil), hosted...) // sorted here, never in the caller's slice
	sort.SliceStable(hosted, func(i, j int) bool { return hosted[i].At.Before(hosted[j].At) })
	for _, l := range hosted {
		b.WriteString(l.Line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// mergeNames builds the served /names: upstream names that are not
// claimed here and the hosted names, sorted, once each.
func mergeNames(up []byte, claimed func(name string) bool, hosted []string) []byte {
	seen := map[string]bool{}
	var names []string
	_, body := afterHeader(up)
	for _, n := range strings.Split(string(body), "\n") {
		n = strings.TrimSpace(n)
		if n != "" && !claimed(n) && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range hosted {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString("---\n")
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// infoChecksum finds the sha256 an /info file promises for a version key
// ("1.0.0" or "1.0.0-x86_64-linux").
func infoChecksum(info []byte, key string) (string, bool) {
	_, body := afterHeader(info)
	for _, line := range strings.Split(string(body), "\n") {
		v, rest, ok := strings.Cut(line, " ")
		if !ok || v != key {
			continue
		}
		_, reqs, _ := strings.Cut(rest, "|")
		for _, r := range strings.Split(reqs, ",") {
			if sum, ok := strings.CutPrefix(r, "checksum:"); ok {
				sum = strings.TrimSpace(sum)
				if len(sum) == 64 && isHex(sum) {
					return strings.ToLower(sum), true
				}
			}
		}
		return "", true
	}
	return "", false
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// versionsTuples replays a /versions file into the live (name, version,
// platform) tuples it describes, as a compact-index client does.
func versionsTuples(b []byte) []*Spec {
	type key struct{ name, v string }
	live := map[key]int{}
	var out []*Spec
	_, body := afterHeader(b)
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, v := range strings.Split(f[1], ",") {
			yank := strings.HasPrefix(v, "-")
			v = strings.TrimPrefix(v, "-")
			k := key{f[0], v}
			i, ok := live[k]
			switch {
			case yank && ok:
				out[i] = nil
				delete(live, k)
			case !yank && !ok && v != "":
				version, platform, found := strings.Cut(v, "-")
				if !found {
					platform = "ruby"
				}
				live[k] = len(out)
				out = append(out, &Spec{Name: f[0], Version: version, Platform: platform})
			}
		}
	}
	kept := out[:0]
	for _, s := range out {
		if s != nil {
			kept = append(kept, s)
		}
	}
	return kept
}

// specsKind selects one of the legacy indexes.
type specsKind int

const (
	specsAll        specsKind = iota // specs.4.8.gz: released versions
	specsLatest                      // latest_specs.4.8.gz: the newest released version per name and platform
	specsPrerelease                  // prerelease_specs.4.8.gz
)

// specsFile builds a legacy index: the gzipped Marshal dump of an array of
// [name, Gem::Version, platform], sorted by name and version.
func specsFile(kind specsKind, live []*Spec) []byte {
	var sel []*Spec
	latest := map[string]*Spec{}
	for _, s := range live {
		switch {
		case kind == specsPrerelease && s.Prerelease(), kind == specsAll && !s.Prerelease():
			sel = append(sel, s)
		case kind == specsLatest && !s.Prerelease():
			k := s.Name + "\x00" + s.Platform
			if cur, ok := latest[k]; !ok || compareVersions(s.Version, cur.Version) > 0 {
				latest[k] = s
			}
		}
	}
	for _, s := range latest {
		sel = append(sel, s)
	}
	sort.Slice(sel, func(i, j int) bool {
		if sel[i].Name != sel[j].Name {
			return sel[i].Name < sel[j].Name
		}
		if c := compareVersions(sel[i].Version, sel[j].Version); c != 0 {
			return c < 0
		}
		return sel[i].Platform < sel[j].Platform
	})
	m := newMarshaller()
	m.Array(len(sel))
	for _, s := range sel {
		m.Array(3)
		m.String(s.Name)
		m.GemVersion(s.Version)
		m.String(s.Platform)
	}
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write(m.Bytes())
	z.Close()
	return b.Bytes()
}

// compareVersions orders versions as Gem::Version#<=> does: segments
// split at dots and at letter/digit boundaries, numbers numerically,
// a string segment before a number (so 1.0.a < 1.0), missing numeric
// segments as zero.
func compareVersions(a, b string) int {
	sa, sb := segments(a), segments(b)
	for len(sa) > 0 && sa[len(sa)-1] == "0" {
		sa = sa[:len(sa)-1]
	}
	for len(sb) > 0 && sb[len(sb)-1] == "0" {
		sb = sb[:len(sb)-1]
	}
	for i := 0; i < max(len(sa), len(sb)); i++ {
		x, y := "0", "0"
		if i < len(sa) {
			x = sa[i]
		}
		if i < len(sb) {
			y = sb[i]
		}
		if x == y {
			continue
		}
		nx, ex := strconv.Atoi(x)
		ny, ey := strconv.Atoi(y)
		switch {
		case ex == nil && ey == nil:
			if nx < ny {
				return -1
			}
			return 1
		case ex == nil: // number after string
			return 1
		case ey == nil:
			return -1
		case x < y:
			return -1
		default:
			return 1
		}
	}
	return 0
}

func segments(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ".") {
		start := 0
		for i := 1; i <= len(part); i++ {
			if i == len(part) || isDigit(part[i]) != isDigit(part[i-1]) {
				out = append(out, part[start:i])
				start = i
			}
		}
	}
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
