package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/edge/warm"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/blob/s3"
	"entrepot/hosted/bolt"
	"entrepot/hosted/changes"
	"entrepot/hosted/mongo"
	"entrepot/hosted/quota"
	"entrepot/upstream"
)

// sweepEvery is how often stale temp files of interrupted blob writes are
// swept while running; at start-up every temp file is stale.
const sweepEvery = time.Hour

func serve(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	args, removeData, err := ephemeral(args, stderr)
	if err != nil {
		return err
	}
	defer removeData()
	cfg, err := loadConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logOut := newLogBuffer(stderr)
	defer logOut.Close()
	log := newLogger(cfg, logOut)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return &ConfigError{Var: "DATA_DIR", Err: err}
	}

	meta, metaBackend, err := openMeta(ctx, cfg)
	if err != nil {
		return err
	}
	defer meta.Close(context.Background())
	defer listenBackups(ctx, cfg.DataDir, meta, log)()

	if cfg.MongoURL == "" {
		gen, err := ensureSecrets(cfg)
		if err != nil {
			return &ConfigError{Var: "DATA_DIR", Err: fmt.Errorf("secrets: %w", err)}
		}
		if len(gen) > 0 {
			log.Info("generated secrets", "names", gen, "file", filepath.Join(cfg.DataDir, "secrets.json"))
		}
	}

	blobs, blobBackend, err := openBlobs(ctx, cfg)
	if err != nil {
		return err
	}
	if sw, ok := blobs.(sweeper); ok {
		sweepTemp(ctx, sw, 0, "interrupted blob writes", log)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ups, err := newUpstreams(cfg, reg)
	if err != nil {
		return err
	}

	// Every change a cache may hold is recorded in the store and followed
	// by every edge sharing it (feed.Run, below, once all subscribe). The
	// embedded store is one process's (its file is locked): its changes
	// need no record.
	feed := changes.New(meta, changes.Options{Interval: cfg.ChangeFeedInterval, Logger: log, Registerer: reg, Local: cfg.MongoURL == ""})

	encKey, _ := decodeKey(cfg.AuthEncryptionKey) // validated with the configuration
	authSvc, err := auth.New(meta, auth.Config{
		SigningKey: []byte(cfg.JWTSecret), EncryptionKey: encKey,
		Protocols: protocolNames(), Reserved: reservedNames(),
		Changes: feed,
	})
	if err != nil {
		return &ConfigError{Var: "JWT_SECRET", Err: err}
	}
	generated, err := authSvc.Bootstrap(ctx, cfg.AdminEmail, cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if generated != "" {
		// Shown once, on the terminal only: it is never logged or stored.
		logOut.Flush()
		fmt.Fprintf(stderr, "\nentrepot: created the platform admin %q (%s) with the password:\n\n    %s\n\nIt is shown only this once; set ADMIN_PASSWORD to choose it instead.\n\n",
			auth.BootstrapUsername, cfg.AdminEmail, generated)
	}
	auditor := auth.NewAuditor(meta, log, 4096)
	auditDone := make(chan struct{})
	go func() { auditor.Run(ctx); close(auditDone) }()
	tokensDone := make(chan struct{})
	go func() {
		authSvc.RunTokenFlusher(ctx, 30*time.Second, func(err error) { log.Warn("token use flush", "error", err) })
		close(tokensDone)
	}()

	expiry := cfg.UpstreamCacheExpiry
	if !cfg.UpstreamCache {
		expiry = 0
	}
	// The caches stay within CACHE_MEMORY, but a large document's fill
	// and rewrite are transient garbage that the collector, left at its
	// default pace, keeps as RSS long after: a soft memory limit a little
	// above the budget makes it return that memory (GOMEMLIMIT, when set,
	// is the operator's word).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.CacheMemory + memoryHeadroom)
	}
	budget, err := edge.NewBudget(cfg.CacheMemory, filepath.Join(cfg.DataDir, "prepared"))
	if err != nil {
		return &ConfigError{Var: "DATA_DIR", Err: fmt.Errorf("prepared documents: %w", err)}
	}
	registry := (&edge.Registry{
		Catalog:         hosted.NewCatalog(meta).WithChanges(feed),
		Blobs:           blobs,
		Cache:           cache.New(meta, blobs, cache.Options{Registerer: reg, Logger: log, Local: cfg.MongoURL == ""}),
		Auth:            authSvc,
		Audit:           auditor,
		Base:            &edge.BaseURL{Fixed: cfg.PublicURL, Trusted: cfg.TrustedProxies},
		Log:             log,
		MetadataTTL:     expiry,
		AnonymousMirror: true,
		MaxUpload:       cfg.MaxUpload,
		SpoolDir:        filepath.Join(cfg.DataDir, "spool"),
		Changes:         feed,
		Budget:          budget,
	}).Init()
	quotas := quota.New(meta, registry.Catalog, cfg.Quota)
	registry.Quota = quotas
	feed.Subscribe(authSvc.Changed)
	feed.Subscribe(registry.Changed) // and through it every protocol's caches (Registry.OnChange)
	// An upload spooled by a publish lives as long as its request, at most
	// the upload timeout: one older than that was left by a crash. (OCI's
	// upload sessions, also under SpoolDir, are swept by their handler.)
	// With the embedded store, whose file this process locks, nothing else
	// writes under DATA_DIR: every spooled upload there is a crash's.
	spoolKeep := edge.DefaultUploadTimeout
	if cfg.MongoURL == "" {
		spoolKeep = 0
	}
	sweepTemp(ctx, sweepFunc(registry.SweepSpool), spoolKeep, "interrupted publishes", log)
	// Claims written before names were folded move to their folded key,
	// so that every spelling of a claimed name keeps resolving hosted.
	if n, err := registry.Catalog.RekeyClaims(ctx); err != nil {
		log.Warn("claims not all rekeyed", "moved", n, "error", err)
	} else if n > 0 {
		log.Info("claims rekeyed", "moved", n)
	}
	var health []edge.UpstreamHealth
	byName := map[string]*upstream.Client{}
	for _, u := range ups {
		health = append(health, u)
		byName[u.Name()] = u
		go u.Run(ctx, 30*time.Second)
	}

	srv := edge.New(edge.Config{
		Version:   version,
		Logger:    log,
		AccessLog: edge.NewAccessLog(logOut, cfg.LogFormat == "json"),
		Registry:  reg,
		Components: []edge.Component{
			{Name: "metadata", Backend: metaBackend, Pinger: meta, Required: true, Aliases: []string{"mongodb"}},
			{Name: "blobs", Backend: blobBackend, Pinger: blobs, Required: true, Aliases: []string{"s3"}},
		},
		Upstreams: health,

		MaxConnsPerIP:          cfg.MaxConnsPerIP,
		MinBodyRate:            cfg.MinBodyRate,
		MinBodyRateWindow:      cfg.MinBodyRateWindow,
		AnonymousUploadTimeout: cfg.AnonymousUploadTimeout,
		MaxBody:                cfg.MaxUpload,
	})
	srv.Mux().AnonymousReads(registry.AnonymousMirrorReads)
	cleaner := newCleanup(cfg, registry, auditor, log)
	mount(srv.Mux(), registry, byName, cleaner, newPolicy(registry, auditor, log, reg))
	// Warm jobs ask this edge for each artifact over loopback, as a
	// client would; its address is known once it listens.
	var self atomic.Value
	warm.New(registry, func() string { s, _ := self.Load().(string); return s }, srv.Mux().Protocols).Mount(srv.Mux().Group(api.Prefix))
	if cfg.RootPaths {
		srv.Mux().RootPaths(rootFallback, rootRules...)
	}
	feedDone := make(chan struct{})
	go func() { feed.Run(ctx); close(feedDone) }()
	// The collector keeps also the blobs of this edge's prepared documents
	// (registry's markers); its LastRun is the dashboard's "last GC run".
	collector := newCollector(cfg, meta, blobs, log, registry)
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		if cfg.GCInterval > 0 {
			collector.RunEvery(ctx, cfg.GCInterval)
		}
	}()
	cleanupDone := make(chan struct{})
	go func() {
		defer close(cleanupDone)
		if cfg.CleanupInterval > 0 {
			cleaner.RunEvery(ctx, cfg.CleanupInterval)
		}
	}()

	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &ConfigError{Var: "PORT", Err: fmt.Errorf("cannot listen on %s: %w", addr, errors.Unwrap(err))}
	}
	self.Store("http://" + ln.Addr().String())
	log.Info("listening", "addr", ln.Addr().String(), "metadata", metaBackend, "blobs", blobBackend, "version", version)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := sdNotify(getenv("NOTIFY_SOCKET"), "READY=1"); err != nil {
		log.Warn("sd_notify", "error", err)
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sdNotify(getenv("NOTIFY_SOCKET"), "STOPPING=1")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "error", err)
	}
	// The background writers flush what they hold once ctx is done.
	stop()
	<-auditDone
	<-tokensDone
	<-feedDone
	<-gcDone
	<-cleanupDone
	log.Info("stopped")
	return nil
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	// Warnings and errors quote foreign text: no credential gets through.
	return slog.New(edge.RedactWarnings(h))
}

func openMeta(ctx context.Context, cfg *Config) (hosted.Store, string, error) {
	if cfg.MongoURL != "" {
		s, err := mongo.Open(ctx, cfg.MongoURL, cfg.MongoDB)
		if err != nil {
			return nil, "", &ConfigError{Var: "MONGODB_URL", Err: err}
		}
		return s, "mongodb", nil
	}
	s, err := bolt.Open(filepath.Join(cfg.DataDir, "entrepot.db"))
	if err != nil {
		return nil, "", &ConfigError{Var: "DATA_DIR", Err: err}
	}
	return s, "bbolt", nil
}

func openBlobs(ctx context.Context, cfg *Config) (blob.Store, string, error) {
	if cfg.S3.Endpoint != "" {
		spool := filepath.Join(cfg.DataDir, "spool", "s3")
		if err := os.MkdirAll(spool, 0o750); err != nil {
			return nil, "", &ConfigError{Var: "DATA_DIR", Err: err}
		}
		s, err := s3.New(ctx, s3.Config{
			Endpoint:       cfg.S3.Endpoint,
			Region:         cfg.S3.Region,
			Bucket:         cfg.S3.Bucket,
			AccessKey:      cfg.S3.AccessKey,
			SecretKey:      cfg.S3.SecretKey,
			ForcePathStyle: cfg.S3.ForcePathStyle,
			Prefix:         cfg.StorePath,
			TempDir:        spool,
		})
		if err != nil {
			return nil, "", &ConfigError{Var: "S3_ENDPOINT", Err: err}
		}
		return s, "s3", nil
	}
	s, err := fs.New(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		return nil, "", &ConfigError{Var: "DATA_DIR", Err: err}
	}
	return s, "filesystem", nil
}

// sweeper is a blob store that keeps temp files of its own.
type sweeper interface {
	Sweep(cutoff time.Time) (int, error)
}

// sweepFunc is a sweeper made of its Sweep.
type sweepFunc func(cutoff time.Time) (int, error)

func (f sweepFunc) Sweep(cutoff time.Time) (int, error) { return f(cutoff) }

// sweepTemp removes what interrupted writes (of what) left behind: at
// start-up, every temp file older than keep (with keep 0, all of them:
// with the embedded store, its file lock makes this process the data
// directory's only writer; with S3, a live writer never uses its spool
// file's name again, so even a directory wrongly shared by two edges loses
// only crash leftovers, see s3.Store.Sweep), then, until ctx ends, files
// older than a day (or keep, if longer).
func sweepTemp(ctx context.Context, s sweeper, keep time.Duration, what string, log *slog.Logger) {
	if n, err := s.Sweep(time.Now().Add(-keep)); err != nil {
		log.Warn("sweep temp files", "of", what, "error", err)
	} else if n > 0 {
		log.Info("swept temp files", "of", what, "count", n)
	}
	go func() {
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.Sweep(time.Now().Add(-max(keep, 24*time.Hour)))
			}
		}
	}()
}

func newUpstreams(cfg *Config, reg prometheus.Registerer) ([]*upstream.Client, error) {
	var out []*upstream.Client
	add := func(name, envVar, base string) error {
		c, err := upstream.New(name, base, upstream.Options{UserAgent: "entrepot/" + version, Registerer: reg, Timeout: cfg.UpstreamTimeout, AllowedHosts: cfg.UpstreamAllowedHosts})
		if err != nil {
			return &ConfigError{Var: envVar, Err: err}
		}
		out = append(out, c)
		return nil
	}
	for _, p := range protocols {
		if u, ok := cfg.Upstreams[p.name]; ok {
			if err := add(p.name, p.upstream, u); err != nil {
				return nil, err
			}
		}
	}
	for _, o := range cfg.UpstreamOCI {
		if err := add("oci/"+o.Prefix, "UPSTREAM_OCI", o.URL); err != nil {
			return nil, err
		}
	}
	for _, o := range cfg.UpstreamGoSumDB {
		if err := add("gosumdb/"+o.Prefix, "UPSTREAM_GOSUMDB", o.URL); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// memoryHeadroom is what the process may hold besides its caches before
// the collector works harder: connections' buffers, fills in flight, the
// runtime itself.
const memoryHeadroom = 48 << 20
