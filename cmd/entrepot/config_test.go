package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

const strongSecret = "4f9c1e7a2b8d6f3e0a5c9b1d7e2f8a4c6b0d3e9f1a7c5b2d8e4f0a6c3b9d1e7f"

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(nil, env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "0.0.0.0" || c.Port != 3000 || c.DataDir != "./data" || c.MongoDB != "entrepot" ||
		c.StorePath != "packages" || !c.UpstreamCache || c.UpstreamCacheExpiry != 24*time.Hour ||
		c.LogFormat != "text" || len(c.Upstreams) != 0 || len(c.UpstreamOCI) != 0 || c.PublicURL != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigFlagsOverrideEnv(t *testing.T) {
	c, err := loadConfig([]string{"--port", "4000", "--upstream-npm", "http://127.0.0.1:9/npm"}, env("PORT", "3500", "UPSTREAM_NPM", "http://127.0.0.1:8/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 4000 || c.Upstreams["npm"] != "http://127.0.0.1:9/npm/" {
		t.Fatalf("got port %d upstream %q", c.Port, c.Upstreams["npm"])
	}
}

func TestConfigValues(t *testing.T) {
	c, err := loadConfig(nil, env(
		"UPSTREAM_OCI", "hub=http://127.0.0.1:5000, ghcr=https://127.0.0.1:5001/",
		"UPSTREAM_CACHE_EXPIRY", "0.5",
		"TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1",
		"PUBLIC_URL", "https://registry.test/",
		"JWT_SECRET", strongSecret,
	), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.UpstreamOCI) != 2 || c.UpstreamOCI[0] != (OCIUpstream{"hub", "http://127.0.0.1:5000"}) || c.UpstreamOCI[1].URL != "https://127.0.0.1:5001" {
		t.Fatalf("oci: %+v", c.UpstreamOCI)
	}
	if c.UpstreamCacheExpiry != 30*time.Minute || len(c.TrustedProxies) != 2 || c.PublicURL != "https://registry.test" {
		t.Fatalf("got %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name    string
		env     []string
		args    []string
		wantVar string
	}{
		{"port not a number", []string{"PORT", "abc"}, nil, "PORT"},
		{"port too big", []string{"PORT", "70000"}, nil, "PORT"},
		{"port flag", nil, []string{"--port", "-1"}, "PORT"},
		{"bad host", []string{"HOST", "not an ip"}, nil, "HOST"},
		{"mongo scheme", []string{"MONGODB_URL", "postgres://x"}, nil, "MONGODB_URL"},
		{"mongo needs jwt secret", []string{"MONGODB_URL", "mongodb://127.0.0.1:1/"}, nil, "JWT_SECRET"},
		{"mongo needs encryption key", []string{"MONGODB_URL", "mongodb://127.0.0.1:1/", "JWT_SECRET", strongSecret}, nil, "AUTH_ENCRYPTION_KEY"},
		{"weak jwt secret", []string{"JWT_SECRET", "change-me-in-production"}, nil, "JWT_SECRET"},
		{"short jwt secret", []string{"JWT_SECRET", "a8f3k2m9x"}, nil, "JWT_SECRET"},
		{"bad encryption key", []string{"AUTH_ENCRYPTION_KEY", "abcdef"}, nil, "AUTH_ENCRYPTION_KEY"},
		{"weak encryption key", []string{"AUTH_ENCRYPTION_KEY", strings.Repeat("0", 64)}, nil, "AUTH_ENCRYPTION_KEY"},
		{"oci without =", []string{"UPSTREAM_OCI", "hub"}, nil, "UPSTREAM_OCI"},
		{"oci bad url", []string{"UPSTREAM_OCI", "hub=ftp://x"}, nil, "UPSTREAM_OCI"},
		{"oci uppercase prefix", []string{"UPSTREAM_OCI", "Hub=http://x"}, nil, "UPSTREAM_OCI"},
		{"oci duplicate prefix", []string{"UPSTREAM_OCI", "hub=http://x,hub=http://y"}, nil, "UPSTREAM_OCI"},
		{"npm upstream relative", []string{"UPSTREAM_NPM", "/npm"}, nil, "UPSTREAM_NPM"},
		{"public url with query", []string{"PUBLIC_URL", "https://x/?a=b"}, nil, "PUBLIC_URL"},
		{"expiry negative", []string{"UPSTREAM_CACHE_EXPIRY", "-1"}, nil, "UPSTREAM_CACHE_EXPIRY"},
		{"log level", []string{"LOG_LEVEL", "loud"}, nil, "LOG_LEVEL"},
		{"log format", []string{"LOG_FORMAT", "xml"}, nil, "LOG_FORMAT"},
		{"bool", []string{"ENABLE_UPSTREAM_CACHE", "maybe"}, nil, "ENABLE_UPSTREAM_CACHE"},
		{"s3 needs bucket", []string{"S3_ENDPOINT", "http://127.0.0.1:9000"}, nil, "S3_BUCKET"},
		{"trusted proxies", []string{"TRUSTED_PROXIES", "nonsense"}, nil, "TRUSTED_PROXIES"},
		{"unknown flag", nil, []string{"--nope"}, "arguments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadConfig(c.args, env(c.env...), nil)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			if ce.Var != c.wantVar {
				t.Fatalf("error names %s (%v), want %s", ce.Var, err, c.wantVar)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := loadConfig([]string{"--help"}, env(), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v", err)
	}
	for _, s := range settings() {
		if !strings.Contains(out.String(), s.env) || !strings.Contains(out.String(), "--"+flagName(s.env)) {
			t.Errorf("--help does not list %s", s.env)
		}
	}
	for _, want := range []string{"3000", "0.0.0.0", "./data", "entrepot", "packages", "24"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not show default %q", want)
		}
	}
}

func TestEnsureSecrets(t *testing.T) {
	dir := t.TempDir()
	c := &Config{DataDir: dir}
	gen, err := ensureSecrets(c)
	if err != nil || len(gen) != 2 {
		t.Fatalf("generated %v (%v)", gen, err)
	}
	if checkJWTSecret(c.JWTSecret) != nil {
		t.Fatal("generated JWT secret is not strong")
	}
	if _, err := decodeKey(c.AuthEncryptionKey); err != nil {
		t.Fatalf("generated key: %v", err)
	}
	// kept across restarts, not regenerated
	c2 := &Config{DataDir: dir}
	gen, err = ensureSecrets(c2)
	if err != nil || len(gen) != 0 || c2.JWTSecret != c.JWTSecret || c2.AuthEncryptionKey != c.AuthEncryptionKey {
		t.Fatalf("second start: generated %v (%v)", gen, err)
	}
	// a given secret wins over the file
	c3 := &Config{DataDir: dir, JWTSecret: strongSecret}
	if _, err := ensureSecrets(c3); err != nil || c3.JWTSecret != strongSecret {
		t.Fatalf("configured secret replaced: %v", err)
	}
}
