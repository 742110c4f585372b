package npm_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestE2ECleanupPolicy publishes pre-releases with the real npm, sets a
// cleanup policy through the API, dry-runs it, runs it, and checks with
// npm view that the old pre-releases are gone and that releases,
// dist-tagged versions and the newest pre-releases stay; each deletion is
// in the audit log; and the collector reclaims the tarballs.
func TestE2ECleanupPolicy(t *testing.T) {
	npm := newNPM(t)
	e := newHostedEnv(t, "GC_INTERVAL=1s", "GC_GRACE=1s", "CLEANUP_INTERVAL=0")
	rc := npmrc(t, e.s, e.full)
	cache := t.TempDir()

	dir := project(t, map[string]any{"name": "@acme/cleaned", "version": "1.0.0"})
	npm.must(t, dir, rc, cache, "publish")
	pre := []string{"1.1.0-beta.1", "1.1.0-beta.2", "1.1.0-beta.3", "1.1.0-beta.4", "2.0.0-rc.1"}
	for _, v := range pre {
		writeVersion(t, dir, v)
		npm.must(t, dir, rc, cache, "publish", "--tag", "next")
		time.Sleep(10 * time.Millisecond) // distinct publish times
	}
	// "old" keeps a pre-release that would go otherwise.
	npm.must(t, dir, rc, cache, "dist-tag", "add", "@acme/cleaned@1.1.0-beta.1", "old")
	blobsBefore := blobCount(t, e.s)

	var repos struct {
		Items []struct{ ID, Protocol string }
	}
	if st, raw := e.s.API("GET", "/organizations/acme/repositories", e.owner, nil, &repos); st != http.StatusOK {
		t.Fatalf("repositories: %d %s", st, raw)
	}
	repo := ""
	for _, r := range repos.Items {
		if r.Protocol == "npm" {
			repo = r.ID
		}
	}
	if repo == "" {
		t.Fatalf("no npm repository: %+v", repos)
	}
	base := "/repositories/" + repo + "/cleanup"

	t.Run("refusals", func(t *testing.T) {
		if st, raw := e.s.API("GET", base, e.owner, nil, nil); st != http.StatusNotFound {
			t.Fatalf("policy before any: %d %s", st, raw)
		}
		if st, raw := e.s.API("PUT", base, e.owner, map[string]any{"keep": -1}, nil); st != http.StatusUnprocessableEntity {
			t.Fatalf("keep -1: %d %s", st, raw)
		}
		if st, raw := e.s.API("PUT", base, e.owner, map[string]any{}, nil); st != http.StatusUnprocessableEntity {
			t.Fatalf("no keep: %d %s", st, raw)
		}
		// Tokens cannot manage; a read-only one cannot run a real cleanup.
		if st, raw := e.s.API("PUT", base, e.full, map[string]any{"keep": 1}, nil); st != http.StatusForbidden {
			t.Fatalf("policy set with a token: %d %s", st, raw)
		}
		if st, raw := e.s.API("PUT", base, "", map[string]any{"keep": 1}, nil); st != http.StatusUnauthorized {
			t.Fatalf("policy set anonymously: %d %s", st, raw)
		}
	})

	if st, raw := e.s.API("PUT", base, e.owner, map[string]any{"keep": 2}, nil); st != http.StatusOK {
		t.Fatalf("set policy: %d %s", st, raw)
	}
	if st, raw := e.s.API("POST", base+"/run", e.read, nil, nil); st != http.StatusForbidden {
		t.Fatalf("run with a read-only token: %d %s", st, raw)
	}
	// Untagged pre-releases, newest first: beta.4, beta.3, beta.2 (rc.1
	// holds "next", beta.1 "old"); keep 2 deletes beta.2.
	gone := []string{"1.1.0-beta.2"}
	type report struct {
		Count   int
		DryRun  bool
		Deleted []struct{ Version string }
	}
	var dry report
	if st, raw := e.s.API("POST", base+"/run?dryRun=true", e.read, nil, &dry); st != http.StatusOK {
		t.Fatalf("dry run: %d %s", st, raw)
	}
	if !dry.DryRun || dry.Count != len(gone) || dry.Deleted[0].Version != gone[0] {
		t.Fatalf("dry run report %+v, want %v", dry, gone)
	}
	versions := func() []string {
		out := npm.must(t, dir, rc, t.TempDir(), "view", "@acme/cleaned", "versions", "--json")
		var vs []string
		if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &vs); err != nil {
			t.Fatalf("npm view versions: %v\n%s", err, out)
		}
		return vs
	}
	if vs := versions(); len(vs) != 1+len(pre) {
		t.Fatalf("versions after a dry run: %v", vs)
	}

	// Keep 1 now: beta.3 goes too.
	gone = append(gone, "1.1.0-beta.3")
	if st, raw := e.s.API("PUT", base, e.owner, map[string]any{"keep": 1}, nil); st != http.StatusOK {
		t.Fatalf("set policy: %d %s", st, raw)
	}
	var rep report
	if st, raw := e.s.API("POST", base+"/run", e.full, nil, &rep); st != http.StatusOK || rep.Count != 2 {
		t.Fatalf("run: %d %s", st, raw)
	}
	vs := versions()
	for _, v := range gone {
		if slices.Contains(vs, v) {
			t.Fatalf("npm view still shows %s: %v", v, vs)
		}
	}
	for _, v := range []string{"1.0.0", "1.1.0-beta.1", "1.1.0-beta.4", "2.0.0-rc.1"} {
		if !slices.Contains(vs, v) {
			t.Fatalf("npm view lost %s: %v", v, vs)
		}
	}
	npm.fails(t, "No match found for version 1.1.0-beta.2", dir, rc, t.TempDir(), "view", "@acme/cleaned@1.1.0-beta.2", "version")
	// A deleted version can never come back.
	writeVersion(t, dir, "1.1.0-beta.2")
	npm.fails(t, "code E403", dir, rc, cache, "publish", "--tag", "next")

	var pol struct {
		Keep    int
		LastRun *struct{ Count int }
	}
	if st, raw := e.s.API("GET", base, e.owner, nil, &pol); st != http.StatusOK || pol.Keep != 1 || pol.LastRun == nil || pol.LastRun.Count != 2 {
		t.Fatalf("policy: %d %s", st, raw)
	}

	// Every deletion is audited.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var audit struct {
			Items []struct{ Target string }
		}
		e.s.API("GET", "/audit?action=cleanup.delete", e.admin, nil, &audit)
		var got []string
		for _, a := range audit.Items {
			got = append(got, a.Target)
		}
		slices.Sort(got)
		want := []string{"npm:@acme/cleaned@1.1.0-beta.2", "npm:@acme/cleaned@1.1.0-beta.3"}
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audited %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The collector (every second, 1 s grace) reclaims the two tarballs.
	for deadline := time.Now().Add(30 * time.Second); blobCount(t, e.s) > blobsBefore-2; {
		if time.Now().After(deadline) {
			t.Fatalf("blobs %d, want at most %d once collected", blobCount(t, e.s), blobsBefore-2)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if st, raw := e.s.API("DELETE", base, e.owner, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete policy: %d %s", st, raw)
	}
	if st, raw := e.s.API("POST", base+"/run", e.full, nil, nil); st != http.StatusNotFound {
		t.Fatalf("run without a policy: %d %s", st, raw)
	}
}

// TestE2ECleanupSchedule: with CLEANUP_INTERVAL set, the server applies a
// policy by itself.
func TestE2ECleanupSchedule(t *testing.T) {
	npm := newNPM(t)
	e := newHostedEnv(t, "CLEANUP_INTERVAL=1s")
	rc := npmrc(t, e.s, e.full)
	cache := t.TempDir()
	dir := project(t, map[string]any{"name": "@acme/nightly", "version": "1.0.0"})
	npm.must(t, dir, rc, cache, "publish")
	for _, v := range []string{"1.1.0-nightly.1", "1.1.0-nightly.2", "1.1.0-nightly.3"} {
		writeVersion(t, dir, v)
		npm.must(t, dir, rc, cache, "publish", "--tag", "nightly")
		time.Sleep(10 * time.Millisecond)
	}
	var repos struct {
		Items []struct{ ID, Protocol string }
	}
	e.s.API("GET", "/organizations/acme/repositories", e.owner, nil, &repos)
	for _, r := range repos.Items {
		if r.Protocol == "npm" {
			if st, raw := e.s.API("PUT", "/repositories/"+r.ID+"/cleanup", e.owner, map[string]any{"keep": 1}, nil); st != http.StatusOK {
				t.Fatalf("set policy: %d %s", st, raw)
			}
		}
	}
	// nightly.3 holds the tag; of nightly.1 and .2, keep 1 keeps .2.
	want := []string{"1.0.0", "1.1.0-nightly.2", "1.1.0-nightly.3"}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		out := npm.must(t, dir, rc, t.TempDir(), "view", "@acme/nightly", "versions", "--json")
		var vs []string
		json.Unmarshal([]byte(out[strings.Index(out, "["):]), &vs)
		if slices.Equal(vs, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("versions %v, want %v once the schedule ran", vs, want)
		}
	}
}
