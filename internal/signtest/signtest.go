// Package signtest signs scripts in tests as an enterprise with an
// AllSigned execution policy does: with osslsigncode, which signs .ps1
// files the way Set-AuthenticodeSignature does, and a throwaway
// self-signed code-signing certificate made here.
package signtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Subject is the certificate's subject as verify prints it.
const Subject = "CN=sfbpatch test signing,O=Contoso"

// Signer holds a key and its certificate as PEM files.
type Signer struct {
	dir, cert, key string
}

// New makes an RSA key and a self-signed code-signing certificate in a
// temporary folder of t. It fails, and does not skip, when osslsigncode is
// missing.
func New(t testing.TB) *Signer {
	t.Helper()
	if _, err := exec.LookPath("osslsigncode"); err != nil {
		t.Fatal("osslsigncode is missing: install it (Debian and Ubuntu: apt-get install -y osslsigncode); the signature tests sign scripts with it")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "sfbpatch test signing", Organization: []string{"Contoso"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	s := &Signer{dir: t.TempDir()}
	s.cert = filepath.Join(s.dir, "cert.pem")
	s.key = filepath.Join(s.dir, "key.pem")
	writePEM(t, s.cert, "CERTIFICATE", der)
	writePEM(t, s.key, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	return s
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Sign returns script signed with the digest osslsigncode -h names (sha1,
// sha256, sha384, sha512, md5).
func (s *Signer) Sign(t testing.TB, script []byte, digest string) []byte {
	t.Helper()
	in, out := s.temp(t, script), filepath.Join(s.dir, "signed.ps1")
	os.Remove(out) // osslsigncode refuses to overwrite
	osslsigncode(t, "sign", "-certs", s.cert, "-key", s.key, "-h", digest, "-in", in, "-out", out)
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// Digests runs osslsigncode verify on a signed script and returns the
// digest its signature holds and the one osslsigncode calculates from the
// script, in lower-case hexadecimal.
func (s *Signer) Digests(t testing.TB, signed []byte) (current, calculated string) {
	t.Helper()
	out := osslsigncode(t, "verify", "-in", s.temp(t, signed), "-CAfile", s.cert)
	m := digestLines.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("osslsigncode verify printed no message digests:\n%s", out)
	}
	return strings.ToLower(m[1]), strings.ToLower(m[2])
}

var digestLines = regexp.MustCompile(`Current message digest *: *([0-9A-F]+)\s*\nCalculated message digest *: *([0-9A-F]+)`)

func (s *Signer) temp(t testing.TB, script []byte) string {
	t.Helper()
	path := filepath.Join(s.dir, "script.ps1")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func osslsigncode(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("osslsigncode", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("osslsigncode %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
