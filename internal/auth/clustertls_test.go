package auth

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// Nodes that share a key of the secret complete a mutual TLS handshake;
// a node with another secret gets through neither as a client nor as a
// server.
func TestClusterTLS(t *testing.T) {
	const oldKey, newKey = "the old cluster secret key", "the new cluster secret key"
	now := time.Now()
	for _, tc := range []struct {
		server, client string
		ok             bool
	}{
		{oldKey, oldKey, true},
		{oldKey + "\n" + newKey, newKey + "\n" + oldKey, true}, // mid-rotation
		{newKey, newKey + "\n" + oldKey, true},                 // dropping the old key
		{oldKey, newKey, false},
		{newKey, oldKey, false},
	} {
		srv, _, err := ClusterTLS([]byte(tc.server), now)
		if err != nil {
			t.Fatal(err)
		}
		_, cli, err := ClusterTLS([]byte(tc.client), now)
		if err != nil {
			t.Fatal(err)
		}
		serverErr, clientErr := handshake(srv, cli)
		if ok := serverErr == nil && clientErr == nil; ok != tc.ok {
			t.Errorf("server %q, client %q: server %v, client %v; want ok=%v", tc.server, tc.client, serverErr, clientErr, tc.ok)
		}
		if !tc.ok && clientErr != nil && !strings.Contains(clientErr.Error(), "not the cluster's") && serverErr == nil {
			t.Errorf("server %q, client %q: the client's error does not say why: %v", tc.server, tc.client, clientErr)
		}
	}
	// A client without a certificate is refused by the server.
	srv, cli, err := ClusterTLS([]byte(oldKey), now)
	if err != nil {
		t.Fatal(err)
	}
	bare := cli.Clone()
	bare.Certificates = nil
	if serverErr, _ := handshake(srv, bare); serverErr == nil {
		t.Error("a client without a certificate got through")
	}
	if _, _, err := ClusterTLS(nil, now); err == nil {
		t.Error("TLS derived from no secret")
	}
}

// handshake runs a TLS handshake between the two configurations, over
// loopback TCP, and a byte from the server to the client.
func handshake(server, client *tls.Config) (serverErr, clientErr error) {
	lis, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		return err, err
	}
	defer lis.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		s := conn.(*tls.Conn)
		if err = s.Handshake(); err == nil {
			_, err = s.Write([]byte{1})
		}
		done <- err
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", lis.Addr().String(), client)
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// TLS 1.3 sends the client's certificate after the client has
		// finished: the server's verdict comes with the first read.
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	return <-done, err
}
