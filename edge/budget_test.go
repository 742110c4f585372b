package edge

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestBudgetByBytes: the budget is by bytes, shared by every shelf: many
// entries whose sum exceeds it leave the weight under it, and one entry
// heavier than the whole budget is not held at all.
func TestBudgetByBytes(t *testing.T) {
	const budget = 1 << 20
	b, err := NewBudget(budget, "")
	if err != nil {
		t.Fatal(err)
	}
	byLen := func(v []byte) int { return len(v) }
	a, c := NewShelf(b, "a", 0, byLen), NewShelf(b, "c", time.Hour, byLen)
	for i := range 40 { // 40 × 64 KiB = 2.5 MiB over two shelves
		s := a
		if i%2 == 1 {
			s = c
		}
		s.Add(strconv.Itoa(i), make([]byte, 64<<10))
		if w := b.Weight(); w > budget {
			t.Fatalf("after %d documents the budget holds %d bytes, over %d", i+1, w, budget)
		}
	}
	held := 0
	for i := range 40 {
		if _, ok := a.Get(strconv.Itoa(i)); ok {
			held++
		}
		if _, ok := c.Get(strconv.Itoa(i)); ok {
			held++
		}
	}
	if held == 0 || held >= 40 {
		t.Errorf("%d of 40 documents held, want some but not all", held)
	}
	if _, ok := a.Get("1"); ok {
		t.Error("shelves share keys: a holds c's entry")
	}
	a.Add("huge", make([]byte, 2*budget))
	if _, ok := a.Get("huge"); ok {
		t.Error("a document heavier than the budget is held in memory")
	}
	if w := b.Weight(); w > budget {
		t.Errorf("weight %d over the budget %d", w, budget)
	}
	c.Purge()
	for i := range 40 {
		if _, ok := c.Get(strconv.Itoa(i)); ok {
			t.Fatal("Purge left an entry")
		}
	}
}

// TestPreparedFile: a document above the sendfile threshold is held as a
// prepared file (its body is not in memory), is served from that file as
// an *os.File body (which fasthttp sends by sendfile), gzip variant too,
// answers 304 and HEAD, and its files are removed once it leaves the
// budget; a small one stays in memory.
func TestPreparedFile(t *testing.T) {
	const budget = 1 << 20
	b, err := NewBudget(budget, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b.linger = 0
	docs := NewShelf(b, "docs", 0, (*Document).Weight)
	var body []byte // ~1.5 MiB, over the budget in memory, and compressing to more than 8 KiB
	for i := 0; len(body) < 3<<19; i++ {
		body = strconv.AppendQuote(append(body, ','), strconv.FormatUint(uint64(i)*0x9e3779b97f4a7c15, 36))
	}
	d := b.NewDocument(body, DocOptions{ContentType: "application/json"})
	if d.body != nil || d.gz != nil || d.file == "" || d.gzFile == "" {
		t.Fatalf("large document in memory: body %d, gz %d bytes, files %q %q", len(d.body), len(d.gz), d.file, d.gzFile)
	}
	docs.Add("big", d)
	if _, ok := docs.Get("big"); !ok {
		t.Fatal("a prepared document, light in memory, is not held")
	}
	if w := d.Weight(); w > len(body)/4 {
		t.Errorf("prepared document weighs %d", w)
	}

	serve := func(header ...string) *fasthttp.RequestCtx {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/big")
		for i := 0; i < len(header); i += 2 {
			ctx.Request.Header.Set(header[i], header[i+1])
		}
		d.Serve(&ctx)
		return &ctx
	}
	ctx := serve()
	if _, ok := ctx.Response.BodyStream().(*os.File); !ok {
		t.Errorf("body is a %T, not a file", ctx.Response.BodyStream())
	}
	if got := ctx.Response.Body(); !bytes.Equal(got, body) {
		t.Errorf("served %d bytes, want %d", len(got), len(body))
	}
	etag := string(ctx.Response.Header.Peek("ETag"))

	ctx = serve("Accept-Encoding", "gzip")
	if ce := ctx.Response.Header.Peek("Content-Encoding"); string(ce) != "gzip" {
		t.Fatalf("Content-Encoding %q", ce)
	}
	if _, ok := ctx.Response.BodyStream().(*os.File); !ok {
		t.Errorf("gzip body is a %T, not a file", ctx.Response.BodyStream())
	}
	zr, err := gzip.NewReader(bytes.NewReader(ctx.Response.Body()))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(zr); !bytes.Equal(got, body) {
		t.Errorf("gzip variant decodes to %d bytes, want %d", len(got), len(body))
	}

	if ctx = serve("If-None-Match", etag); ctx.Response.StatusCode() != fasthttp.StatusNotModified {
		t.Errorf("If-None-Match: %d", ctx.Response.StatusCode())
	}
	var head fasthttp.RequestCtx
	head.Request.Header.SetMethod("HEAD")
	d.Serve(&head)
	if n := head.Response.Header.ContentLength(); n != len(body) {
		t.Errorf("HEAD Content-Length %d, want %d", n, len(body))
	}

	small := b.NewDocument([]byte(`{"name":"small"}`), DocOptions{ContentType: "application/json"})
	if small.file != "" || small.body == nil {
		t.Error("a small document went to a file")
	}

	if n := len(b.filesIn()); n != 2 {
		t.Fatalf("%d prepared files, want 2", n)
	}
	docs.Remove("big")
	deadline := time.Now().Add(10 * time.Second)
	for len(b.filesIn()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("prepared files of a removed document stay: %v", b.filesIn())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBudgetSweepsAtStart: files left in the prepared folder by a
// previous run are removed.
func TestBudgetSweepsAtStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/d-old", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := NewBudget(1<<20, dir)
	if err != nil {
		t.Fatal(err)
	}
	if f := b.filesIn(); len(f) != 0 {
		t.Errorf("left from before: %v", f)
	}
}
