package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// installer runs deploy/install.sh under root (never the machine's own
// root) and returns its output and error.
func installer(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	return testkit.Run(t, "", os.Environ(), "sh", append([]string{"install.sh", "--prefix", root}, args...)...)
}

func mustInstall(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := installer(t, root, args...)
	if err != nil {
		t.Fatalf("install.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// snapshot describes every file under root: path, mode, mtime, link
// target and content digest.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", strings.TrimPrefix(p, root), fi.Mode(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + sha(b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestInstall installs the release into a temporary root with
// --setup-service, checks what lands where, runs the installed unit's
// command with its environment file (readiness via sd_notify), installs
// again (nothing changes), upgrades (data and configuration kept),
// refuses an archive whose checksum is wrong, and uninstalls.
func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release")
	}
	dist := sharedRelease(t)
	root := t.TempDir()

	out := mustInstall(t, root, "--from", dist, "--setup-service")
	t.Log(out)
	bin := filepath.Join(root, "opt/entrepot/entrepot")
	if l, err := os.Readlink(filepath.Join(root, "usr/local/bin/entrepot")); err != nil || l != "/opt/entrepot/entrepot" {
		t.Fatalf("/usr/local/bin/entrepot -> %q (%v), want /opt/entrepot/entrepot", l, err)
	}
	if v := testkit.MustRun(t, "", nil, bin, "version"); !strings.Contains(v, "linux/amd64") {
		t.Fatalf("installed entrepot version: %s", v)
	}
	envPath := filepath.Join(root, "etc/entrepot/entrepot.env")
	fi, err := os.Stat(envPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("environment file: %v %v, want mode 0600", fi, err)
	}
	env := readEnv(t, envPath)
	for name, re := range map[string]string{"JWT_SECRET": `^[0-9a-f]{64}$`, "AUTH_ENCRYPTION_KEY": `^[0-9a-f]{64}$`, "ADMIN_PASSWORD": `^[0-9a-f]{32}$`} {
		if !regexp.MustCompile(re).MatchString(env[name]) {
			t.Errorf("%s = %q in the environment file, want a generated secret", name, env[name])
		}
	}
	data := filepath.Join(root, "var/lib/entrepot")
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("data directory: %v %v, want mode 0750", fi, err)
	}
	unit := filepath.Join(root, "etc/systemd/system/entrepot.service")
	verifyUnit(t, unit, bin)

	// Again, from a web server this time: nothing changes, not even an mtime.
	web := httptest.NewServer(http.FileServer(http.Dir(dist)))
	defer web.Close()
	before := snapshot(t, root)
	mustInstall(t, root, "--from", web.URL+"/", "--setup-service")
	if after := snapshot(t, root); after != before {
		t.Fatalf("a second install changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// The installed service runs: the unit's command with its
	// environment file, readiness told to NOTIFY_SOCKET.
	runInstalled(t, bin, env, data)

	// Upgrade: the binary changes, data and configuration stay.
	os.WriteFile(filepath.Join(data, "marker"), []byte("kept"), 0o600)
	f, _ := os.OpenFile(envPath, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("LOG_LEVEL=debug\n")
	f.Close()
	envBefore, _ := os.ReadFile(envPath)
	next := repack(t, root, "v99.0.0", false)
	mustInstall(t, root, "--from", next, "--version", "v99.0.0", "--setup-service")
	if got, _ := os.ReadFile(bin); !bytes.HasSuffix(got, []byte("v99.0.0")) {
		t.Fatal("the upgrade did not replace the binary")
	}
	if b, err := os.ReadFile(filepath.Join(data, "marker")); err != nil || string(b) != "kept" {
		t.Fatalf("the upgrade lost the data: %q %v", b, err)
	}
	if b, _ := os.ReadFile(envPath); !bytes.Equal(b, envBefore) {
		t.Fatalf("the upgrade rewrote the environment file:\n%s", b)
	}

	// A corrupt download is refused and leaves the installation alone.
	before = snapshot(t, root)
	bad := repack(t, root, "v100.0.0", true)
	out, err = installer(t, root, "--from", bad, "--version", "v100.0.0")
	if err == nil || !strings.Contains(out, "SHA-256") {
		t.Fatalf("a tampered archive: err %v, output %s; want a checksum refusal", err, out)
	}
	if after := snapshot(t, root); after != before {
		t.Fatal("a refused install changed the tree")
	}

	mustInstall(t, root, "--uninstall")
	for _, p := range []string{bin, unit, filepath.Join(root, "usr/local/bin/entrepot")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("--uninstall left %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "marker")); err != nil {
		t.Error("--uninstall removed the data")
	}
	if _, err := os.Stat(envPath); err != nil {
		t.Error("--uninstall removed the configuration")
	}
	mustInstall(t, root, "--uninstall", "--purge")
	if _, err := os.Stat(data); err == nil {
		t.Error("--uninstall --purge kept the data")
	}
}

// verifyUnit runs systemd-analyze verify on the installed unit, its
// command pointed at the binary under the temporary root (verify checks
// that it exists); any complaint fails.
func verifyUnit(t *testing.T, unit, bin string) {
	t.Helper()
	sa := testkit.RequireTool(t, "systemd-analyze")
	body, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/entrepot", "PrivateTmp=yes", "CapabilityBoundingSet=", "Restart=on-failure", "Type=notify"} {
		if !strings.Contains(string(body), "\n"+want) {
			t.Errorf("unit has no %s", want)
		}
	}
	tmp := filepath.Join(t.TempDir(), "entrepot.service")
	os.WriteFile(tmp, bytes.ReplaceAll(body, []byte("ExecStart=/opt/entrepot/entrepot"), []byte("ExecStart="+bin)), 0o644)
	out, err := testkit.Run(t, "", nil, sa, "verify", "--man=no", tmp)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// runInstalled starts the installed binary as the unit would and waits
// for READY=1 on a notify socket, then stops it and wants STOPPING=1.
func runInstalled(t *testing.T, bin string, env map[string]string, data string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("ENTREPOT_BIN", bin)
	vars := []string{"NOTIFY_SOCKET=" + sock}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	vars = append(vars, "DATA_DIR="+data, "HOST=127.0.0.1", "PORT=0")
	srv := testkit.Start(t, vars...)
	if got := notified(t, conn); got != "READY=1" {
		t.Fatalf("notify socket got %q, want READY=1", got)
	}
	if code, body := srv.Get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	srv.Login(t, "admin", env["ADMIN_PASSWORD"]) // the environment file's password is the admin's
	srv.Stop()
	if got := notified(t, conn); got != "STOPPING=1" {
		t.Fatalf("notify socket got %q on stop, want STOPPING=1", got)
	}
}

func notified(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("notify socket: %v", err)
	}
	return string(buf[:n])
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env
}

// repack makes a release directory of version v from the installation
// under root (reading the installed files spares inflating the release:
// slow under the race detector), its binary marked with v at the end (an
// ELF file runs with bytes appended) so that an install of it is an
// upgrade; with tamper its SHA256SUMS line is wrong.
func repack(t *testing.T, root, v string, tamper bool) string {
	t.Helper()
	name := "entrepot-" + v + "-linux-amd64"
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	tw := tar.NewWriter(zw)
	for src, dst := range map[string]string{"entrepot": "entrepot", "README.md": "README.md", "entrepot.service": "deploy/systemd/entrepot.service"} {
		body, err := os.ReadFile(filepath.Join(root, "opt/entrepot", src))
		if err != nil {
			t.Fatal(err)
		}
		if src == "entrepot" {
			body = append(body, v...)
		}
		tw.WriteHeader(&tar.Header{Name: name + "/" + dst, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, name+".tar.gz"), buf.Bytes(), 0o644)
	sum := sha(buf.Bytes())
	if tamper {
		sum = sha([]byte("something else"))
	}
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sum+"  "+name+".tar.gz\n"), 0o644)
	return dir
}
