package maven

import (
	"encoding/hex"
	"strings"
	"testing"

	"entrepot/edge/claimtest"
)

// FuzzNormalizeClaim covers the one parser of parse.go that FuzzParse
// does not: the groupIds an organization may claim.
func FuzzNormalizeClaim(f *testing.F) {
	for _, s := range [][2]string{{"acme", "com.acme"}, {"acme", "com.acme.tools"}, {"acme", "com"}, {"acme", "Com.Acme"}, {"bobco", "org.public"}, {"acme", "com..acme"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, org, group string) {
		claimtest.CheckClaimRule(t, Protocol, NormalizeClaim, org, group)
	})
}

// FuzzParseChecksum: an uploaded checksum file either is refused or
// yields a lowercase hex digest of the algorithm's length.
func FuzzParseChecksum(f *testing.F) {
	for _, s := range []string{strings.Repeat("A", 40) + "  lib-1.0.jar\n", strings.Repeat("0", 32), "xyz", "", strings.Repeat("f", 64) + "\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for alg, n := range checksumLen {
			sum, ok := parseChecksum(b, alg)
			if !ok {
				continue
			}
			if _, err := hex.DecodeString(sum); err != nil || len(sum) != n || sum != strings.ToLower(sum) {
				t.Fatalf("parseChecksum(%q, %s) = %q", b, alg, sum)
			}
		}
	})
}
