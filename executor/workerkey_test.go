package executor

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/flight"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/shuffle"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A worker gets a key of its own, derived from the secret, the
// application and the executor, and never the secret: the program it runs
// is the driver's, and its key opens only its own channel to its executor.
func TestWorkerNeverHoldsTheSecret(t *testing.T) {
	d := startServiceDaemon(t)
	key, err := auth.AppKey(testSecret, "app-1", d.Name())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.AppKey(testSecret, "app-2", d.Name())
	elsewhere, _ := auth.AppKey(testSecret, "app-1", "another-executor")
	if bytes.Contains(key, testSecret) || bytes.Equal(key, other) || bytes.Equal(key, elsewhere) {
		t.Fatalf("keys %q, %q (another application), %q (another executor)", key, other, elsewhere)
	}

	// What a worker reads on its standard input is its key.
	got := filepath.Join(t.TempDir(), "stdin")
	program := filepath.Join(t.TempDir(), "worker.sh")
	if err := os.WriteFile(program, []byte("#!/bin/sh\nhead -n 1 > "+got+"\ncat /proc/self/environ | tr '\\0' '\\n' >> "+got+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	w, stdout, err := d.spawnWorker(program, "app-1", key, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	go w.passOutput(stdout, make(chan string, 1))
	w.stop(d.cfg.Logger)
	seen, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(seen), "\n")
	if line, err := hex.DecodeString(first); err != nil || !bytes.Equal(line, key) || bytes.Contains(seen, testSecret) ||
		bytes.Contains(seen, []byte(hex.EncodeToString(testSecret))) {
		t.Fatalf("the worker read %q, want its key %q and nothing of the secret", seen, key)
	}

	// The key opens the worker's relay for DoGet, and nothing else.
	relay, err := d.startRelay(key)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.stop()
	addr := relay.addr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	doGet := func(target string, opts []grpc.DialOption, ticket []byte) error {
		t.Helper()
		c, err := flight.NewClientWithMiddleware(target, nil, nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := c.DoGet(ctx, &flight.Ticket{Ticket: ticket})
		if err == nil {
			_, err = s.Recv()
		}
		return err
	}
	missing := shuffle.Ticket(shuffle.BlockRef{ShuffleID: 9, MapID: 0, ReduceID: 0})
	withKey := auth.DialOptions(key, nil)
	if err := doGet(addr, withKey, shuffle.ViaTicket(d.RPCAddr(), missing)); status.Code(err) != codes.NotFound {
		t.Errorf("a missing block through the relay: %v, want NotFound from the executor", err)
	}
	if err := doGet(addr, withKey, []byte("via/not-an-address|x")); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a relay ticket without host:port: %v, want InvalidArgument", err)
	}
	for what, opts := range map[string][]grpc.DialOption{
		"the relay with another application's key": auth.DialOptions(other, nil),
		"the relay with the cluster secret":        auth.DialOptions(testSecret, nil),
	} {
		if err := doGet(addr, opts, shuffle.ViaTicket(d.RPCAddr(), missing)); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", what, err)
		}
	}
	conn, err := grpc.DialContext(ctx, addr, withKey...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := mustRecv(rpc.NewExecutorClient(conn), ctx); status.Code(err) != codes.Unimplemented {
		t.Errorf("the task service on the relay: %v, want Unimplemented", err)
	}
	if _, err := flight.NewFlightServiceClient(conn).GetSchema(ctx, &flight.FlightDescriptor{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("GetSchema on the relay: %v, want Unimplemented", err)
	}

	// Its executor's own server, and any other holder of the secret,
	// refuse it, even over the cluster's TLS.
	if err := doGet(d.RPCAddr(), auth.DialOptions(key, clusterTLS(t)), missing); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the executor's server with the worker's key: %v, want Unauthenticated", err)
	}
}

// mustRecv opens a task stream and reads its first message.
func mustRecv(c rpc.ExecutorClient, ctx context.Context) (*rpc.ExecutorMessage, error) {
	s, err := c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return s.Recv()
}
