package testkit

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RunTimeout bounds one Run: a client that hangs (on a prompt, on a dead
// upstream) fails its test instead of the whole test binary.
const RunTimeout = 5 * time.Minute

// Run runs a client program (npm, cargo, mvn, ...) in dir ("" for the
// test's working directory) with exactly the environment env (nil: this
// process's, see Env) and returns what it wrote to stdout and stderr
// together, and its error.
func Run(t testing.TB, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustRun is Run that fails the test, showing the output, when the program
// fails; it returns the output.
func MustRun(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := Run(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// Env returns this process's environment without the variables whose
// names start with one of drop (the machine's CARGO_, PIP_, ... settings
// that must not leak into a client), followed by extra (KEY=VALUE; a later
// setting of a name wins).
func Env(drop []string, extra ...string) []string {
	var env []string
next:
	for _, e := range os.Environ() {
		for _, p := range drop {
			if strings.HasPrefix(e, p) {
				continue next
			}
		}
		env = append(env, e)
	}
	return append(env, extra...)
}
