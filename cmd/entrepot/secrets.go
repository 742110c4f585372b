package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// weakSecrets are values seen in sample configurations and tutorials; a
// deployment that kept one is refused rather than run with a public key.
var weakSecrets = []string{
	"change-me-in-production", "changeme", "change-me", "changethis", "secret",
	"your-secret-key", "your-256-bit-secret", "supersecret", "password",
	"jwt-secret", "jwt_secret", "default", "entrepot", "test", "development",
}

func isWeak(v string) bool {
	l := strings.ToLower(strings.TrimSpace(v))
	for _, w := range weakSecrets {
		if strings.Contains(l, w) && len(l) < len(w)+16 {
			return true
		}
	}
	distinct := map[rune]bool{}
	for _, r := range l {
		distinct[r] = true
	}
	return len(distinct) < 8
}

func checkJWTSecret(v string) error {
	if isWeak(v) {
		return errors.New("is a known or guessable value; use a random one (for example: openssl rand -hex 32)")
	}
	if len(v) < 32 {
		return errors.New("must be at least 32 characters")
	}
	return nil
}

// decodeKey accepts 32 bytes as 64 hex characters or as base64.
func decodeKey(v string) ([]byte, error) {
	if isWeak(v) {
		return nil, errors.New("is a known or guessable value; use a random one (for example: openssl rand -hex 32)")
	}
	if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("must be 32 bytes written as 64 hex characters or base64")
}

// secretsFile holds the secrets generated for an embedded deployment.
type secretsFile struct {
	JWTSecret         string `json:"jwtSecret"`
	AuthEncryptionKey string `json:"authEncryptionKey"`
}

// ensureSecrets fills the secrets the configuration left empty from
// DATA_DIR/secrets.json, generating and saving strong ones (mode 0600) the
// first time. It returns which ones it generated, never their values.
func ensureSecrets(c *Config) (generated []string, err error) {
	if c.JWTSecret != "" && c.AuthEncryptionKey != "" {
		return nil, nil
	}
	path := filepath.Join(c.DataDir, "secrets.json")
	var sf secretsFile
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &sf); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	changed := false
	if sf.JWTSecret == "" {
		sf.JWTSecret = randomHex(32)
		generated = append(generated, "JWT_SECRET")
		changed = true
	}
	if sf.AuthEncryptionKey == "" {
		sf.AuthEncryptionKey = randomHex(32)
		generated = append(generated, "AUTH_ENCRYPTION_KEY")
		changed = true
	}
	if changed {
		out, _ := json.MarshalIndent(sf, "", "  ")
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, out, 0o600); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
	}
	if c.JWTSecret == "" {
		c.JWTSecret = sf.JWTSecret
	}
	if c.AuthEncryptionKey == "" {
		c.AuthEncryptionKey = sf.AuthEncryptionKey
	}
	return generated, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
