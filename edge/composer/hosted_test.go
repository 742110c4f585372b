package composer

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

type entry struct {
	name, body string
	mode       fs.FileMode
	declared   uint64 // overrides the uncompressed size in the header
}

func archive(t *testing.T, entries ...entry) *zip.Reader {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Store}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	zw.Close()
	raw := b.Bytes()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if e.declared > 0 {
			zr.File[i].UncompressedSize64 = e.declared
		}
	}
	return zr
}

func TestCheckArchive(t *testing.T) {
	opts := Options{MaxManifestSize: 1 << 10, MaxExpandedSize: 1 << 20, MaxEntries: 10}
	manifest := `{"name":"acme/lib"}`
	for _, c := range []struct {
		name    string
		entries []entry
		kind    fault.Kind // 0 = fine
		says    string
	}{
		{"root manifest", []entry{{name: "composer.json", body: manifest}, {name: "src/A.php", body: "<?php"}}, 0, ""},
		{"one top folder", []entry{{name: "lib-1.0/composer.json", body: manifest}, {name: "lib-1.0/src/A.php", body: "<?php"}}, 0, ""},
		{"two top folders", []entry{{name: "a/composer.json", body: manifest}, {name: "b/x", body: ""}}, fault.Invalid, "no composer.json"},
		{"deep manifest only", []entry{{name: "a/b/composer.json", body: manifest}}, fault.Invalid, "no composer.json"},
		{"symlink", []entry{{name: "composer.json", body: manifest}, {name: "link", body: "/etc/passwd", mode: fs.ModeSymlink | 0o777}}, fault.Invalid, "symbolic link"},
		{"traversal", []entry{{name: "composer.json", body: manifest}, {name: "../x", body: ""}}, fault.Invalid, "climbs out"},
		{"too many entries", []entry{{name: "composer.json", body: manifest}, {name: "1"}, {name: "2"}, {name: "3"}, {name: "4"}, {name: "5"}, {name: "6"}, {name: "7"}, {name: "8"}, {name: "9"}, {name: "10"}}, fault.Invalid, "entries"},
		{"zip bomb", []entry{{name: "composer.json", body: manifest}, {name: "big", body: "x", declared: 2 << 20}}, fault.TooLarge, "expands"},
		{"lying size", []entry{{name: "composer.json", body: manifest}, {name: "big", body: "xyz", declared: 2}}, fault.Invalid, "corrupt"},
		{"big manifest", []entry{{name: "composer.json", body: `{"name":"acme/lib","x":"` + strings.Repeat("a", 2<<10) + `"}`}}, fault.Invalid, "over"},
		{"manifest not json", []entry{{name: "composer.json", body: "name: acme/lib"}}, fault.Invalid, "not a valid JSON object"},
		{"empty", nil, fault.Invalid, "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := checkArchive(archive(t, c.entries...), opts)
			if c.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := m.str("name"); n != "acme/lib" {
					t.Fatalf("manifest %v", m)
				}
				return
			}
			if err == nil || fault.KindOf(err) != c.kind || !strings.Contains(fault.Message(err), c.says) {
				t.Fatalf("err = %v (%v), want %v saying %q", err, fault.KindOf(err), c.kind, c.says)
			}
		})
	}
}

func TestPrepareVersion(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, c := range []struct {
		name, manifest, version string
		wantPretty, wantNorm    string
		says                    string
	}{
		{"query version", `{"name":"acme/lib","scripts":{"x":"y"},"config":{}}`, "1.2", "1.2", "1.2.0.0", ""},
		{"manifest version", `{"name":"Acme/Lib","version":"v2.0.0-beta.1"}`, "", "v2.0.0-beta.1", "2.0.0.0-beta1", ""},
		{"both agree", `{"name":"acme/lib","version":"1.0"}`, "1.0.0", "1.0.0", "1.0.0.0", ""},
		{"branch", `{"name":"acme/lib"}`, "dev-main", "dev-main", "dev-main", ""},
		{"both disagree", `{"name":"acme/lib","version":"1.0"}`, "1.1", "", "", "composer.json says 1.0"},
		{"no version", `{"name":"acme/lib"}`, "", "", "", "no version"},
		{"version not a string", `{"name":"acme/lib","version":1}`, "", "", "", `"version" must be a string`},
		{"no name", `{"description":"x"}`, "1.0", "", "", `no "name"`},
		{"other name", `{"name":"acme/other"}`, "1.0", "", "", "acme/other"},
		{"bad require", `{"name":"acme/lib","require":{"php":""}}`, "1.0", "", "", "no version constraint"},
		{"bad autoload", `{"name":"acme/lib","autoload":"src"}`, "1.0", "", "", `"autoload" must be an object`},
		{"bad license", `{"name":"acme/lib","license":{"x":1}}`, "1.0", "", "", `"license" must be`},
		{"empty require ok", `{"name":"acme/lib","require":[]}`, "1.0", "1.0", "1.0.0.0", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := parseObject([]byte(c.manifest))
			if err != nil {
				t.Fatal(err)
			}
			meta, pretty, norm, err := prepareVersion(m, "acme/lib", c.version, now)
			if c.says != "" {
				if err == nil || !fault.Is(err, fault.Invalid) || !strings.Contains(fault.Message(err), c.says) {
					t.Fatalf("err = %v, want Invalid saying %q", err, c.says)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pretty != c.wantPretty || norm != c.wantNorm {
				t.Fatalf("version %q %q, want %q %q", pretty, norm, c.wantPretty, c.wantNorm)
			}
			var got map[string]any
			json.Unmarshal(meta, &got)
			if got["name"] != "acme/lib" || got["version_normalized"] != norm || got["time"] != "2024-05-06T07:08:09+00:00" {
				t.Fatalf("meta %s", meta)
			}
			for _, k := range []string{"scripts", "config", "repositories"} {
				if _, ok := got[k]; ok {
					t.Fatalf("meta keeps root-only key %q: %s", k, meta)
				}
			}
		})
	}
}

func TestRenderHosted(t *testing.T) {
	v := func(norm, pretty string, deleted bool) hosted.Version {
		meta, _ := json.Marshal(map[string]string{"name": "acme/lib", "version": pretty, "version_normalized": norm})
		return hosted.Version{Version: norm, Deleted: deleted, Meta: meta,
			Files: []hosted.File{{Digest: "sha256:x", Hashes: map[string]string{"sha1": "abc"}}}}
	}
	vs := []hosted.Version{v("1.0.0.0", "1.0.0", false), v("1.10.0.0", "1.10.0", false), v("1.2.0.0", "1.2.0", false),
		v("2.0.0.0", "2.0.0", true), v("dev-main", "dev-main", false)}
	doc, err := renderHosted("acme/lib", vs, false, "http://e/composer")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"packages":{"acme/lib":[{"name":"acme/lib","version":"1.10.0","version_normalized":"1.10.0.0","dist":{"type":"zip","url":"http://e/composer/dist/acme/lib/abc/1.10.0.0.zip","reference":"abc","shasum":"abc"}},` +
		`{"version":"1.2.0","version_normalized":"1.2.0.0","dist":{"type":"zip","url":"http://e/composer/dist/acme/lib/abc/1.2.0.0.zip","reference":"abc","shasum":"abc"}},` +
		`{"version":"1.0.0","version_normalized":"1.0.0.0","dist":{"type":"zip","url":"http://e/composer/dist/acme/lib/abc/1.0.0.0.zip","reference":"abc","shasum":"abc"}}]},"minified":"composer/2.0"}`
	if string(doc) != want {
		t.Fatalf("got  %s\nwant %s", doc, want)
	}
	dev, _ := renderHosted("acme/lib", vs, true, "http://e/composer")
	if !strings.Contains(string(dev), `"dev-main"`) || strings.Contains(string(dev), "1.0.0.0") {
		t.Fatalf("dev document %s", dev)
	}
}

func TestLastModified(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 500e6, time.UTC)
	meta, _ := json.Marshal(packageMeta{LastModified: at.Unix() + 5})
	for _, c := range []struct {
		name string
		p    hosted.Package
		want int64
	}{
		{"rounded up", hosted.Package{UpdatedAt: at}, at.Unix() + 1},
		{"meta ahead", hosted.Package{UpdatedAt: at, Meta: meta}, at.Unix() + 5},
		{"whole second", hosted.Package{UpdatedAt: at.Truncate(time.Second)}, at.Unix()},
	} {
		if got := lastModified(c.p).Unix(); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
