package rdd_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ember-go/ember/executor"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/auth/authtest"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/rdd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startExecutor starts an executor in this process, with this program's
// pipelines, secured as given.
func startExecutor(t *testing.T, secret string, server, client *tls.Config, seeds ...string) *executor.Daemon {
	t.Helper()
	d, err := executor.StartDaemon(context.Background(), executor.DaemonConfig{
		GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Seeds: seeds, Cores: 2, Memory: 256 << 20,
		Secret: []byte(secret), GossipProfile: "local", TLS: server, ClientTLS: client,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WorkDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// A cluster with mutual TLS and a secret whose key is being rotated: one
// executor still signs with the old key, the other with the new; the
// driver, with the new key first, runs a shuffle across both.
func TestTLSAndKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executors")
	}
	certs := authtest.New(t)
	server, client, err := auth.TLSConfigs(certs.Server.Cert, certs.Server.Key, certs.CA, true)
	if err != nil {
		t.Fatal(err)
	}
	const oldKey, newKey = "the old cluster secret key", "the new cluster secret key"
	first := startExecutor(t, oldKey+"\n"+newKey, server, client)
	startExecutor(t, newKey+"\n"+oldKey, server, client, first.GossipAddr())

	t.Setenv("EMBER_SECRET", newKey+"\n"+oldKey)
	s := newSession(t, rdd.WithMaster("ember://"+first.GossipAddr()),
		rdd.WithConf("tls.ca", certs.CA), rdd.WithConf("tls.cert", certs.Client.Cert), rdd.WithConf("tls.key", certs.Client.Key),
		rdd.WithConf("cluster.minExecutors", "2"), rdd.WithConf("cluster.executorWait", "20s"))
	want := int64(0)
	for i := range int64(50) {
		want += i
	}
	got, err := sumTo.Run(context.Background(), s, 50)
	if err != nil || got != want {
		t.Fatalf("sum over the TLS cluster: %d, %v", got, err)
	}
	pairs, err := joinSums.Run(context.Background(), s, 3000)
	if err != nil || len(pairs) != 3000 {
		t.Fatalf("a shuffle across both executors: %d pairs, %v", len(pairs), err)
	}

	// Strangers: no TLS, a certificate of another CA, the wrong secret.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := func(secret string, tc *tls.Config) error {
		conn, err := grpc.DialContext(ctx, first.RPCAddr(), auth.DialOptions([]byte(secret), tc)...)
		if err != nil {
			return err
		}
		defer conn.Close()
		stream, err := rpc.NewExecutorClient(conn).Connect(ctx)
		if err != nil {
			return err
		}
		stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Hello{Hello: &rpc.Hello{AppId: "stranger"}}})
		_, err = stream.Recv()
		return err
	}
	if err := call(newKey, nil); status.Code(err) != codes.Unavailable {
		t.Errorf("a plain-TCP caller: %v, want Unavailable", err)
	}
	_, otherClient, err := auth.TLSConfigs(certs.Other.Cert, certs.Other.Key, certs.CA, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := call(newKey, otherClient); status.Code(err) != codes.Unavailable {
		t.Errorf("a caller with another CA's certificate: %v, want Unavailable", err)
	}
	if err := call("some other secret entirely", client); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a caller with TLS but the wrong secret: %v, want Unauthenticated", err)
	}
	if err := call(oldKey, client); err != nil && strings.Contains(err.Error(), "Unauthenticated") {
		t.Errorf("a caller with the old key during the rotation: %v", err)
	}
}

var joinSums = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) ([]rdd.Pair[int64, int64], error) {
	a := rdd.Map(rdd.Range(s, 0, n, 4), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i % 10, Value: i} })
	b := rdd.Map(rdd.Range(s, 0, 10, 2), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i, Value: i} })
	return rdd.MapValues(rdd.Join(a, b, 3), func(v rdd.Pair[int64, int64]) int64 { return v.Key + v.Value }).Collect(ctx)
})

// TestLoad drives 100 concurrent small jobs (each a pipeline with a
// shuffle) through one driver and 3 executors, and checks every result.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, rdd.WithMaster("local-cluster[3,2]"))
	const jobs = 100
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errs := make(chan error, jobs)
	start := time.Now()
	for i := range jobs {
		go func() {
			n := int64(100 + i)
			pairs, err := joinSums.Run(ctx, s, n)
			if err == nil && int64(len(pairs)) != n {
				err = fmt.Errorf("job %d: %d pairs, want %d", i, len(pairs), n)
			}
			var sum int64
			for _, p := range pairs {
				sum += p.Value
			}
			// Each i in [0, n) appears once, as i plus its key (i mod 10).
			want := int64(0)
			for j := range n {
				want += j + j%10
			}
			if err == nil && sum != want {
				err = fmt.Errorf("job %d: sum %d, want %d", i, sum, want)
			}
			errs <- err
		}()
	}
	failed := 0
	for range jobs {
		if err := <-errs; err != nil {
			failed++
			t.Error(err)
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d concurrent jobs in %v: %.1f jobs/s, %d errors", jobs, elapsed.Round(time.Millisecond), jobs/elapsed.Seconds(), failed)
}
