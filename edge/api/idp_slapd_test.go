package api_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// slapd is a real OpenLDAP server started for one test, never the
// system's: its own slapd.conf (mdb backend) and database in a temp dir,
// loaded from LDIF with slapadd, on loopback ports for ldap:// (with
// StartTLS) and ldaps://, with a self-signed certificate. Its stats log
// (-d 256) is kept so that tests can count binds.
type slapd struct {
	URL, LDAPS string
	CACert     string // PEM of the server certificate
	cmd        *exec.Cmd
	mu         sync.Mutex
	log        strings.Builder
}

const ldapSuffix = "dc=example,dc=test"

// testDirectory: a service account, alice and bob in ou=people, carol
// (whose email is also a local account's), and the group devs holding
// alice.
const testDirectory = `dn: dc=example,dc=test
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=test
objectClass: organizationalUnit
ou: groups

dn: cn=svc,dc=example,dc=test
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: svc
userPassword: svc-secret-pw

dn: uid=alice,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@example.test
userPassword: alice-ldap-pw-1

dn: uid=bob,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@example.test
userPassword: bob-ldap-pw-1

dn: uid=carol,ou=people,dc=example,dc=test
objectClass: inetOrgPerson
uid: carol
cn: Carol Local
sn: Local
mail: carol@example.test
userPassword: carol-ldap-pw-1

dn: cn=devs,ou=groups,dc=example,dc=test
objectClass: groupOfNames
cn: devs
member: uid=alice,ou=people,dc=example,dc=test
`

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func startSlapd(t *testing.T) *slapd {
	t.Helper()
	bin := testkit.RequireTool(t, "slapd")
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
	slapadd := filepath.Join(filepath.Dir(bin), "slapadd")
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := selfSigned(t)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := write("cert.pem", certPEM), write("key.pem", keyPEM)
	conf := write("slapd.conf", `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile `+filepath.Join(dir, "slapd.pid")+`
argsfile `+filepath.Join(dir, "slapd.args")+`
TLSCertificateFile `+cert+`
TLSCertificateKeyFile `+key+`
database mdb
maxsize 16777216
suffix "`+ldapSuffix+`"
rootdn "cn=root,`+ldapSuffix+`"
rootpw root-secret-pw
directory `+db+`
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
`)
	ldif := write("data.ldif", testDirectory)
	if out, err := exec.Command(slapadd, "-f", conf, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	p1, p2 := freePort(t), freePort(t)
	s := &slapd{URL: "ldap://127.0.0.1:" + p1, LDAPS: "ldaps://127.0.0.1:" + p2, CACert: certPEM}
	s.cmd = exec.Command(bin, "-f", conf, "-h", s.URL+"/ "+s.LDAPS+"/", "-d", "256")
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-done
		s.cmd.Wait()
	})
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+p1)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("slapd did not listen: %v\n%s", err, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// Log is slapd's stats log so far.
func (s *slapd) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Binds counts the successful binds as dn in the log.
func (s *slapd) Binds(dn string) int {
	n := 0
	for _, line := range strings.Split(s.Log(), "\n") {
		if strings.Contains(line, `BIND dn="`+dn+`" mech=SIMPLE`) && strings.Contains(line, "ssf=") {
			n++
		}
	}
	return n
}

func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}
