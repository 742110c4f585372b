package testkit

import (
	"context"
	"os"
	"testing"

	"entrepot/deploy/testkit/cluster"
)

// Cluster is package cluster's scale-out deployment bound to a test:
// edges on the test MongoDB and S3 (a database and key prefix of its own),
// the same secrets, and an nginx round-robin balancer whose URL is every
// edge's PUBLIC_URL.
type Cluster struct {
	// LB is the balancer, as a Server without a process of its own: what
	// clients talk to. Its API and Get methods go through nginx.
	LB *Server
	// Edges are the edge processes, each on a fixed port: Kill one and
	// Restart it, and it rejoins the balancer.
	Edges []*Server

	*cluster.Cluster
}

// StartCluster starts n edges (0 means 3) with env on top of the
// cluster's settings, and the balancer, and stops them when the test
// ends. It skips the test when the test servers or nginx are missing,
// unless ENTREPOT_TEST_REQUIRE_CLIENTS is set (the test command): there it
// fails.
func StartCluster(t testing.TB, n int, env ...string) *Cluster {
	t.Helper()
	st, ok := cluster.StoreFromEnv(os.Getenv)
	if !ok {
		if os.Getenv("ENTREPOT_TEST_REQUIRE_CLIENTS") != "" {
			t.Fatal("ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT are not set: deploy/testenv/test.sh sets them")
		}
		t.Skip("ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT are set by `make test`")
	}
	nginx := cluster.NginxBinary()
	if !isExecutable(nginx) {
		nginx = RequireTool(t, "nginx") // fails or skips, saying why
	}
	secrets := cluster.NewSecrets()
	secrets.AdminPassword = AdminPassword
	c, err := cluster.Start(context.Background(), cluster.Config{
		Binary: Binary(t), Edges: n, Dir: t.TempDir(), Store: st, Secrets: secrets, Env: env,
		Nginx: nginx, AccessLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	tc := &Cluster{Cluster: c, LB: &Server{t: t, Edge: &cluster.Edge{URL: c.URL}}}
	for _, e := range c.Edges {
		tc.Edges = append(tc.Edges, &Server{t: t, Edge: e})
	}
	return tc
}

// Edge returns the i-th edge bound to t, for use in a subtest.
func (c *Cluster) Edge(t testing.TB, i int) *Server {
	return &Server{t: t, Edge: c.Cluster.Edges[i]}
}
