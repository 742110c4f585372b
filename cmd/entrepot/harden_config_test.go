package main

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestLimitSettings(t *testing.T) {
	c, err := loadConfig(nil, env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxConnsPerIP != 1024 || c.MinBodyRate != 8<<10 || c.MinBodyRateWindow != 30*time.Second ||
		c.AnonymousUploadTimeout != 30*time.Second || c.UpstreamAllowedHosts != nil {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = loadConfig(nil, env("MIN_BODY_RATE", "0", "MAX_CONNS_PER_IP", "0", "UPSTREAM_ALLOWED_HOSTS", "files.example, *.cdn.example:8443"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MinBodyRate >= 0 || c.MaxConnsPerIP != 0 || !slices.Equal(c.UpstreamAllowedHosts, []string{"files.example", "*.cdn.example:8443"}) {
		t.Fatalf("set: %+v", c)
	}
	for _, bad := range [][]string{
		{"MAX_CONNS_PER_IP", "-1"},
		{"MIN_BODY_RATE", "fast"},
		{"MIN_BODY_RATE_WINDOW", "500ms"},
		{"ANONYMOUS_UPLOAD_TIMEOUT", "0"},
		{"UPSTREAM_ALLOWED_HOSTS", "https://files.example/"},
	} {
		_, err := loadConfig(nil, env(bad...), nil)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Var != bad[0] {
			t.Errorf("%s=%s: %v, want an error naming %s", bad[0], bad[1], err, bad[0])
		}
	}
}
