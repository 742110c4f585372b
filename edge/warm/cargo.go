package warm

import (
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/BurntSushi/toml"

	"entrepot/hosted/fault"
)

// parseCargo reads a Cargo.lock: every [[package]] from a registry
// (source "registry+…" or "sparse+…"), with its sha256 checksum. Path,
// git and workspace packages have no source or another one and are left
// out: the mirror does not serve them.
func parseCargo(body []byte) ([]Item, error) {
	var lock struct {
		Package []struct {
			Name     string `toml:"name"`
			Version  string `toml:"version"`
			Source   string `toml:"source"`
			Checksum string `toml:"checksum"`
		} `toml:"package"`
	}
	if _, err := toml.Decode(string(body), &lock); err != nil {
		return nil, fault.Newf("warm", fault.Invalid, "Cargo.lock is not a lockfile: %v", err)
	}
	var items []Item
	for _, p := range lock.Package {
		if !strings.HasPrefix(p.Source, "registry+") && !strings.HasPrefix(p.Source, "sparse+") {
			continue
		}
		it := Item{Protocol: "cargo", Name: p.Name, Version: p.Version,
			Path: "/api/v1/crates/" + p.Name + "/" + p.Version + "/download"}
		if p.Checksum != "" {
			sum, err := hex.DecodeString(p.Checksum)
			if err != nil || len(sum) != 32 {
				return nil, fault.Newf("warm", fault.Invalid, "Cargo.lock: %s %s: checksum %q is not a sha256", p.Name, p.Version, p.Checksum)
			}
			it.Integrity = "sha256-" + base64.StdEncoding.EncodeToString(sum)
		}
		items = append(items, it)
	}
	return items, nil
}
