package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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

// A seed that accepts connections but never answers must not hold Start
// past JoinTimeout (memberlist's own TCP timeout is 10 s).
func TestJoinTimeoutBoundsASilentSeed(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	start := time.Now()
	_, err := Start(context.Background(), Config{Name: "jt-1", BindAddr: "127.0.0.1", Secret: secret, Seeds: []string{l.Addr().String()}, JoinTimeout: 500 * time.Millisecond})
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("JoinTimeout 500ms took %v (%v)", el.Round(time.Millisecond), err)
	}
}

// Every graceful Close is reported as Leave, even amid failures: memberlist
// reports both alike, and its own goodbye travels by lossy gossip.
func TestCloseIsLeaveUnderChurn(t *testing.T) {
	wrong := 0
	const rounds = 4
	for r := range rounds {
		driver := start(t, fmt.Sprintf("driver-%d", r), Driver)
		events := driver.Watch()
		var execs []*Member
		for i := range 4 {
			seed := driver.Addr()
			execs = append(execs, start(t, fmt.Sprintf("r%de-%d", r, i), Executor, seed))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := driver.WaitExecutors(ctx, 4); err != nil {
			t.Fatal(err)
		}
		cancel()
		execs[0].Kill()
		waitFor(t, events, Failed, execs[0].Local().Name)
		for _, e := range execs[1:] {
			name := e.Local().Name
			e.Close(time.Second)
			for ev := range events {
				if ev.Node.Name == name && (ev.Kind == Leave || ev.Kind == Failed) {
					if ev.Kind == Failed {
						wrong++
					}
					break
				}
			}
		}
		driver.Close(time.Second)
	}
	if wrong > 0 {
		t.Fatalf("%d of %d graceful Closes were reported as Failed", wrong, rounds*3)
	}
}

func TestAdvertiseAddressKeepsTheBindPort(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	m, err := Start(context.Background(), Config{Name: "adv-1", BindAddr: "127.0.0.1", BindPort: port, AdvertiseAddr: "127.0.0.1", Secret: secret})
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", port, err)
	}
	defer m.Close(time.Second)
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(port)); m.Addr() != want {
		t.Fatalf("advertised %s, want %s", m.Addr(), want)
	}
}
