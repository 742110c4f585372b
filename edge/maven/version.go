package maven

import "strings"

// CompareVersions orders two Maven versions the way Maven does
// (org.apache.maven.artifact.versioning.ComparableVersion): numbers
// numerically, the qualifiers alpha < beta < milestone < rc < snapshot <
// "" (ga, final, release) < sp, unknown qualifiers after those,
// alphabetically, and "1.0" equal to "1.0.0". It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	return parseVersion(a).compare(parseVersion(b))
}

// item is one element of a parsed version: an integer (digits, leading
// zeros stripped), a qualifier, or a nested list (what follows a '-' or a
// digit/letter transition).
type item struct {
	kind byte // 'i', 's' or 'l'
	num  string
	str  string // the comparable qualifier
	list []*item
}

var qualifiers = []string{"alpha", "beta", "milestone", "rc", "snapshot", "", "sp"}

// releaseIndex is the comparable form of the empty qualifier.
const releaseIndex = "5"

func comparableQualifier(q string) string {
	for i, k := range qualifiers {
		if k == q {
			return string(rune('0' + i))
		}
	}
	return "7-" + q
}

func newString(s string, followedByDigit bool) *item {
	if followedByDigit && len(s) == 1 {
		switch s {
		case "a":
			s = "alpha"
		case "b":
			s = "beta"
		case "m":
			s = "milestone"
		}
	}
	switch s {
	case "ga", "final", "release":
		s = ""
	case "cr":
		s = "rc"
	}
	return &item{kind: 's', str: comparableQualifier(s)}
}

func newItem(s string, digit bool) *item {
	if digit {
		s = strings.TrimLeft(s, "0")
		return &item{kind: 'i', num: s}
	}
	return newString(s, false)
}

func (it *item) isNull() bool {
	switch it.kind {
	case 'i':
		return it.num == ""
	case 's':
		return it.str == releaseIndex
	}
	return len(it.list) == 0
}

func parseVersion(v string) *item {
	v = strings.ToLower(v)
	root := &item{kind: 'l'}
	list := root
	stack := []*item{root}
	digit := false
	start := 0
	push := func() {
		l := &item{kind: 'l'}
		list.list = append(list.list, l)
		list = l
		stack = append(stack, l)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.' || c == '-':
			if i == start {
				list.list = append(list.list, &item{kind: 'i'})
			} else {
				list.list = append(list.list, newItem(v[start:i], digit))
			}
			start = i + 1
			if c == '-' {
				push()
			}
		case '0' <= c && c <= '9':
			if !digit && i > start {
				list.list = append(list.list, newString(v[start:i], true))
				start = i
				push()
			}
			digit = true
		default:
			if digit && i > start {
				list.list = append(list.list, newItem(v[start:i], true))
				start = i
				push()
			}
			digit = false
		}
	}
	if len(v) > start {
		list.list = append(list.list, newItem(v[start:], digit))
	}
	for i := len(stack) - 1; i >= 0; i-- {
		stack[i].normalize()
	}
	return root
}

// normalize drops trailing null items (0, "", empty lists) up to the last
// non-list item, as Maven does.
func (it *item) normalize() {
	for i := len(it.list) - 1; i >= 0; i-- {
		last := it.list[i]
		if last.isNull() {
			it.list = append(it.list[:i], it.list[i+1:]...)
		} else if last.kind != 'l' {
			break
		}
	}
}

func cmpNum(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// compare orders it against o; o == nil stands for a missing item.
func (it *item) compare(o *item) int {
	switch it.kind {
	case 'i':
		if o == nil {
			if it.num == "" {
				return 0
			}
			return 1
		}
		switch o.kind {
		case 'i':
			return cmpNum(it.num, o.num)
		default:
			return 1
		}
	case 's':
		if o == nil {
			return strings.Compare(it.str, releaseIndex)
		}
		switch o.kind {
		case 'i':
			return -1
		case 's':
			return strings.Compare(it.str, o.str)
		default:
			return -1
		}
	}
	if o == nil {
		if len(it.list) == 0 {
			return 0
		}
		return it.list[0].compare(nil)
	}
	switch o.kind {
	case 'i':
		return -1
	case 's':
		return 1
	}
	for i := 0; i < max(len(it.list), len(o.list)); i++ {
		var l, r *item
		if i < len(it.list) {
			l = it.list[i]
		}
		if i < len(o.list) {
			r = o.list[i]
		}
		var c int
		switch {
		case l == nil && r == nil:
			c = 0
		case l == nil:
			c = -r.compare(nil)
		default:
			c = l.compare(r)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
