package auth

import (
	"regexp"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("not a PHC argon2id string: %s", h)
	}
	h2, _ := HashPassword("correct horse", cheap)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	cases := []struct {
		name               string
		password           string
		current            Params
		wantOK, wantRehash bool
	}{
		{"right", "correct horse", cheap, true, false},
		{"wrong", "correct horsf", cheap, false, false},
		{"empty", "", cheap, false, false},
		{"raised memory", "correct horse", Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true, true},
		{"raised time", "correct horse", Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(c.password, h, c.current)
			if err != nil || ok != c.wantOK || rehash != c.wantRehash {
				t.Fatalf("VerifyPassword = %v, %v, %v; want %v, %v", ok, rehash, err, c.wantOK, c.wantRehash)
			}
		})
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, _, err := VerifyPassword("x", bad, cheap); err == nil {
			t.Errorf("VerifyPassword accepted malformed hash %q", bad)
		}
	}
}
