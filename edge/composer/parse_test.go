package composer

import (
	"strings"
	"testing"

	"entrepot/hosted/fault"
)

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		vendor, pkg, want string
		ok                bool
	}{
		{"acme", "lib", "acme/lib", true},
		{"Acme", "Lib", "acme/lib", true},
		{"psr", "log", "psr/log", true},
		{"a.b-c_d", "e--f.g", "a.b-c_d/e--f.g", true},
		{"acme", "lib---x", "", false},
		{"-acme", "lib", "", false},
		{"acme", "", "", false},
		{"", "lib", "", false},
		{"acme", "li b", "", false},
		{"acme", "..", "", false},
		{"acme", strings.Repeat("a", 300), "", false},
	} {
		got, err := parseName(c.vendor, c.pkg)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseName(%q, %q) = %q, %v", c.vendor, c.pkg, got, err)
		}
		if err != nil && !fault.Is(err, fault.Invalid) {
			t.Errorf("parseName(%q, %q) kind %v", c.vendor, c.pkg, fault.KindOf(err))
		}
	}
}

func TestParseMetadata(t *testing.T) {
	for _, c := range []struct {
		vendor, file string
		want         metadataReq
		ok           bool
	}{
		{"acme", "lib.json", metadataReq{Name: "acme/lib"}, true},
		{"acme", "lib~dev.json", metadataReq{Name: "acme/lib", Dev: true}, true},
		{"acme", "lib", metadataReq{}, false},
		{"acme", "lib~dev~dev.json", metadataReq{}, false},
		{"acme", "LIB.json", metadataReq{Name: "acme/lib"}, true},
		{"acme", ".json", metadataReq{}, false},
	} {
		got, err := parseMetadata(c.vendor, c.file)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseMetadata(%q, %q) = %+v, %v", c.vendor, c.file, got, err)
		}
		if err != nil && !fault.Is(err, fault.NotFound) {
			t.Errorf("parseMetadata(%q, %q) kind %v, want NotFound", c.vendor, c.file, fault.KindOf(err))
		}
	}
}

func TestParseProvider(t *testing.T) {
	for _, c := range []struct {
		vendor, file string
		want         string // "" for refused
	}{
		{"acme", "lib.json", "acme/lib"},
		{"acme", "lib$0123abcd.json", "acme/lib"},
		{"Acme", "Lib$.json", "acme/lib"},
		{"acme", "lib", ""},
		{"acme", "$abc.json", ""},
		{"acme", "li b.json", ""},
	} {
		got, err := parseProvider(c.vendor, c.file)
		if c.want == "" {
			if err == nil || !fault.Is(err, fault.NotFound) {
				t.Errorf("parseProvider(%q, %q) = %+v, %v; want NotFound", c.vendor, c.file, got, err)
			}
			continue
		}
		if err != nil || got != (metadataReq{Name: c.want, Provider: true}) {
			t.Errorf("parseProvider(%q, %q) = %+v, %v", c.vendor, c.file, got, err)
		}
	}
}

func TestParseDist(t *testing.T) {
	for _, c := range []struct {
		vendor, pkg, ref, tail string
		want                   distReq
		ok                     bool
	}{
		{"acme", "lib", "abc", "1.0.0.0.zip", distReq{"acme/lib", "abc", "1.0.0.0", "zip"}, true},
		{"acme", "lib", "_", "dev-feature/x.zip", distReq{"acme/lib", "_", "dev-feature/x", "zip"}, true},
		{"acme", "lib", "abc", "1.0.0.0.tar", distReq{"acme/lib", "abc", "1.0.0.0", "tar"}, true},
		{"acme", "lib", "abc", "zip", distReq{}, false},
		{"acme", "lib", "abc", ".zip", distReq{}, false},
		{"acme", "lib", "abc", "1.0.Z!p", distReq{}, false},
		{"acme", "lib", "..", "1.0.0.0.zip", distReq{}, false},
		{"acme", "l ib", "abc", "1.0.0.0.zip", distReq{}, false},
	} {
		got, err := parseDist(c.vendor, c.pkg, c.ref, c.tail)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseDist(%q, %q, %q, %q) = %+v, %v", c.vendor, c.pkg, c.ref, c.tail, got, err)
		}
	}
}

func TestParsePublishVersion(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"1.2", "1.2.0.0", true},
		{"v1.0.0-beta.1", "1.0.0.0-beta1", true},
		{"dev-main", "dev-main", true},
		{"1.x-dev", "1.9999999.9999999.9999999-dev", true},
		{"1.0.0+build5", "1.0.0.0", true},
		{"1.0 as 2.0", "", false},
		{"1.0@beta", "", false},
		{"", "", false},
		{"latest", "", false},
		{"dev-", "", false},
		{"dev-a//b", "", false},
		{"1.0.0-1", "", false},
		{" 1.0", "", false},
	} {
		_, got, err := parsePublishVersion(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parsePublishVersion(%q) = %q, %v", c.in, got, err)
		}
		if err != nil && !fault.Is(err, fault.Invalid) {
			t.Errorf("parsePublishVersion(%q) kind %v", c.in, fault.KindOf(err))
		}
	}
}

func FuzzParseDist(f *testing.F) {
	f.Add("acme", "lib", "abc", "1.0.0.0.zip")
	f.Add("acme", "lib", "_", "dev-x/y.tar")
	f.Fuzz(func(t *testing.T, vendor, pkg, ref, tail string) {
		d, err := parseDist(vendor, pkg, ref, tail)
		if err != nil {
			return
		}
		if !nameRE.MatchString(d.Name) || d.Version == "" || !typeRE.MatchString(d.Type) {
			t.Errorf("parseDist(%q, %q, %q, %q) accepted %+v", vendor, pkg, ref, tail, d)
		}
		// A parsed request round-trips through the URL the edge writes.
		if ref != "_" {
			u := edgeDistURL("", d.Name, d.Version, d.Ref, d.Type)
			if !strings.HasPrefix(u, distPath+d.Name+"/"+d.Ref+"/") {
				t.Errorf("dist URL %q does not hold %+v", u, d)
			}
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add("acme", "lib~dev.json")
	f.Fuzz(func(t *testing.T, vendor, file string) {
		m, err := parseMetadata(vendor, file)
		if err == nil && !nameRE.MatchString(m.Name) {
			t.Errorf("parseMetadata(%q, %q) accepted %+v", vendor, file, m)
		}
	})
}
