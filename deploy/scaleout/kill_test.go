package scaleout_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/deploy/testkit/cluster"
)

// TestKillEdgeMidUpload SIGKILLs one edge while it receives an npm publish
// and an OCI blob upload, with reads and publishes flowing through the
// balancer all along: every request sent after the kill succeeds (nginx
// takes the dead edge out and passes the request on), nothing of the
// interrupted uploads is visible on the other edges, and the edge, started
// again on its port, serves what was published while it was down and
// takes its share of the balancer's traffic again.
func TestKillEdgeMidUpload(t *testing.T) {
	f := newFixture(t)
	victim := f.c.Edges[2]
	const steady = "@acme/steady"
	if st, b := publish(t, f.c.URL, f.token, steady, "1.0.0", "", 64<<10); st != 200 && st != 201 {
		t.Fatalf("publish: %d %s", st, b)
	}

	// Load through the balancer: readers of the steady package, and a
	// writer publishing new versions of it, each request timed.
	type outcome struct {
		start time.Time
		what  string
		err   string
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		stop     atomic.Bool
		wg       sync.WaitGroup
		version  atomic.Int64
	)
	record := func(start time.Time, what string, status int, want ...int) {
		o := outcome{start: start, what: what}
		ok := false
		for _, w := range want {
			ok = ok || status == w
		}
		if !ok {
			o.err = fmt.Sprintf("status %d", status)
		}
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}
	client := &http.Client{Timeout: 30 * time.Second}
	status := func(req *http.Request) int {
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				start := time.Now()
				req, _ := http.NewRequest("GET", f.c.URL+"/npm/"+url.PathEscape(steady), nil)
				record(start, "read", status(req), 200)
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; !stop.Load(); i++ {
			start := time.Now()
			v := fmt.Sprintf("1.1.%d", i)
			body := cluster.NPMPublishBody(f.npmURL, steady, v, "", cluster.NPMTarball(steady, v, 4<<10))
			req, _ := http.NewRequest("PUT", f.c.URL+"/npm/"+url.PathEscape(steady), strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			st := status(req)
			record(start, "publish", st, 200, 201)
			if st == 200 || st == 201 {
				version.Store(int64(i))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	// Two big uploads straight to the victim, each stalled halfway.
	tgz := cluster.NPMTarball("@acme/big", "1.0.0", 24<<20)
	npmBody := cluster.NPMPublishBody(f.npmURL, "@acme/big", "1.0.0", "", tgz)
	layer := make([]byte, 24<<20)
	rand.Read(layer)
	layerDigest := digestOf(layer)
	token := registryToken(t, victim.URL, "acme/big", "dev:"+devPassword)
	resp, b := testkit.Request(t, "POST", victim.URL+"/v2/acme/big/blobs/uploads/", nil, "Authorization", "Bearer "+token)
	if resp.StatusCode != 202 {
		t.Fatalf("start OCI upload: %d %s", resp.StatusCode, b)
	}
	loc, _ := url.Parse(resolve(t, victim.URL, resp.Header.Get("Location")))
	patchURL := victim.URL + loc.RequestURI() // the victim itself, whatever host the Location names
	uploads := []struct {
		name, method, url string
		body              []byte
		header            []string
	}{
		{"npm publish", "PUT", victim.URL + "/npm/" + url.PathEscape("@acme/big"), npmBody, []string{"Content-Type", "application/json", "Authorization", "Bearer " + f.token}},
		{"OCI PATCH", "PATCH", patchURL, layer, []string{"Content-Type", "application/octet-stream", "Authorization", "Bearer " + token}},
	}
	var upWG sync.WaitGroup
	halfway := make(chan struct{}, len(uploads))
	cut := make(chan struct{})
	for _, u := range uploads {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(u.method, u.url, pr)
		req.ContentLength = int64(len(u.body))
		for i := 0; i+1 < len(u.header); i += 2 {
			req.Header.Set(u.header[i], u.header[i+1])
		}
		upWG.Add(2)
		go func() {
			defer upWG.Done()
			pw.Write(u.body[:len(u.body)/2])
			halfway <- struct{}{}
			<-cut
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}()
		go func() {
			defer upWG.Done()
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode < 300 {
					t.Errorf("%s to the victim succeeded (%d) although it was killed halfway", u.name, resp.StatusCode)
				}
			}
		}()
	}
	for range uploads {
		select {
		case <-halfway:
		case <-time.After(bound):
			t.Fatal("an upload never got halfway")
		}
	}
	time.Sleep(300 * time.Millisecond) // let the victim take in what was sent
	victim.Kill()
	killed := time.Now()
	close(cut)
	upWG.Wait()
	t.Logf("killed edge 2 (SIGKILL) halfway through a %d MiB npm publish and a %d MiB blob PATCH", len(npmBody)>>20, len(layer)>>20)

	time.Sleep(3 * time.Second) // the cluster keeps serving through the balancer
	stop.Store(true)
	wg.Wait()
	var before, after, failedBefore, writesAfter int
	for _, o := range outcomes {
		if o.start.Before(killed) {
			before++
			if o.err != "" {
				failedBefore++
			}
			continue
		}
		after++
		if o.what == "publish" && o.err == "" {
			writesAfter++
		}
		if o.err != "" {
			t.Errorf("%s through the balancer %s after the kill: %s", o.what, o.start.Sub(killed).Round(time.Millisecond), o.err)
		}
	}
	t.Logf("through the balancer: %d requests before the kill (%d failed), %d after it (%d publishes)", before, failedBefore, after, writesAfter)
	if writesAfter == 0 {
		t.Error("no publish went through the balancer after the kill")
	}

	// Nothing half-visible on the survivors.
	for i := range 2 {
		e := f.c.Edge(t, i)
		if _, st := getPackument(t, e.URL, f.token, "@acme/big"); st != 404 {
			t.Errorf("edge %d: the interrupted npm publish answers %d, want 404", i, st)
		}
		if resp, _ := testkit.Request(t, "HEAD", e.URL+"/v2/acme/big/blobs/"+layerDigest, nil, "Authorization", "Bearer "+token); resp.StatusCode != 404 {
			t.Errorf("edge %d: the interrupted blob answers %d, want 404", i, resp.StatusCode)
		}
	}

	// Started again on its port, the edge serves what was published while
	// it was down and rejoins the balancer.
	victim.Restart()
	last := fmt.Sprintf("1.1.%d", version.Load())
	if _, ok := until(func() bool {
		p, _ := getPackument(t, victim.URL, f.token, steady)
		_, ok := p.Versions[last]
		return ok
	}); !ok {
		t.Errorf("the restarted edge does not serve %s@%s, published while it was down", steady, last)
	}
	mark := len(f.c.Nginx.AccessLog())
	if d, ok := until(func() bool {
		getPackument(t, f.c.URL, f.token, steady)
		return strings.Contains(f.c.Nginx.AccessLog()[mark:], "upstream="+victim.Host()+" upstream_status=200")
	}); !ok {
		t.Error("the balancer never sent the restarted edge a request")
	} else {
		t.Logf("the restarted edge answered through the balancer again %s after its start", d.Round(time.Millisecond))
	}
}
