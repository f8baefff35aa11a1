package executor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/flight"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/await"
	"github.com/ember-go/ember/internal/membership"
	"github.com/ember-go/ember/shuffle"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

var testSecret = []byte("executor test secret")

func startDaemon(t *testing.T, name string, seeds ...string) *Daemon {
	t.Helper()
	d, err := StartDaemon(context.Background(), DaemonConfig{
		Name: name, GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Seeds: seeds, Cores: 3, Memory: 64 << 20,
		Secret: testSecret, GossipProfile: "local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDaemonsJoinAndServeBlocks(t *testing.T) {
	first := startDaemon(t, "exec-1")
	second := startDaemon(t, "exec-2", first.GossipAddr())
	driver, err := membership.Start(context.Background(), membership.Config{
		Name: "driver", BindAddr: "127.0.0.1", Seeds: []string{second.GossipAddr()}, Secret: testSecret,
		Profile: "local", Meta: membership.Meta{Role: membership.Driver},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer driver.Close(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	execs, err := driver.WaitExecutors(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []*Daemon{first, second} {
		m := execs[i].Meta
		if m.RPCAddr != d.RPCAddr() || m.Cores != 3 || m.Memory != 64<<20 || m.BuildID == "" || m.Instance == "" {
			t.Fatalf("executor %d advertises %+v, want its RPC address %s, 3 cores, 64 MiB, a build and an instance", i, m, d.RPCAddr())
		}
	}

	// The advertised RPC address serves Flight to callers with the secret.
	ref := shuffle.BlockRef{ShuffleID: 1, MapID: 0, ReduceID: 0, Location: execs[0].Meta.RPCAddr}
	fetch := func(opts ...grpc.DialOption) error {
		f := shuffle.NewRemoteFetcher(append(opts, grpc.WithTransportCredentials(credentials.NewTLS(clusterTLS(t))))...)
		defer f.Close()
		for _, err := range f.Fetch(ctx, ref) {
			return err
		}
		return nil
	}
	if err := fetch(grpc.WithPerRPCCredentials(auth.Credentials(testSecret))); !errors.Is(err, shuffle.ErrMissingBlock) || status.Code(err) != codes.NotFound {
		t.Fatalf("fetching an unknown block with the secret: %v, want NotFound", err)
	}
	if err := fetch(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("fetching without the secret: %v, want Unauthenticated", err)
	}

	// A closed executor departs. (Leave rather than Failed needs the
	// closing node to know the observer already, which gossip does not
	// promise this soon after a join; package membership tests it.)
	events := driver.Watch()
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	for e := range events {
		if e.Node.Name == "exec-2" && (e.Kind == membership.Leave || e.Kind == membership.Failed) {
			break
		}
	}
	if execs := driver.Executors(); len(execs) != 1 || execs[0].Name != "exec-1" {
		t.Fatalf("executors after one closed: %+v, want exec-1 alone", execs)
	}
}

func TestDaemonConfigErrors(t *testing.T) {
	ctx := context.Background()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, tc := range map[string]struct {
		cfg  DaemonConfig
		want string
	}{
		"no secret off loopback":      {DaemonConfig{GossipAddr: "0.0.0.0:0", RPCAddr: "127.0.0.1:0"}, "secret is required"},
		"no secret off loopback, RPC": {DaemonConfig{GossipAddr: "127.0.0.1:0", RPCAddr: "0.0.0.0:0"}, "insecure"},
		"bad gossip address":          {DaemonConfig{GossipAddr: "nowhere", RPCAddr: "127.0.0.1:0"}, "gossip address"},
		"negative cores":              {DaemonConfig{GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Cores: -1}, "cores"},
		"busy RPC port":               {DaemonConfig{GossipAddr: "127.0.0.1:0", RPCAddr: busy.Addr().String()}, "listen for RPC"},
		"unreachable seed": {DaemonConfig{GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Seeds: []string{"127.0.0.1:1"}, JoinTimeout: time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, "127.0.0.1:1"},
	} {
		d, err := StartDaemon(ctx, tc.cfg)
		if err == nil {
			d.Close()
			t.Errorf("%s: started", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to mention %q", name, err, tc.want)
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A client that opens a fetch of a big block and stops reading must not
// keep Close (and so the CLI's SIGTERM path) waiting for ever.
func TestCloseDespiteAStalledReader(t *testing.T) {
	d, err := StartDaemon(context.Background(), DaemonConfig{
		Name: "stall-1", GossipAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", Cores: 1, Memory: 64 << 20,
		Secret: testSecret, GossipProfile: "local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w, err := d.shuffle.NewWriter(0, 0, 0, 1, schema)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	for i := range 1 << 17 {
		b.Append(int64(i) * 2654435761)
	}
	col := b.NewArray()
	rec := array.NewRecord(schema, []arrow.Array{col}, int64(col.Len()))
	for range 64 { // 64 MiB
		if err := w.Write(0, rec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	c, err := flight.NewClientWithMiddleware(d.RPCAddr(), nil, nil,
		grpc.WithTransportCredentials(credentials.NewTLS(clusterTLS(t))), grpc.WithPerRPCCredentials(auth.Credentials(testSecret)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stream, err := c.DoGet(context.Background(), &flight.Ticket{Ticket: shuffle.Ticket(shuffle.BlockRef{})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // the stream is live; now stop reading
		t.Fatal(err)
	}
	// The block is far bigger than the flow-control windows, so the
	// server's send soon waits for a window the reader never opens.
	if !await.Until(10*time.Second, sendBlockedOnFlowControl) {
		t.Fatal("the fetch's send never waited for flow control in 10 s: no stalled reader to close despite")
	}
	done := make(chan error, 1)
	go func() { done <- d.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Close() // unblock so the test can end
		<-done
		t.Fatal("Daemon.Close still waiting 10 s after a reader stalled")
	}
	// Close cut the fetch: what the reader had been sent ends in an
	// error, not in the end of the block.
	for {
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				t.Error("the stalled fetch ended as if complete; want it cut by Close")
			}
			break
		}
	}
}

// sendBlockedOnFlowControl reports whether a goroutine serving a shuffle
// fetch waits in gRPC's write quota, which only the reader's progress
// replenishes. It reads the goroutines' stacks, so it names gRPC's
// internals: if they change, the wait above fails rather than passes.
func sendBlockedOnFlowControl() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "shuffle.(*FlightServer).DoGet") && strings.Contains(g, "transport.(*writeQuota).get") {
			return true
		}
	}
	return false
}

func TestInsecureIsExplicit(t *testing.T) {
	d, err := StartDaemon(context.Background(), DaemonConfig{GossipAddr: "127.0.0.1:0", RPCAddr: "0.0.0.0:0", Insecure: true,
		GossipProfile: "local", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("an executor started insecure: %v", err)
	}
	d.Close()
}
