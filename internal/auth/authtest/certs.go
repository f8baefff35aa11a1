// Package authtest helps the tests of authentication: it makes the
// certificates that TLS tests need (a CA, and certificates it signs for
// 127.0.0.1, written as PEM files), and checks that a status server asks
// for its token.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Files names the PEM files of a certificate and its key.
type Files struct{ Cert, Key string }

// Certs is a CA and certificates it signed.
type Certs struct {
	CA     string // the CA's certificate
	Server Files  // for 127.0.0.1 and localhost
	Client Files  // for a client (mutual TLS)
	Other  Files  // signed by another CA: trusted by nobody here
}

// New makes a CA and its certificates in a temporary directory of t.
func New(t testing.TB) Certs {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert := newCA(t, "ember test CA")
	otherKey, otherCert := newCA(t, "another CA")
	var c Certs
	c.CA = writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caCert.Raw)
	c.Server = issue(t, dir, "server", caKey, caCert, x509.ExtKeyUsageServerAuth)
	c.Client = issue(t, dir, "client", caKey, caCert, x509.ExtKeyUsageClientAuth)
	c.Other = issue(t, dir, "other", otherKey, otherCert, x509.ExtKeyUsageClientAuth)
	return c
}

func newCA(t testing.TB, name string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func issue(t testing.TB, dir, name string, caKey *ecdsa.PrivateKey, ca *x509.Certificate, usage x509.ExtKeyUsage) Files {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Files{
		Cert: writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der),
		Key:  writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", keyDER),
	}
}

func writePEM(t testing.TB, path, kind string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
