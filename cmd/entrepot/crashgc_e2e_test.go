package main

import (
	"bytes"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// garbage writes n blobs that nothing references into the filesystem
// blob store under dataDir, as the layout of hosted/blob/fs has them,
// dated an hour back: the collector's candidates.
func garbage(t *testing.T, dataDir string, n int) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for range n {
		b := []byte(crand.Text() + crand.Text())
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		p := filepath.Join(dataDir, "blobs", "sha256", h[:2], h)
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, b, 0o440); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
}

// gcReport runs `entrepot gc --json` to its end.
func gcReport(t *testing.T, env []string) (rep struct{ Blobs, Referenced, Young, Freed, FreedBytes int64 }) {
	t.Helper()
	out, errOut, code := entrepot(t, nil, env, "gc", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("gc: exit %d\n%s%s", code, out, errOut)
	}
	return rep
}

// TestCrashGC kills `entrepot gc` at random points of its runs over the
// embedded store and the filesystem, each time with fresh garbage beside
// published packages whose blobs are as old: after every kill fsck finds
// every referenced blob whole and no record dangling, and nothing is left
// in the blob store's tmp/; every tenth run the server serves every
// version. A last run frees all the garbage, and npm installs from what
// is left.
func TestCrashGC(t *testing.T) {
	runs := crashRuns(t)
	seed := rand.Uint64()
	rng := mrand(seed)
	t.Logf("seed %d", seed)
	s := testkit.Start(t, "GC_GRACE=1s", "GC_INTERVAL=0")
	token := s.Token(t, s.OrgMember(t, "acme", "alice", alicePassword, "admin"), []string{"npm", "pypi", "cargo", "maven", "composer", "rubygems", "oci"}, nil, nil)
	c := &crashEnv{t: t, s: s, token: token, auth: testkit.Basic("alice", token)}
	protos := crashProtos()
	const kept = 3
	for i := range kept {
		for _, p := range protos {
			if st := p.publish(c, crashVersion(i)); !ok(st) {
				t.Fatalf("%s publish: %d", p.name, st)
			}
		}
	}
	served := func() {
		t.Helper()
		for i := range kept {
			for _, p := range protos {
				path, want := p.artifact(c, crashVersion(i))
				if code, body := c.try("GET", path, nil); code != 200 || !bytes.Equal(body, want) {
					t.Fatalf("after a killed gc: %s answers %d (%d bytes)", path, code, len(body))
				}
			}
		}
	}
	s.Stop()
	env := []string{"DATA_DIR=" + s.DataDir, "GC_GRACE=1s"}
	time.Sleep(1100 * time.Millisecond) // the published blobs are candidates too
	garbage(t, s.DataDir, 200)
	t0 := time.Now()
	first := gcReport(t, env)
	span := 2 * time.Since(t0)
	if first.Freed != 200 {
		t.Fatalf("first gc freed %d blobs, want the 200 of garbage: %+v", first.Freed, first)
	}
	killed := 0
	for i := 1; i <= runs; i++ {
		garbage(t, s.DataDir, 200)
		cmd := exec.Command(testkit.Binary(t), "gc")
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(span) + 1)))
		cmd.Process.Kill()
		if err := cmd.Wait(); err != nil {
			killed++
		}
		if out, errOut, code := entrepot(t, nil, env, "fsck"); code != 0 {
			t.Fatalf("run %d: fsck after a killed gc: exit %d\n%s%s", i, code, out, errOut)
		}
		if n := leftovers(s.DataDir); len(n) > 0 {
			t.Fatalf("run %d: a killed gc left %v", i, n)
		}
		if i%10 == 0 {
			if err := s.Edge.Start(); err != nil {
				t.Fatal(err)
			}
			served()
			s.Stop()
		}
	}
	last := gcReport(t, env)
	if last.Blobs-last.Freed != last.Referenced || last.Young != 0 {
		t.Fatalf("the last gc left garbage: %+v", last)
	}
	if again := gcReport(t, env); again.Freed != 0 {
		t.Fatalf("a gc after a complete one freed %d", again.Freed)
	}
	t.Logf("%d gc runs killed within %s (%d before they ended); the last freed %d blobs, %d referenced remain",
		runs, span, killed, last.Freed, last.Referenced)
	if err := s.Edge.Start(); err != nil {
		t.Fatal(err)
	}
	served()
	npmRead(c, crashVersion(kept-1))
}

func mrand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// TestGCWhileServing runs the background collector every second on
// MongoDB + S3 (FerretDB and MinIO) while npm and OCI publishes go on,
// with the server killed twice in the middle, and garbage put beside:
// every answered publish stays served byte for byte, the garbage goes,
// and fsck finds every referenced blob whole.
func TestGCWhileServing(t *testing.T) {
	if os.Getenv("ENTREPOT_TEST_MONGODB_URL") == "" || os.Getenv("ENTREPOT_TEST_S3_ENDPOINT") == "" {
		t.Skip("ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT are set by `make test`")
	}
	crashRuns(t)
	env := append(mongoS3Env("gcserve"), "GC_GRACE=3s", "GC_INTERVAL=1s")
	s := testkit.Start(t, env...)
	token := s.Token(t, s.OrgMember(t, "acme", "alice", alicePassword, "admin"), []string{"npm", "oci"}, nil, nil)
	c := &crashEnv{t: t, s: s, token: token, auth: testkit.Basic("alice", token)}
	env = append(env, "DATA_DIR="+s.DataDir)
	var junk []string
	for range 5 {
		out, errOut, code := entrepot(t, strings.NewReader(crand.Text()), env, "blob", "put")
		if code != 0 {
			t.Fatalf("blob put: %d %s", code, errOut)
		}
		junk = append(junk, strings.Fields(out)[0])
	}
	protos := crashProtos()
	npm, oci := protos[0], protos[len(protos)-1]
	var answered []string
	for i := 0; i < 40; i++ {
		v := crashVersion(i)
		for _, p := range []crashProto{npm, oci} {
			if st := p.publish(c, v); !ok(st) {
				t.Fatalf("%s publish %s: %d", p.name, v, st)
			}
		}
		answered = append(answered, v)
		time.Sleep(100 * time.Millisecond)
		if i == 13 || i == 27 {
			s.Kill()
			if err := s.Edge.Start(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Past the grace period one collection more frees the garbage, by
	// this process or, when an edge holds the lease, by it.
	time.Sleep(3500 * time.Millisecond)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, errOut, code := entrepot(t, nil, env, "gc")
		if code == 0 {
			t.Logf("%s", out)
			break
		}
		if !strings.Contains(errOut, "another collector") || time.Now().After(deadline) {
			t.Fatalf("gc beside the server: exit %d\n%s%s", code, out, errOut)
		}
		time.Sleep(time.Second)
	}
	for _, d := range junk {
		if _, _, code := entrepot(t, nil, env, "blob", "stat", d); code == 0 {
			t.Errorf("garbage blob %s survived", d)
		}
	}
	for _, v := range answered {
		for _, p := range []crashProto{npm, oci} {
			path, want := p.artifact(c, v)
			if code, body := c.try("GET", path, nil); code != 200 || !bytes.Equal(body, want) {
				t.Fatalf("%s answers %d (%d bytes) after collections", path, code, len(body))
			}
			if !p.listed(c, v) {
				t.Fatalf("%s %s not listed", p.name, v)
			}
		}
	}
	s.Stop()
	crashFsck(t, s.DataDir, env)
	if n := leftovers(s.DataDir); len(n) > 0 {
		t.Fatalf("files left behind: %v", n)
	}
}
