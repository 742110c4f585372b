package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Stamped by `make release` (deploy/release.sh):
// -ldflags "-X main.version=v1.2.3 -X main.commit=… -X main.buildDate=…".
// A plain `go build` leaves them empty and the VCS stamp of the Go
// toolchain, when there is one, stands in.
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

// printVersion is `entrepot version`: one line a script can cut, then the
// build's details.
func printVersion(w io.Writer) {
	c, d, modified := commit, buildDate, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = " (modified)"
			}
		}
	}
	fmt.Fprintf(w, "entrepot %s\n", version)
	fmt.Fprintf(w, "commit: %s%s\n", orUnknown(c), modified)
	fmt.Fprintf(w, "date: %s\n", orUnknown(d))
	fmt.Fprintf(w, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
