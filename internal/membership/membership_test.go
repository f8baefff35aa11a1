package membership

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("a test cluster secret")

// fast makes failure detection quick on loopback.
func fast(c *memberlist.Config) {
	c.ProbeInterval = 100 * time.Millisecond
	c.ProbeTimeout = 50 * time.Millisecond
	c.SuspicionMult = 1
	c.GossipInterval = 20 * time.Millisecond
}

func start(t *testing.T, name string, role Role, seeds ...string) *Member {
	t.Helper()
	m, err := Start(context.Background(), Config{
		Name: name, BindAddr: "127.0.0.1", Seeds: seeds, Secret: secret, Profile: "local", Tune: fast,
		Meta: Meta{Role: role, RPCAddr: "127.0.0.1:9" + name[len(name)-1:], Cores: 2, Memory: 1 << 30, BuildID: "b1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(time.Second) })
	return m
}

func waitFor(t *testing.T, events <-chan Event, kind EventKind, name string) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("event channel closed before %v of %s", kind, name)
			}
			if e.Kind == kind && e.Node.Name == name {
				return e
			}
		case <-timeout:
			t.Fatalf("no %v event for %s within 10 s", kind, name)
		}
	}
}

func TestClusterSeesExecutorsJoinLeaveAndFail(t *testing.T) {
	driver := start(t, "driver-0", Driver)
	events := driver.Watch()
	e1 := start(t, "exec-1", Executor, driver.Addr())
	e2 := start(t, "exec-2", Executor, e1.Addr()) // any member is a seed

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	execs, err := driver.WaitExecutors(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(execs) != 2 || execs[0].Name != "exec-1" || execs[1].Name != "exec-2" {
		t.Fatalf("executors %+v, want exec-1 and exec-2", execs)
	}
	if m := execs[0].Meta; m.Role != Executor || m.RPCAddr != "127.0.0.1:91" || m.Cores != 2 || m.Memory != 1<<30 || m.BuildID != "b1" {
		t.Fatalf("metadata did not travel: %+v", m)
	}
	if got := e2.Executors(); len(got) != 2 {
		t.Fatalf("an executor sees %d executors, want 2 (itself and the other)", len(got))
	}

	if err := e1.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, events, Leave, "exec-1")

	if err := e2.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, events, Failed, "exec-2")
	t.Logf("a killed member was declared failed after %v", time.Since(start).Round(time.Millisecond))
	if got := driver.Executors(); len(got) != 0 {
		t.Fatalf("executors after leave and failure: %+v, want none", got)
	}
}

func TestWrongSecretCannotJoin(t *testing.T) {
	driver := start(t, "driver-0", Driver)
	_, err := Start(context.Background(), Config{
		Name: "intruder-1", BindAddr: "127.0.0.1", Seeds: []string{driver.Addr()}, Secret: []byte("another secret"),
		Profile: "local", JoinTimeout: time.Second, Meta: Meta{Role: Executor},
	})
	if !errors.Is(err, ErrNoSeeds) || !strings.Contains(err.Error(), driver.Addr()) {
		t.Fatalf("joining with a wrong secret: %v, want ErrNoSeeds naming the seed", err)
	}
	if got := driver.Executors(); len(got) != 0 {
		t.Fatalf("the intruder got in: %+v", got)
	}
}

func TestBadConfigurations(t *testing.T) {
	ctx := context.Background()
	_, err := Start(ctx, Config{Name: "n1", BindAddr: "127.0.0.1", Seeds: []string{"127.0.0.1:1"}, Secret: secret, JoinTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrNoSeeds) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable seed: %v", err)
	}
	_, err = Start(ctx, Config{Name: "n2", BindAddr: "0.0.0.0"})
	if err == nil || !strings.Contains(err.Error(), "secret is required") {
		t.Fatalf("no secret off loopback: %v", err)
	}
	_, err = Start(ctx, Config{Name: "n3", BindAddr: "127.0.0.1", Meta: Meta{BuildID: strings.Repeat("x", 600)}})
	if err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Fatalf("oversized metadata: %v", err)
	}
	_, err = Start(ctx, Config{Name: "n4", BindAddr: "127.0.0.1", Profile: "wan"})
	if err == nil || !strings.Contains(err.Error(), "profile") {
		t.Fatalf("unknown profile: %v", err)
	}
}
