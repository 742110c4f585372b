package npm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"entrepot/edge/archive"
	"entrepot/hosted/fault"
)

func TestSplitAttachments(t *testing.T) {
	data := bytes.Repeat([]byte("tarball bytes "), 1000)
	b64 := base64.StdEncoding.EncodeToString(data)
	tests := []struct {
		name, doc string
		want      []byte // what the attachment decodes to (nil: none)
		kind      fault.Kind
	}{
		{"publish", `{"name":"a","versions":{"1.0.0":{"data":"not this"}},"_attachments":{"a-1.0.0.tgz":{"content_type":"application/octet-stream","data":"` + b64 + `","length":14000}}}`, data, 0},
		{"attachments first", `{"_attachments":{"a-1.0.0.tgz":{"data":"` + b64 + `"}},"name":"a"}`, data, 0},
		{"escaped slashes and line breaks", `{"_attachments":{"a.tgz":{"data":"` + strings.ReplaceAll(b64[:76], "/", `\/`) + `\n` + b64[76:] + `"}}}`, data, 0},
		{"deprecation", `{"name":"a","versions":{"1.0.0":{"deprecated":"use b"}}}`, nil, 0},
		{"nested data elsewhere", `{"x":{"_attachments":{"a":{"data":"QUJD"}}}}`, nil, 0},
		{"not base64", `{"_attachments":{"a.tgz":{"data":"!!!!"}}}`, nil, fault.Invalid},
		{"unicode escape", `{"_attachments":{"a.tgz":{"data":"\u0041AAA"}}}`, nil, fault.Invalid},
		{"cut", `{"_attachments":{"a.tgz":{"data":"QUJD`, nil, fault.Invalid},
		{"two attachments", `{"_attachments":{"a.tgz":{"data":"QUJD"},"b.tgz":{"data":"QUJD"}}}`, nil, fault.Invalid},
		{"document too large", `{"readme":"` + strings.Repeat("x", 2<<10) + `"}`, nil, fault.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *bytes.Buffer
			doc, err := splitAttachments(strings.NewReader(tt.doc), 1<<10, func(string) (io.Writer, error) {
				if got != nil {
					return nil, fault.New("test", fault.Invalid, "two attachments")
				}
				got = &bytes.Buffer{}
				return got, nil
			})
			if tt.kind != 0 {
				if !fault.Is(err, tt.kind) {
					t.Fatalf("err = %v, want kind %v", err, tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(doc) {
				t.Fatalf("not JSON: %s", doc)
			}
			if tt.want == nil {
				if got != nil {
					t.Fatalf("diverted %q", got)
				}
				if string(doc) != tt.doc {
					t.Fatalf("doc changed: %s", doc)
				}
				return
			}
			if got == nil || !bytes.Equal(got.Bytes(), tt.want) {
				t.Fatalf("attachment not decoded whole")
			}
			if bytes.Contains(doc, []byte(b64[:40])) || !bytes.Contains(doc, []byte(`"data":""`)) {
				t.Fatalf("the document kept the data: %.200s", doc)
			}
		})
	}
}

func FuzzSplitAttachments(f *testing.F) {
	f.Add([]byte(`{"name":"a","_attachments":{"a-1.0.0.tgz":{"data":"QUJD","length":3}}}`))
	f.Add([]byte(`{"_attachments":{"a":{"data":"QU\/D\n"}},"versions":{}}`))
	f.Add([]byte(`{"a":["_attachments",{"data":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var att bytes.Buffer
		doc, err := splitAttachments(bytes.NewReader(b), 1<<20, func(string) (io.Writer, error) { return &att, nil })
		if err == nil && len(doc) > len(b) {
			t.Fatalf("the document grew: %d > %d", len(doc), len(b))
		}
	})
}

func tgz(t testing.TB, hs ...*tar.Header) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	pj := `{"name":"demo","version":"1.0.0"}`
	tw.WriteHeader(&tar.Header{Name: "package/package.json", Typeflag: tar.TypeReg, Size: int64(len(pj)), Mode: 0o644})
	tw.Write([]byte(pj))
	for _, h := range hs {
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write(make([]byte, h.Size))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestReadPackageJSON(t *testing.T) {
	n, _ := ParseName("demo")
	for _, tt := range []struct {
		name string
		h    *tar.Header
		kind fault.Kind
	}{
		{"good", &tar.Header{Name: "package/index.js", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, 0},
		{"dotdot", &tar.Header{Name: "package/../../evil.js", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, fault.Invalid},
		{"symlink", &tar.Header{Name: "package/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, fault.Invalid},
		{"hard link", &tar.Header{Name: "package/link", Typeflag: tar.TypeLink, Linkname: "package/package.json"}, fault.Invalid},
		{"gzip bomb", &tar.Header{Name: "package/zeros", Typeflag: tar.TypeReg, Size: 10 << 20, Mode: 0o644}, fault.TooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tgz(t, tt.h)
			err := readPackageJSON(bytes.NewReader(b), archive.Budget(int64(len(b)), 0), n, "1.0.0")
			if tt.kind == 0 && err != nil || tt.kind != 0 && !fault.Is(err, tt.kind) {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
		})
	}
}

func FuzzReadPackageJSON(f *testing.F) {
	n, _ := ParseName("demo")
	f.Add(tgz(f))
	f.Add(tgz(f, &tar.Header{Name: "package/link", Typeflag: tar.TypeSymlink, Linkname: "/"}))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, b []byte) {
		readPackageJSON(bytes.NewReader(b), 1<<20, n, "1.0.0")
	})
}
