package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"entrepot/hosted/fault"
)

// Params are argon2id parameters. Every hash records its own, in the PHC
// string format
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
//
// (salt and hash in unpadded standard base64), so that the parameters can
// be raised later without invalidating stored hashes.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams returns the parameters of new hashes: 19 MiB, 2 passes,
// 1 lane (the OWASP baseline for argon2id), 16-byte salt, 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters, so that a corrupt or hostile stored hash cannot make
// a verification allocate gigabytes or spin for minutes.
const (
	maxMemory   = 1 << 20 // 1 GiB in KiB
	maxTime     = 64
	minPassword = 8
	maxPassword = 1024
)

func (p Params) check() error {
	const op = "auth.Params"
	switch {
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fault.Newf(op, fault.Invalid, "argon2id memory %d KiB out of range", p.Memory)
	case p.Time < 1 || p.Time > maxTime:
		return fault.Newf(op, fault.Invalid, "argon2id time %d out of range", p.Time)
	case p.Threads < 1:
		return fault.New(op, fault.Invalid, "argon2id needs at least one lane")
	case p.SaltLen < 8 || p.SaltLen > 64:
		return fault.Newf(op, fault.Invalid, "argon2id salt length %d out of range", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > 128:
		return fault.Newf(op, fault.Invalid, "argon2id key length %d out of range", p.KeyLen)
	}
	return nil
}

// HashPassword hashes password with argon2id under p and a fresh random
// salt and returns the PHC string. It fails with Invalid when p is out of
// range.
func HashPassword(password string, p Params) (string, error) {
	if err := p.check(); err != nil {
		return "", fault.Op("auth.HashPassword", err)
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks password against a PHC string made by HashPassword,
// with the parameters recorded in it, comparing in constant time. rehash
// reports that the hash is weaker than current and should be replaced now
// that the clear password is at hand. A malformed hash gives Internal.
func VerifyPassword(password, encoded string, current Params) (ok, rehash bool, err error) {
	p, salt, key, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	rehash = p.Memory < current.Memory || p.Time < current.Time || p.Threads < current.Threads ||
		p.SaltLen < current.SaltLen || p.KeyLen < current.KeyLen
	return true, rehash, nil
}

// parseHash splits a PHC argon2id string into its parameters, salt and key.
func parseHash(encoded string) (Params, []byte, []byte, error) {
	const op = "auth.parseHash"
	bad := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fault.Newf(op, fault.Internal, "malformed password hash: %s", why)
	}
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return bad("not argon2id")
	}
	var v int
	if _, err := fmt.Sscanf(f[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("version")
	}
	var p Params
	if n, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 {
		return bad("parameters")
	}
	salt, err := base64.RawStdEncoding.DecodeString(f[4])
	if err != nil {
		return bad("salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(f[5])
	if err != nil {
		return bad("key")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.check(); err != nil {
		return bad(err.Error())
	}
	return p, salt, key, nil
}

// checkPasswordPolicy refuses passwords too short to resist guessing or so
// long that hashing them is a denial of service.
func checkPasswordPolicy(op, password string) error {
	if len(password) < minPassword {
		return fault.Newf(op, fault.Invalid, "password must be at least %d characters", minPassword)
	}
	if len(password) > maxPassword {
		return fault.Newf(op, fault.Invalid, "password must be at most %d bytes", maxPassword)
	}
	return nil
}
