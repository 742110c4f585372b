package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Store is the state the edges share: one MongoDB server and one S3
// bucket. Start gives each cluster its own database and key prefix in
// them, so that clusters (tests) never see one another's data.
type Store struct {
	MongoURL                             string
	S3Endpoint, S3AccessKey, S3SecretKey string
	S3Bucket, S3Region                   string
}

// StoreFromEnv reads the ENTREPOT_TEST_* variables that
// deploy/testenv/start.sh writes (through getenv, os.Getenv in practice);
// ok is false when the MongoDB URL or the S3 endpoint is missing.
func StoreFromEnv(getenv func(string) string) (s Store, ok bool) {
	s = Store{
		MongoURL:    getenv("ENTREPOT_TEST_MONGODB_URL"),
		S3Endpoint:  getenv("ENTREPOT_TEST_S3_ENDPOINT"),
		S3AccessKey: getenv("ENTREPOT_TEST_S3_ACCESS_KEY"),
		S3SecretKey: getenv("ENTREPOT_TEST_S3_SECRET_KEY"),
		S3Bucket:    getenv("ENTREPOT_TEST_S3_BUCKET"),
		S3Region:    getenv("ENTREPOT_TEST_S3_REGION"),
	}
	return s, s.MongoURL != "" && s.S3Endpoint != ""
}

// Env is the settings of an edge on database and key prefix (STORAGE_PATH)
// of s.
func (s Store) Env(database, prefix string) []string {
	return []string{
		"MONGODB_URL=" + s.MongoURL, "MONGODB_DB=" + database,
		"S3_ENDPOINT=" + s.S3Endpoint, "S3_BUCKET=" + s.S3Bucket, "S3_REGION=" + cmp.Or(s.S3Region, "us-east-1"),
		"S3_ACCESS_KEY=" + s.S3AccessKey, "S3_SECRET_KEY=" + s.S3SecretKey,
		"S3_FORCE_PATH_STYLE=true", "STORAGE_PATH=" + prefix,
	}
}

// Secrets are what every edge must be given identically: sessions signed
// by one edge are checked by another, provider secrets sealed by one are
// opened by another, and the first edge to start creates the admin.
type Secrets struct {
	JWTSecret         string // JWT_SECRET
	AuthEncryptionKey string // AUTH_ENCRYPTION_KEY
	AdminPassword     string // ADMIN_PASSWORD
}

// NewSecrets draws fresh random secrets.
func NewSecrets() Secrets {
	return Secrets{JWTSecret: randHex(32), AuthEncryptionKey: randHex(32), AdminPassword: "cluster-" + randHex(12)}
}

// Env is the settings that carry s (ADMIN_PASSWORD only when set).
func (s Secrets) Env() []string {
	env := []string{"JWT_SECRET=" + s.JWTSecret, "AUTH_ENCRYPTION_KEY=" + s.AuthEncryptionKey}
	if s.AdminPassword != "" {
		env = append(env, "ADMIN_PASSWORD="+s.AdminPassword)
	}
	return env
}

// Config is what Start runs.
type Config struct {
	Binary string // the entrepot binary
	Edges  int    // how many edges; 0 means 3
	Dir    string // an existing folder for the edges' DATA_DIRs and nginx's files
	Store  Store
	// Secrets of every edge; zero means NewSecrets.
	Secrets Secrets
	// Env holds further settings of every edge (UPSTREAM_NPM=..., ...);
	// they come after the cluster's own and may override them.
	Env []string
	// Nginx is the nginx binary; "" means nginx on PATH, else /usr/sbin/nginx.
	Nginx string
	// AccessLog makes nginx write DIR/nginx/access.log with the edge that
	// answered each request; benchmarks leave it off.
	AccessLog bool
	// LogLimit is each Edge's LogLimit.
	LogLimit int
}

// Cluster is a running set of edges behind a balancer.
type Cluster struct {
	URL      string  // the balancer, "http://127.0.0.1:PORT": the edges' PUBLIC_URL
	Edges    []*Edge // each on a fixed port, so that a restarted edge rejoins the balancer
	Secrets  Secrets
	Database string // MONGODB_DB of this cluster
	Prefix   string // STORAGE_PATH (key prefix in the bucket) of this cluster
	Nginx    *Nginx
}

// Start runs the edges and the balancer and returns once the balancer
// answers /healthz with 200. The first edge starts alone (it creates the
// indexes and the admin), the others together. On error, what was started
// is stopped.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if cfg.Edges <= 0 {
		cfg.Edges = 3
	}
	if cfg.Secrets == (Secrets{}) {
		cfg.Secrets = NewSecrets()
	}
	ports, err := freePorts(cfg.Edges + 1)
	if err != nil {
		return nil, err
	}
	id := randHex(6)
	c = &Cluster{
		URL:      "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		Secrets:  cfg.Secrets,
		Database: "scale_" + id,
		Prefix:   "scale-" + id,
	}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	// What must be shared: the database and the bucket, the secrets, and
	// the public address, which is the balancer's.
	shared := append(append(cfg.Store.Env(c.Database, c.Prefix), c.Secrets.Env()...),
		"PUBLIC_URL="+c.URL, "TRUSTED_PROXIES=127.0.0.1")
	for i := range cfg.Edges {
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("edge%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return c, err
		}
		env := append(append([]string{"DATA_DIR=" + dir, "PORT=" + strconv.Itoa(ports[i+1])}, shared...), cfg.Env...)
		c.Edges = append(c.Edges, &Edge{Binary: cfg.Binary, DataDir: dir, Env: env, LogLimit: cfg.LogLimit})
	}
	if err := c.Edges[0].Start(); err != nil {
		return c, fmt.Errorf("edge 0: %w", err)
	}
	errs := make([]error, len(c.Edges))
	var wg sync.WaitGroup
	for i, e := range c.Edges[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Start(); err != nil {
				errs[i+1] = fmt.Errorf("edge %d: %w", i+1, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	var addrs []string
	for _, e := range c.Edges {
		addrs = append(addrs, e.Host())
	}
	c.Nginx, err = StartNginx(ctx, NginxConfig{
		Binary: cfg.Nginx, Dir: filepath.Join(cfg.Dir, "nginx"), Port: ports[0], Edges: addrs, AccessLog: cfg.AccessLog,
	})
	if err != nil {
		return c, err
	}
	return c, WaitHealthy(ctx, c.URL, 30*time.Second)
}

// Close stops the balancer and every edge. It is safe to call twice.
func (c *Cluster) Close() {
	if c.Nginx != nil {
		c.Nginx.Stop()
	}
	var wg sync.WaitGroup
	for _, e := range c.Edges {
		wg.Add(1)
		go func() { defer wg.Done(); e.Stop() }()
	}
	wg.Wait()
}

// WaitHealthy polls base+"/healthz" until it answers 200, up to timeout.
func WaitHealthy(ctx context.Context, base string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/healthz not healthy within %s: %s", base, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts returns n distinct loopback ports that were free a moment
// ago. The edges need ports fixed before they start: the balancer's is
// their PUBLIC_URL, and theirs are in the balancer's configuration.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
