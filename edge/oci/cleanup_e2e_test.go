package oci_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestE2ECleanupUntagged pushes three images to one tag with skopeo (the
// first two end untagged), applies a policy keeping one untagged manifest,
// and checks with skopeo that the oldest is gone and the rest resolve.
func TestE2ECleanupUntagged(t *testing.T) {
	s := testkit.Start(t, "CLEANUP_INTERVAL=0")
	reg := s.Host()
	dev := s.OrgMember(t, "acme", "dev", "dev-password-123", "admin")
	creds := "dev:dev-password-123"
	var digests []string
	for i := range 3 {
		dir := t.TempDir()
		img := ociLayout(t, dir, 1000+i)
		if out, err := skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", creds, "oci:"+dir+":1", "docker://"+reg+"/acme/app:latest"); err != nil {
			t.Fatalf("push %d: %v\n%s", i, err, out)
		}
		digests = append(digests, img.digest)
	}
	var repos struct {
		Items []struct{ ID, Protocol string }
	}
	s.API("GET", "/organizations/acme/repositories", dev, nil, &repos)
	id := ""
	for _, r := range repos.Items {
		if r.Protocol == "oci" {
			id = r.ID
		}
	}
	if st, raw := s.API("PUT", "/repositories/"+id+"/cleanup", dev, map[string]any{"keep": 1}, nil); st != http.StatusOK {
		t.Fatalf("set policy: %d %s", st, raw)
	}
	var rep struct {
		Count   int
		Deleted []struct{ Version string }
	}
	if st, raw := s.API("POST", "/repositories/"+id+"/cleanup/run", dev, nil, &rep); st != http.StatusOK || rep.Count != 1 || rep.Deleted[0].Version != digests[0] {
		t.Fatalf("run: %d %s, want %s deleted", st, raw, digests[0])
	}
	inspect := func(ref string) error {
		out, err := skopeo(t, "inspect", "--raw", "--tls-verify=false", "--creds", creds, "docker://"+reg+"/acme/app"+ref)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var m struct{ SchemaVersion int }
		return json.Unmarshal([]byte(out), &m)
	}
	if err := inspect("@" + digests[0]); err == nil || !strings.Contains(err.Error(), "manifest unknown") {
		t.Fatalf("the oldest untagged manifest still resolves: %v", err)
	}
	for _, ref := range []string{"@" + digests[1], "@" + digests[2], ":latest"} {
		if err := inspect(ref); err != nil {
			t.Fatalf("%s went: %v", ref, err)
		}
	}
}
