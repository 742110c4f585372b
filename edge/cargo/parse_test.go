package cargo

import (
	"bytes"
	"encoding/binary"
	"testing"

	"entrepot/hosted/fault"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"serde", true},
		{"Foo_bar", true},
		{"foo-bar2", true},
		{"a", true},
		{"", false},
		{"1abc", false},
		{"_abc", false},
		{"-abc", false},
		{"foo.bar", false},
		{"foo/bar", false},
		{"ünï", false},
		{string(bytes.Repeat([]byte("a"), 64)), true},
		{string(bytes.Repeat([]byte("a"), 65)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkName(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("checkName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if err != nil && !fault.Is(err, fault.Invalid) {
				t.Fatalf("kind %v", fault.KindOf(err))
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for _, tt := range []struct{ a, b string }{{"Foo_bar", "foo-bar"}, {"FOO-BAR", "foo_bar"}, {"serde", "Serde"}} {
		if normalize(tt.a) != normalize(tt.b) {
			t.Errorf("%q and %q should collide", tt.a, tt.b)
		}
	}
	if normalize("foobar") == normalize("foo-bar") {
		t.Error("foobar and foo-bar must not collide")
	}
}

func TestParseIndexPath(t *testing.T) {
	tests := []struct {
		path string
		want indexRequest
		ok   bool
	}{
		{"config.json", indexRequest{Config: true}, true},
		{"1/a", indexRequest{Name: "a"}, true},
		{"2/ab", indexRequest{Name: "ab"}, true},
		{"3/a/abc", indexRequest{Name: "abc"}, true},
		{"se/rd/serde", indexRequest{Name: "serde"}, true},
		{"fo/o-/foo-bar", indexRequest{Name: "foo-bar"}, true},
		{"fo/o_/foo_bar", indexRequest{Name: "foo_bar"}, true},
		{"Se/rd/Serde", indexRequest{}, false},
		{"se/rd/serdE", indexRequest{}, false},
		{"xx/rd/serde", indexRequest{}, false},
		{"3/b/abc", indexRequest{}, false},
		{"1/ab", indexRequest{}, false},
		{"serde", indexRequest{}, false},
		{"se/rd/../serde", indexRequest{}, false},
		{"", indexRequest{}, false},
		{"config.json/x", indexRequest{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := parseIndexPath(tt.path)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("parseIndexPath(%q) = %+v, %v; want %+v ok=%v", tt.path, got, err, tt.want, tt.ok)
			}
			if err != nil && !fault.Is(err, fault.NotFound) {
				t.Fatalf("kind %v, want NotFound", fault.KindOf(err))
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in, key string
		ok      bool
	}{
		{"1.0.0", "1.0.0", true},
		{"0.1.0-alpha.1", "0.1.0-alpha.1", true},
		{"1.2.3+build.5", "1.2.3", true},
		{"1.2.3-rc.1+meta", "1.2.3-rc.1", true},
		{"1.0", "", false},
		{"v1.0.0", "", false},
		{"01.0.0", "", false},
		{"1.0.0-", "", false},
		{"", "", false},
		{"latest", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, key, err := parseVersion(tt.in)
			if (err == nil) != tt.ok || key != tt.key {
				t.Fatalf("parseVersion(%q) = %q, %v; want %q ok=%v", tt.in, key, err, tt.key, tt.ok)
			}
		})
	}
}

func frame(meta []byte, crate []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(len(meta)))
	b.Write(meta)
	binary.Write(&b, binary.LittleEndian, uint32(len(crate)))
	b.Write(crate)
	return b.Bytes()
}

func TestReadFrame(t *testing.T) {
	good := frame([]byte(`{"name":"a"}`), []byte("crate"))
	tests := []struct {
		name string
		body []byte
		kind fault.Kind
		ok   bool
	}{
		{"good", good, 0, true},
		{"empty", nil, fault.Invalid, false},
		{"short length", []byte{1, 0}, fault.Invalid, false},
		{"short metadata", good[:8], fault.Invalid, false},
		{"no crate length", good[:4+12+2], fault.Invalid, false},
		{"metadata too large", frame(make([]byte, 101), nil), fault.TooLarge, false},
		{"crate too large", frame([]byte("{}"), make([]byte, 1001)), fault.TooLarge, false},
		{"empty crate", frame([]byte("{}"), nil), fault.Invalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta, n, err := readFrame(bytes.NewReader(tt.body), 100, 1000)
			if tt.ok {
				if err != nil || string(meta) != `{"name":"a"}` || n != 5 {
					t.Fatalf("got %q %d %v", meta, n, err)
				}
				return
			}
			if err == nil || fault.KindOf(err) != tt.kind {
				t.Fatalf("got %v (%v), want %v", err, fault.KindOf(err), tt.kind)
			}
		})
	}
}

func FuzzParseIndexPath(f *testing.F) {
	for _, s := range []string{"config.json", "1/a", "3/a/abc", "se/rd/serde", "../x", "fo/o-/foo-bar"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, err := parseIndexPath(p)
		if err != nil {
			return
		}
		if !r.Config && (checkName(r.Name) != nil || indexPath(r.Name) != p) {
			t.Fatalf("accepted %q as %+v", p, r)
		}
	})
}

func FuzzParsePublish(f *testing.F) {
	f.Add(frame([]byte(`{"name":"a","vers":"1.0.0","deps":[]}`), []byte("x")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		meta, n, err := readFrame(bytes.NewReader(b), 1<<16, 1<<20)
		if err != nil {
			return
		}
		if n <= 0 || n > 1<<20 || int64(len(meta)) > 1<<16 {
			t.Fatalf("bad frame: %d %d", len(meta), n)
		}
		if m, err := decodePublish(meta); err == nil {
			if checkName(m.Name) != nil {
				t.Fatalf("accepted name %q", m.Name)
			}
			indexEntryOf(m, "00")
		}
	})
}
