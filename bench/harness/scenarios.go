package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entrepot/deploy/testkit/cluster"
)

type scenario struct {
	name      string
	about     string
	skipSmoke bool
	run       func(b *bench, ctx context.Context) error
}

var scenarios = []scenario{
	{name: "packument", about: "hot npm packument, abbreviated and full, anonymous and with a token", run: (*bench).packument},
	{name: "tarball", about: "hot npm tarball (~1 MiB)", run: (*bench).tarball},
	{name: "oci-blob", about: "hot OCI blob of 100 MiB and 1 GiB", run: (*bench).ociBlob},
	{name: "stampede", about: "cold stampede: N concurrent requests of one uncached tarball behind a slow upstream", run: (*bench).stampede},
	{name: "publish", about: "npm publish and OCI push of small artifacts", run: (*bench).publish},
	{name: "mix", about: "the requests of an npm ci of a lockfile and of a container pull, replayed concurrently", run: (*bench).mix},
	{name: "packument-sizes", about: "hot abbreviated packuments of about 2, 20 and 60 KB, anonymous and with a token, against nginx and a bare fasthttp handler serving the same bytes", skipSmoke: true, run: (*bench).packumentSizes},
	{name: "memory", about: "the server's RSS after warming 15 large packuments, full and abbreviated, at CACHE_MEMORY of 64 and 256 MiB", skipSmoke: true, run: (*bench).memory},
	{name: "install", about: "pnpm and npm install of a generated 400-package tree, warm client store, no lockfile, through Entrepot and through Verdaccio", skipSmoke: true, run: (*bench).install},
	{name: "scale", about: "1, 2 and 3 edges on the given MongoDB and S3 behind nginx: hot reads per edge count, publish-to-visible latency across edges, upstream requests of a stampede spread over them", run: (*bench).scale},
}

func scenarioNames() []string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return n
}

// api calls the management API.
func (b *bench) api(method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.base+"/api/v1"+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(req, out)
}

func do(req *http.Request, out any) error {
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func get(u string, hdr map[string]string) ([]byte, error) {
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %.200s", u, resp.StatusCode, body)
	}
	return body, err
}

// makePublic turns the bench organization's repositories public, so that
// anonymous scenarios can read them.
func (b *bench) makePublic() error {
	var list struct {
		Items []struct{ ID, Visibility string }
	}
	if err := b.api("GET", "/organizations/bench/repositories", b.admin, nil, &list); err != nil {
		return err
	}
	for _, r := range list.Items {
		if r.Visibility != "public" {
			if err := b.api("PUT", "/repositories/"+r.ID, b.admin, map[string]string{"visibility": "public"}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// hosted npm package shared by the packument and tarball scenarios.
type npmFixture struct {
	name, version string
	tgz           []byte
	packumentURL  string
	tarballURL    string
}

var fixtureOnce sync.Mutex

func (b *bench) npmFixture() (*npmFixture, error) {
	fixtureOnce.Lock()
	defer fixtureOnce.Unlock()
	if b.rep.npm != nil {
		return b.rep.npm, nil
	}
	size := 1 << 20
	if b.o.Smoke {
		size = 16 << 10
	}
	f := &npmFixture{name: "@bench/pkg", version: "1.0.0", tgz: cluster.NPMTarball("@bench/pkg", "1.0.0", size)}
	if err := npmPut(b.base, b.admin, f.name, f.version, f.tgz); err != nil {
		return nil, err
	}
	if err := b.makePublic(); err != nil {
		return nil, err
	}
	f.packumentURL = b.base + "/npm/@bench%2fpkg"
	var doc struct {
		Versions map[string]struct{ Dist struct{ Tarball string } }
	}
	raw, err := get(f.packumentURL, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	f.tarballURL = doc.Versions[f.version].Dist.Tarball
	if f.tarballURL == "" {
		return nil, fmt.Errorf("packument has no tarball URL: %.300s", raw)
	}
	b.rep.npm = f
	return f, nil
}

const abbreviated = "application/vnd.npm.install-v1+json"

func (b *bench) packument(ctx context.Context) error {
	f, err := b.npmFixture()
	if err != nil {
		return err
	}
	abbrev := map[string]string{"Accept": abbreviated}
	body, err := get(f.packumentURL, abbrev)
	if err != nil {
		return err
	}
	n := int64(len(body))
	if err := b.measure(ctx, "packument (abbreviated)", "entrepot", b.srv, Load{URLs: []string{f.packumentURL}, Header: abbrev}, n); err != nil {
		return err
	}
	withToken := map[string]string{"Accept": abbreviated, "Authorization": "Bearer " + b.token}
	if err := b.measure(ctx, "packument (abbreviated, token)", "entrepot", b.srv, Load{URLs: []string{f.packumentURL}, Header: withToken}, n); err != nil {
		return err
	}
	full, err := get(f.packumentURL, nil)
	if err != nil {
		return err
	}
	if err := b.measure(ctx, "packument (full)", "entrepot", b.srv, Load{URLs: []string{f.packumentURL}}, int64(len(full))); err != nil {
		return err
	}
	if b.o.References {
		if err := b.static(ctx, "packument (abbreviated)", map[string][]byte{"packument.json": body}); err != nil {
			return err
		}
		if err := b.verdaccio(ctx, f); err != nil {
			fmt.Fprintf(b.log, "   verdaccio: %v\n", err)
		}
	}
	return nil
}

func (b *bench) tarball(ctx context.Context) error {
	f, err := b.npmFixture()
	if err != nil {
		return err
	}
	if err := b.measure(ctx, "npm tarball", "entrepot", b.srv, Load{URLs: []string{f.tarballURL}}, int64(len(f.tgz))); err != nil {
		return err
	}
	if b.o.References {
		return b.static(ctx, "npm tarball", map[string][]byte{"pkg.tgz": f.tgz})
	}
	return nil
}

// registryToken gets an OCI registry token for the bench repository.
func (b *bench) registryToken(scope string) (string, error) {
	req, _ := http.NewRequest("GET", b.base+"/v2/token?service=entrepot&scope="+url.QueryEscape(scope), nil)
	req.SetBasicAuth("admin", adminPassword)
	var out struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := do(req, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		out.Token = out.AccessToken
	}
	return out.Token, nil
}

// pushBlob uploads data to repo in two steps (POST, then PUT with the
// digest), which every registry accepts.
func pushBlob(base, repo, token string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	req, _ := http.NewRequest("POST", base+"/v2/"+repo+"/blobs/uploads/", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		return "", fmt.Errorf("start upload: %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(base)
	u = u.ResolveReference(loc)
	q := u.Query()
	q.Set("digest", digest)
	u.RawQuery = q.Encode()
	req, _ = http.NewRequest("PUT", u.String(), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if err := do(req, nil); err != nil {
		return "", err
	}
	return digest, nil
}

func (b *bench) ociBlob(ctx context.Context) error {
	token, err := b.registryToken("repository:bench/app:pull,push")
	if err != nil {
		return err
	}
	sizes := []int{100 << 20, 1 << 30}
	if b.o.Smoke {
		sizes = []int{1 << 20}
	}
	for _, size := range sizes {
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{7, byte(size >> 20)}).Read(data)
		base := b.srv.usage()
		digest, err := pushBlob(b.base, "bench/app", token, data)
		if err != nil {
			return err
		}
		pushed := b.srv.usage()
		name := fmt.Sprintf("OCI blob %s", human(float64(size)))
		u := b.base + "/v2/bench/app/blobs/" + digest
		conc := min(b.o.Concurrency, 8) // big bodies: a few connections saturate
		if err := b.measure(ctx, name, "entrepot", b.srv, Load{URLs: []string{u}, Header: map[string]string{"Authorization": "Bearer " + token}, Concurrency: conc}, int64(size)); err != nil {
			return err
		}
		pulled := b.srv.usage()
		b.rep.note(name, rssNote(base, pushed, pulled))
		if b.o.References {
			if err := b.staticConc(ctx, name, map[string][]byte{"blob": data}, conc); err != nil {
				return err
			}
			if err := b.distribution(ctx, name, data, conc); err != nil {
				fmt.Fprintf(b.log, "   distribution: %v\n", err)
			}
		}
	}
	return nil
}

// slowUpstream is a local npm upstream for the cold scenarios: it serves
// generated packages and counts requests; tarballs of "stampede-*"
// packages take a while, as a distant upstream would.
type slowUpstream struct {
	*httptest.Server
	hits  sync.Map // path → *atomic.Int64
	delay time.Duration
	tgz   sync.Map // name → []byte
	files sync.Map // path → [2][]byte: generated documents and tarballs, served as they are
}

// put makes the upstream answer path with data (a generated tarball, or a
// full packument), and with abbrev, when given, to a request for the
// abbreviated packument, as a real npm registry does.
func (u *slowUpstream) put(path string, data, abbrev []byte) {
	u.files.Store(path, [2][]byte{data, abbrev})
}

func newSlowUpstream() *slowUpstream {
	u := &slowUpstream{delay: 2 * time.Second}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	return u
}

func (u *slowUpstream) count(path string) int64 {
	v, _ := u.hits.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func (u *slowUpstream) tarball(name string) []byte {
	if v, ok := u.tgz.Load(name); ok {
		return v.([]byte)
	}
	t := cluster.NPMTarball(name, "1.0.0", 64<<10)
	v, _ := u.tgz.LoadOrStore(name, t)
	return v.([]byte)
}

func (u *slowUpstream) serve(w http.ResponseWriter, r *http.Request) {
	v, _ := u.hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if v, ok := u.files.Load(r.URL.Path); ok {
		f := v.([2][]byte)
		body, ctype := f[0], "application/json"
		switch {
		case strings.HasSuffix(r.URL.Path, ".tgz"):
			ctype = "application/octet-stream"
		case f[1] != nil && strings.Contains(r.Header.Get("Accept"), abbreviated):
			body, ctype = f[1], abbreviated
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	if name, file, ok := strings.Cut(p, "/-/"); ok {
		if file != name+"-1.0.0.tgz" {
			http.NotFound(w, r)
			return
		}
		if strings.HasPrefix(name, "stampede-") {
			time.Sleep(u.delay)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(u.tarball(name))
		return
	}
	name, _ := url.PathUnescape(p)
	if strings.ContainsAny(name, "/@") {
		http.NotFound(w, r)
		return
	}
	t := u.tarball(name)
	s5 := sha512.Sum512(t)
	doc := map[string]any{
		"name": name, "dist-tags": map[string]string{"latest": "1.0.0"},
		"versions": map[string]any{"1.0.0": map[string]any{
			"name": name, "version": "1.0.0",
			"dist": map[string]any{
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s5[:]),
				"tarball":   u.URL + "/" + name + "/-/" + name + "-1.0.0.tgz",
			},
		}},
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

func (b *bench) stampede(ctx context.Context) error {
	hits, bad := b.coldStampede(fmt.Sprintf("cold stampede (%d)", b.o.Stampede), "stampede", func(int) string { return b.base })
	if hits != 1 || bad != 0 {
		return fmt.Errorf("stampede: %d upstream requests, %d bad responses", hits, bad)
	}
	return nil
}

// coldStampede sends the -stampede count of concurrent requests for one
// uncached tarball of the slow upstream, the i-th to base(i), records the
// row of scenario and returns the upstream's request count and the
// number of answers that were not its bytes.
func (b *bench) coldStampede(scenario, label string, base func(i int) string) (hits, bad int64) {
	name := fmt.Sprintf("%s-%d", label, time.Now().UnixNano()%1e6)
	want := b.up.tarball(name)
	path := "/npm/" + name + "/-/" + name + "-1.0.0.tgz"
	n := b.o.Stampede
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	lat := make([]time.Duration, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			body, err := get(base(i)+path, nil)
			lat[i] = time.Since(t0)
			if err == nil && bytes.Equal(body, want) {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	hits = b.up.count(strings.TrimPrefix(path, "/npm"))
	b.rep.add(Row{
		Scenario: scenario, Target: "entrepot",
		Result: summarize(lat, int64(n), failed.Load(), ok.Load()*int64(len(want)), elapsed),
		Note:   fmt.Sprintf("upstream requests %d (must be 1); %d of %d responses byte-identical and verified (%s each); all served in %s behind a %s upstream", hits, ok.Load(), n, human(float64(len(want))), elapsed.Round(time.Millisecond), b.up.delay),
	})
	fmt.Fprintf(b.log, "   upstream requests %d, %d/%d correct, %s\n", hits, ok.Load(), n, elapsed.Round(time.Millisecond))
	return hits, failed.Load()
}

func (b *bench) publish(ctx context.Context) error {
	count := 200
	if b.o.Smoke {
		count = 10
	}
	conc := min(b.o.Concurrency, 16)
	run := func(label string, one func(i int) error) error {
		var next, errs atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1))
					if i > count {
						return
					}
					if err := one(i); err != nil {
						if errs.Add(1) == 1 {
							fmt.Fprintf(b.log, "   %s: %v\n", label, err)
						}
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		b.rep.add(Row{Scenario: label, Target: "entrepot", Result: Result{Requests: int64(count), Errors: errs.Load(), Elapsed: el, RPS: float64(count) / el.Seconds(), Tool: "built-in"}})
		fmt.Fprintf(b.log, "   %s: %.0f/s, %d errors\n", label, float64(count)/el.Seconds(), errs.Load())
		return nil
	}
	stamp := time.Now().UnixNano() % 1e9
	if err := run("npm publish (4 KiB)", func(i int) error {
		return npmPublish(b.base, b.admin, fmt.Sprintf("@bench/p%d-%d", stamp, i), "1.0.0", 4<<10)
	}); err != nil {
		return err
	}
	token, err := b.registryToken("repository:bench/push:pull,push")
	if err != nil {
		return err
	}
	return run("OCI blob push (4 KiB)", func(i int) error {
		data := make([]byte, 4<<10)
		rand.NewChaCha8([32]byte{9, byte(i), byte(i >> 8), byte(stamp)}).Read(data)
		_, err := pushBlob(b.base, "bench/push", token, data)
		return err
	})
}

// mix replays what `npm ci` of a 40-package lockfile asks for (a
// packument and a tarball each, mirrored) and what a container pull asks
// for (a blob), concurrently.
func (b *bench) mix(ctx context.Context) error {
	var urls []string
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("mix-pkg-%d", i)
		urls = append(urls, b.base+"/npm/"+name, b.base+"/npm/"+name+"/-/"+name+"-1.0.0.tgz")
	}
	f, err := b.npmFixture()
	if err != nil {
		return err
	}
	urls = append(urls, f.tarballURL)
	for _, u := range urls { // warm: the mix measures a hot cache
		if _, err := get(u, map[string]string{"Accept": abbreviated}); err != nil {
			return err
		}
	}
	return b.measure(ctx, "mix (npm ci of 40 packages)", "entrepot", b.srv, Load{URLs: urls, Header: map[string]string{"Accept": abbreviated}}, 0)
}

// writeFiles puts files in a fresh folder for a static server.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rssNote says what pushing and pulling one blob cost in memory. Every
// figure, the growth included, comes from the same kind of sample: the
// resident set (VmRSS) at each point, whose difference is the growth. The
// high-water mark (VmHWM) is the process's whole life, an earlier
// scenario's peak included, so it is given once, apart, and never
// subtracted from a current figure.
func rssNote(base, pushed, pulled usage) string {
	return fmt.Sprintf("server RSS %s before the push, %s after it, %s after the pulls: growth %s (peak RSS of the process so far %s)",
		human(float64(base.RSS)), human(float64(pushed.RSS)), human(float64(pulled.RSS)), signedHuman(pulled.RSS-base.RSS), human(float64(pulled.PeakRSS)))
}

func signedHuman(n int64) string {
	if n < 0 {
		return "-" + human(float64(-n))
	}
	return human(float64(n))
}
