package auth

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ClusterTLS returns the TLS configurations of a node of a cluster whose
// nodes have no certificates of their own: every key of the secret
// deterministically derives a CA (an Ed25519 key from HKDF-SHA256 of the
// key, and a self-signed certificate with fixed fields), so that every
// node that holds the secret holds the same CAs without exchanging
// anything. The node's own certificate is made afresh, for a new key, and
// signed by the CA of the secret's first key.
//
// Both sides are mutual: a server accepts only clients with a certificate
// one of the CAs signed, and a client only servers with one, so that a
// stranger does not get past the TLS handshake, and a driver never sends
// a task to a server that has not proved it holds the secret. Host names
// are not checked: every holder of the secret can issue a certificate for
// any name, so a name would prove nothing more.
func ClusterTLS(secret []byte, now time.Time) (server, client *tls.Config, err error) {
	keys := Keys(secret)
	if len(keys) == 0 {
		return nil, nil, errors.New("tls: no secret to derive the cluster's certificates from")
	}
	pool := x509.NewCertPool()
	var signer *x509.Certificate
	var signerKey ed25519.PrivateKey
	for i, key := range keys {
		ca, caKey, err := clusterCA(key)
		if err != nil {
			return nil, nil, err
		}
		pool.AddCert(ca)
		if i == 0 {
			signer, signerKey = ca, caKey
		}
	}
	leaf, err := nodeCertificate(signer, signerKey, now)
	if err != nil {
		return nil, nil, err
	}
	server = &tls.Config{Certificates: []tls.Certificate{leaf}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pool, MinVersion: tls.VersionTLS13}
	client = &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS13,
		// The chain is verified below, against the cluster's CAs alone;
		// only the host name check is skipped.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verifyChain(pool, x509.ExtKeyUsageServerAuth)}
	return server, client, nil
}

// clusterCA is the CA that key derives: the same certificate and private
// key on every node.
func clusterCA(key []byte) (*x509.Certificate, ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, key, nil, "ember cluster CA v1", ed25519.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	id := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"Ember"}, CommonName: "Ember cluster CA " + hex.EncodeToString(id[:8])},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          id[:20],
	}
	// Ed25519 signatures are deterministic: the certificate is too.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: derive the cluster CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, priv, err
}

// NodeCertificateLifetime is how long a node's own certificate is valid,
// from an hour before it is made (for clocks behind).
const NodeCertificateLifetime = 365 * 24 * time.Hour

// nodeCertificate makes a key and a certificate for it, signed by the CA,
// usable by a server and a client.
func nodeCertificate(ca *x509.Certificate, caKey ed25519.PrivateKey, now time.Time) (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"Ember"}, CommonName: "Ember node"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(NodeCertificateLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: issue the node's certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// verifyChain checks that the peer's certificate chains to a CA of pool,
// for usage, without checking a host name.
func verifyChain(pool *x509.CertPool, usage x509.ExtKeyUsage) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("tls: the peer sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, der := range raw {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("tls: the peer's certificate: %w", err)
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return fmt.Errorf("tls: the peer's certificate is not the cluster's (another secret?): %w", err)
		}
		return nil
	}
}
