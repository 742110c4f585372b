package maven

import (
	"testing"

	"entrepot/hosted/fault"
)

func FuzzCheckPOM(f *testing.F) {
	f.Add([]byte(`<project><groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.0</version></project>`))
	f.Add([]byte(`<project><parent><groupId>com.acme</groupId><version>1.0</version></parent><artifactId>lib</artifactId></project>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><project>&a;</project>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := CheckPOM(b, "com.acme", "lib", "1.0"); err != nil && !fault.Is(err, fault.Invalid) {
			t.Fatalf("kind %v: %v", fault.KindOf(err), err)
		}
	})
}
