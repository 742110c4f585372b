// Command bench is Entrepot's load harness: `go run ./bench [flags]`
// (the same as `entrepot bench [flags]`). It builds the binary, starts it
// with the embedded defaults, and runs the scenarios; see bench/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"entrepot/bench/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin := os.Getenv("ENTREPOT_BIN")
	if bin == "" && !helperVerb(os.Args[1:]) {
		dir, err := os.MkdirTemp("", "entrepot-bench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		if bin, err = harness.BuildBinary(ctx, dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if err := harness.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, bin, harness.DefaultSelf()); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// helperVerb says whether args run one of the harness's helper processes
// (`bench load`, `bench serve-bytes`), which need no binary built.
func helperVerb(args []string) bool {
	if len(args) > 0 && args[0] == "bench" {
		args = args[1:]
	}
	return len(args) > 0 && (args[0] == "load" || args[0] == "serve-bytes")
}
