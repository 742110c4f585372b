package cargo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"testing"
	"time"

	"entrepot/auth"
	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/upstream"
)

// harness runs the handler in this process over real stores (bbolt, the
// filesystem blob store), so that handler tests run under the race
// detector without the binary, and benchmarks profile this process.
type harness struct {
	t     testing.TB
	edge  *testkit.Edge
	h     *Handler
	auth  *auth.Service
	token string // an srg_ token of the admin, who owns "acme"
}

// newHarness starts the handler; metadataTTL, when given, replaces the
// hour mirrored metadata stays fresh.
func newHarness(t testing.TB, up *upstream.Client, metadataTTL ...time.Duration) *harness {
	t.Helper()
	opts := testkit.EdgeOptions{MaxUpload: 1 << 20}
	if len(metadataTTL) > 0 {
		opts.MetadataTTL = metadataTTL[0]
	}
	x := &harness{t: t}
	x.edge = testkit.StartEdge(t, opts, func(r *edge.Registry, m *edge.Mux) {
		x.h = New(r, up, Options{})
		x.h.Mount(m.Group("/cargo"))
	})
	x.auth, x.token = x.edge.Auth, x.edge.Token
	return x
}

// do sends a request with the given Authorization ("" for none).
func (x *harness) do(method, path, authz string, body []byte, hdr ...string) (*http.Response, []byte) {
	x.t.Helper()
	return x.edge.Do(x.t, method, path, body, append([]string{"Authorization", authz}, hdr...)...)
}

// publish uploads a minimal crate name@vers with the admin's token.
func (x *harness) publish(name, vers string) (int, string) {
	x.t.Helper()
	meta := fmt.Sprintf(`{"name":%q,"vers":%q,"deps":[],"features":{},"description":"crate %s"}`, name, vers, name)
	crate := crateFile(x.t, map[string]string{name + "-" + vers + "/Cargo.toml": fmt.Sprintf("[package]\nname = %q\nversion = %q\n", name, vers)})
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(len(meta)))
	b.WriteString(meta)
	binary.Write(&b, binary.LittleEndian, uint32(len(crate)))
	b.Write(crate)
	resp, body := x.do("PUT", "/cargo/api/v1/crates/new", x.token, b.Bytes())
	return resp.StatusCode, string(body)
}
