package main

import (
	"fmt"
	"io"
	"os"
	"slices"
)

// ephemeral handles serve's --ephemeral (for trying Entrepot out and for
// development): a fresh temporary data directory, named on stderr,
// removed when serve returns. It returns the other arguments with that
// directory as --data-dir (a flag, so it wins over DATA_DIR), and the
// clean-up to defer.
func ephemeral(args []string, stderr io.Writer) ([]string, func(), error) {
	i := slices.Index(args, "--ephemeral")
	if i < 0 {
		return args, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "entrepot-ephemeral-")
	if err != nil {
		return nil, nil, &ConfigError{Var: "--ephemeral", Err: err}
	}
	fmt.Fprintf(stderr, "entrepot: ephemeral data directory %s (deleted on exit)\n", dir)
	rest := append(slices.Delete(slices.Clone(args), i, i+1), "--data-dir", dir)
	return rest, func() { os.RemoveAll(dir) }, nil
}
