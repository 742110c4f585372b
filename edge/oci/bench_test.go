package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pattern is an endless, deterministic, incompressible-enough stream.
type pattern struct{ n uint64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		p.n++
		x := p.n * 0x9E3779B97F4A7C15
		b[i] = byte(x >> 56)
	}
	return len(b), nil
}

func layerDigest(size int64) string {
	h := sha256.New()
	io.Copy(h, io.LimitReader(&pattern{}, size))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// heapPeak samples the heap in use until stop is closed and returns the
// largest growth over base.
func heapPeak(stop <-chan struct{}) func() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { wg.Wait(); return peak.Load() }
}

// largeLayer pushes a layer of size bytes twice, as the single streamed
// PATCH docker and podman send and as four Content-Range chunks, pulls it
// back, and returns the peak heap growth of this process (server and
// client) meanwhile.
func largeLayer(tb testing.TB, size int64) uint64 {
	x := newHarness(tb, nil, Options{})
	d := layerDigest(size)
	stop := make(chan struct{})
	wait := heapPeak(stop)
	send := func(method, url string, body io.Reader, length int64, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, x.url+url, body)
		req.SetBasicAuth("admin", x.admin)
		req.ContentLength = length
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := x.client.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, repo := range []string{"acme/streamed", "acme/chunked"} {
		loc := send("POST", "/v2/"+repo+"/blobs/uploads/", nil, 0).Header.Get("Location")
		src := io.LimitReader(&pattern{}, size)
		if repo == "acme/streamed" {
			if resp := send("PATCH", loc, src, -1); resp.StatusCode != 202 {
				tb.Fatalf("streamed patch: %d", resp.StatusCode)
			}
		} else {
			chunk := size/4 + 1
			for off := int64(0); off < size; off += chunk {
				n := min(chunk, size-off)
				resp := send("PATCH", loc, io.LimitReader(src, n), n, "Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
				if resp.StatusCode != 202 {
					tb.Fatalf("chunk at %d: %d", off, resp.StatusCode)
				}
				loc = resp.Header.Get("Location")
			}
		}
		if resp := send("PUT", loc+"?digest="+d, nil, 0); resp.StatusCode != 201 {
			tb.Fatalf("finish %s: %d", repo, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", x.url+"/v2/acme/chunked/blobs/"+d, nil)
	req.SetBasicAuth("admin", x.admin)
	resp, err := x.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	n, _ := io.Copy(h, resp.Body)
	resp.Body.Close()
	close(stop)
	peak := wait()
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); n != size || got != d {
		tb.Fatalf("pulled %d bytes with digest %s, want %d %s", n, got, size, d)
	}
	return peak
}

const heapBudget = 64 << 20

// TestLargeLayerHeap runs the large-layer path at 64 MiB.
func TestLargeLayerHeap(t *testing.T) {
	if peak := largeLayer(t, 64<<20); peak >= heapBudget {
		t.Fatalf("heap grew by %d MiB", peak>>20)
	} else {
		t.Logf("64 MiB layer: heap grew by %.1f MiB", float64(peak)/(1<<20))
	}
}

// BenchmarkLargeLayerHeap1GiB pushes (streamed and chunked) and pulls a
// 1 GiB layer and reports the heap growth, which must stay under 64 MiB:
//
//	go test -run '^$' -bench Heap1GiB -benchtime 1x ./edge/oci/
func BenchmarkLargeLayerHeap1GiB(b *testing.B) {
	for i := 0; i < b.N; i++ {
		peak := largeLayer(b, 1<<30)
		b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
		if peak >= heapBudget {
			b.Fatalf("heap grew by %d MiB", peak>>20)
		}
	}
}
