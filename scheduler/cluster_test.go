package scheduler

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/await"
	"github.com/ember-go/ember/internal/rpc"
	"google.golang.org/grpc"
)

// silentExecutor welcomes drivers and then says nothing, as a hung
// executor would, its connection open; with beat set it heartbeats.
type silentExecutor struct {
	rpc.UnimplementedExecutorServer
	beat time.Duration
}

func (x *silentExecutor) Connect(stream rpc.Executor_ConnectServer) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if err := stream.Send(&rpc.ExecutorMessage{Body: &rpc.ExecutorMessage_Welcome{Welcome: &rpc.Welcome{Executor: "x", Cores: 1}}}); err != nil {
		return err
	}
	if x.beat == 0 {
		<-stream.Context().Done()
		return nil
	}
	t := time.NewTicker(x.beat)
	defer t.Stop()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case <-t.C:
			if err := stream.Send(&rpc.ExecutorMessage{Body: &rpc.ExecutorMessage_Heartbeat{Heartbeat: &rpc.Heartbeat{}}}); err != nil {
				return err
			}
		}
	}
}

func serveExecutor(t *testing.T, x rpc.ExecutorServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rpc.RegisterExecutorServer(srv, x)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestSilentExecutorsAreLost(t *testing.T) {
	const timeout = 400 * time.Millisecond
	c := newClusterBackend(clusterBackendConfig{AppID: "app", DialOptions: auth.DialOptions(nil, nil),
		HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: timeout})
	defer c.Close()
	var mu sync.Mutex
	var lost []string
	someLost := make(chan struct{}, 1)
	c.OnLost(func(name, _ string, _ uint64) {
		mu.Lock()
		lost = append(lost, name)
		mu.Unlock()
		select {
		case someLost <- struct{}{}:
		default:
		}
	})
	sweeps := sweepTimes(c)
	ctx := context.Background()
	if err := c.AddExecutor(ctx, "silent", serveExecutor(t, &silentExecutor{}), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.AddExecutor(ctx, "beating", serveExecutor(t, &silentExecutor{beat: 50 * time.Millisecond}), 1); err != nil {
		t.Fatal(err)
	}
	beatingAdded := time.Now()
	select {
	case <-someLost:
	case <-time.After(10 * time.Second):
		t.Fatal("a silent executor was not lost within 10 s, with a heartbeat timeout of 400 ms")
	}
	// The beating one stays through a sweep that would have lost it,
	// twice over, had its heartbeats not been heard.
	waitForSweep(t, sweeps, beatingAdded.Add(2*timeout))
	mu.Lock()
	defer mu.Unlock()
	if len(lost) != 1 || lost[0] != "silent" {
		t.Errorf("lost %v, want the silent executor alone", lost)
	}
	if execs := c.Executors(); len(execs) != 1 || execs[0] != "beating" {
		t.Errorf("executors left %v, want the one that heartbeats", execs)
	}
}

// sweepTimes returns the times of c's heartbeat sweeps from now on, the
// latest ones if the reader lags.
func sweepTimes(c *clusterBackend) <-chan time.Time {
	sweeps := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks.swept = func(now time.Time) {
		select {
		case sweeps <- now:
		default:
		}
	}
	return sweeps
}

// waitForSweep returns once a heartbeat sweep of a time after at has ended.
func waitForSweep(t *testing.T, sweeps <-chan time.Time, at time.Time) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case now := <-sweeps:
			if now.After(at) {
				return
			}
		case <-deadline:
			t.Fatalf("no heartbeat sweep after %v within 10 s", at.Format(time.StampMilli))
		}
	}
}

// A new connection to an executor of the same name replaces the old one;
// the old one's end must not take the new one down.
func TestReplacedConnectionStays(t *testing.T) {
	c := newClusterBackend(clusterBackendConfig{AppID: "app", DialOptions: auth.DialOptions(nil, nil),
		HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 2 * time.Second})
	defer c.Close()
	var mu sync.Mutex
	lost := 0
	c.OnLost(func(string, string, uint64) {
		mu.Lock()
		lost++
		mu.Unlock()
	})
	ended := make(chan *remoteExecutor, 2)
	c.mu.Lock()
	c.hooks.streamEnded = func(e *remoteExecutor) { ended <- e }
	c.mu.Unlock()
	addr := serveExecutor(t, &silentExecutor{beat: 50 * time.Millisecond})
	ctx := context.Background()
	if err := c.AddExecutor(ctx, "a", addr, 1); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	old := c.execs["a"]
	c.mu.Unlock()
	if err := c.AddExecutor(ctx, "a", addr, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ended: // the old stream's end has been seen
		if e != old {
			t.Fatalf("the stream of connection %d ended, want the replaced one's, %d", e.id, old.id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced connection's stream did not end within 10 s")
	}
	if execs := c.Executors(); len(execs) != 1 || execs[0] != "a" {
		t.Fatalf("executors %v after a reconnection, want [a]", execs)
	}
	mu.Lock()
	defer mu.Unlock()
	if lost != 1 {
		t.Errorf("%d losses, want 1 (the replaced connection)", lost)
	}
}

// A task waiting for the executor that holds its input, which is lost
// while it waits, falls back to the general wait and its bounds.
func TestLocalityWaitEndsWhenItsExecutorIsLost(t *testing.T) {
	c := newClusterBackend(clusterBackendConfig{AppID: "app", DialOptions: auth.DialOptions(nil, nil),
		LocalityWait: 5 * time.Second, ExecutorWait: 300 * time.Millisecond})
	defer c.Close()
	ctx := context.Background()
	if err := c.AddExecutor(ctx, "a", serveExecutor(t, &silentExecutor{beat: 50 * time.Millisecond}), 1); err != nil {
		t.Fatal(err)
	}
	busy, err := c.slots.acquire(ctx, "") // a's one slot
	if err != nil || busy.name != "a" {
		t.Fatalf("acquire: %v %v", busy, err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := c.slots.acquire(ctx, "a")
		got <- err
	}()
	waitUntil(t, "the task waits for a slot on a", func() bool {
		c.slots.mu.Lock()
		defer c.slots.mu.Unlock()
		return len(c.slots.local["a"]) == 1
	})
	c.RemoveExecutor("a", errors.New("killed"))
	select {
	case err := <-got:
		if !errors.Is(err, ErrNoExecutors) {
			t.Errorf("acquire after the only executor was lost: %v, want ErrNoExecutors", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("acquire still waiting 3 s after its executor was lost, with ExecutorWait 300 ms")
	}
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !await.Until(10*time.Second, cond) {
		t.Fatalf("%s: not so after 10 s", what)
	}
}
