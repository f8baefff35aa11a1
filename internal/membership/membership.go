// Package membership finds the nodes of an Ember cluster by gossip. Every
// driver and executor is a member of one hashicorp/memberlist (SWIM)
// cluster; its node metadata says what it is (role, gRPC address, cores,
// memory, build). A Member joins the cluster through seed addresses,
// encrypts gossip with a key derived from the cluster secret, and keeps a
// registry of the live executors, fed by join, update, leave and failure
// events.
package membership

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-go/ember/internal/auth"
	"github.com/hashicorp/memberlist"
)

// Role says what a node does in the cluster.
type Role string

// Roles.
const (
	Driver   Role = "driver"
	Executor Role = "executor"
)

// Meta is what a node tells the others about itself. It travels in
// memberlist's node metadata, which holds at most memberlist.MetaMaxSize
// (512) bytes once encoded.
type Meta struct {
	Role     Role   `json:"role"`
	RPCAddr  string `json:"rpc,omitempty"`   // host:port of its gRPC server
	Cores    int    `json:"cores,omitempty"` // task slots it offers
	Memory   int64  `json:"mem,omitempty"`   // bytes it offers for tasks and cache
	BuildID  string `json:"build,omitempty"` // identifies the binary it runs
	Instance string `json:"inst,omitempty"`  // new at every start, so a restarted node is told apart
}

// Node is a member as the others see it.
type Node struct {
	Name string
	Addr string // gossip host:port
	Meta Meta
}

// EventKind says what happened to a node.
type EventKind int

// Event kinds. Leave is a node that said goodbye; Failed is one that stopped
// answering (killed, crashed, cut off).
const (
	Join EventKind = iota
	Update
	Leave
	Failed
)

func (k EventKind) String() string {
	switch k {
	case Join:
		return "join"
	case Update:
		return "update"
	case Leave:
		return "leave"
	case Failed:
		return "failed"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change in membership.
type Event struct {
	Kind EventKind
	Node Node
}

// Config configures a Member. DefaultConfig gives the defaults; the zero
// value of a field means its default.
type Config struct {
	// Name must be unique in the cluster; "" means host name and a
	// random suffix.
	Name string
	// BindAddr and BindPort are where gossip listens (UDP and TCP); port
	// 0 picks a free one.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are where others reach this node,
	// if not the bind address (behind NAT, or when binding 0.0.0.0).
	AdvertiseAddr string
	AdvertisePort int
	// Seeds are gossip addresses (host:port) of members to join through.
	// None means this node starts a new cluster.
	Seeds []string
	// Secret keys gossip encryption (AES-GCM with a key derived by
	// SHA-256). Every member of a cluster needs the same one; a node with
	// another cannot join. Empty means no encryption, which only loopback
	// clusters accept.
	Secret []byte
	// Meta describes this node to the others.
	Meta Meta
	// Insecure lets the node gossip without a secret beyond loopback.
	Insecure bool
	// Profile is "lan" (memberlist.DefaultLANConfig, the default) or
	// "local" (DefaultLocalConfig probing every 200 ms: failure detection
	// in about a second, for loopback clusters).
	Profile string
	// Tune, if set, adjusts the memberlist configuration last.
	Tune func(*memberlist.Config)
	// JoinTimeout bounds the wait for seeds; 0 means 10 s.
	JoinTimeout time.Duration
	// Logger receives memberlist's log at debug level; nil discards it.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults a Config's zero fields take.
func DefaultConfig() Config {
	return Config{BindAddr: "0.0.0.0", Profile: "lan", JoinTimeout: 10 * time.Second}
}

// ErrNoSeeds is wrapped when no seed could be joined.
var ErrNoSeeds = errors.New("no seed member answered")

// Member is this process's membership in the cluster.
type Member struct {
	list *memberlist.Memberlist

	meta []byte // this node's metadata, encoded

	mu        sync.Mutex
	leaving   map[string]bool // nodes that announced they are leaving
	executors map[string]Node // live executors by name
	watchers  []chan Event
	changed   chan struct{} // closed and replaced on every change
	closed    bool
}

// Start creates a member and joins the cluster through cfg.Seeds. It fails,
// naming the seeds it tried, if there are seeds and none can be joined
// within cfg.JoinTimeout.
func Start(ctx context.Context, cfg Config) (*Member, error) {
	cfg = cfg.withDefaults()
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("membership: node metadata is %d bytes, more than memberlist's %d", len(meta), memberlist.MetaMaxSize)
	}
	m := &Member{meta: meta, leaving: make(map[string]bool), executors: make(map[string]Node), changed: make(chan struct{})}
	mc, err := cfg.memberlistConfig(m)
	if err != nil {
		return nil, err
	}
	if len(cfg.Secret) == 0 && !Loopback(mc.BindAddr) && !cfg.Insecure {
		return nil, fmt.Errorf("membership: a cluster secret is required to gossip on %s (only loopback clusters may go without)", mc.BindAddr)
	}
	list, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start gossip on %s:%d: %w", mc.BindAddr, mc.BindPort, err)
	}
	m.list = list
	if len(cfg.Seeds) > 0 {
		if err := m.join(ctx, cfg.Seeds, cfg.JoinTimeout); err != nil {
			list.Shutdown()
			return nil, err
		}
	}
	return m, nil
}

// join retries the seeds until one answers, ctx ends or timeout passes.
func (m *Member) join(ctx context.Context, seeds []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		n, err := m.list.Join(seeds)
		if n > 0 {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("membership: joining through %v: %w (last error: %v)", seeds, ErrNoSeeds, lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Local returns this node as the others see it.
func (m *Member) Local() Node { return toNode(m.list.LocalNode()) }

// Addr returns the gossip address others can use as a seed.
func (m *Member) Addr() string { return m.Local().Addr }

// Executors returns the live executors, sorted by name.
func (m *Member) Executors() []Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.SortedFunc(maps.Values(m.executors), func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
}

// WaitExecutors waits until at least n executors are live, and returns
// them. It fails when ctx ends first, saying how many it saw.
func (m *Member) WaitExecutors(ctx context.Context, n int) ([]Node, error) {
	for {
		m.mu.Lock()
		have, changed := len(m.executors), m.changed
		m.mu.Unlock()
		if have >= n {
			return m.Executors(), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("membership: %d of %d executors after waiting: %w", have, n, ctx.Err())
		}
	}
}

// Watch returns a channel of membership events from now on. The channel is
// buffered; a watcher that falls more than its buffer behind misses events
// rather than stalling gossip, and should read Executors again. It is
// closed by Close.
func (m *Member) Watch() <-chan Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan Event, 256)
	if m.closed {
		close(ch)
		return ch
	}
	m.watchers = append(m.watchers, ch)
	return ch
}

// Close leaves the cluster gracefully (others see Leave, not Failed),
// waiting at most timeout for the goodbye to reach them, and stops gossip.
func (m *Member) Close(timeout time.Duration) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.announceLeaving(timeout)
	// Leaving is a courtesy: when every other member is leaving too (a
	// whole cluster stopped at once), nobody confirms the broadcast, and
	// the others mark this node failed instead. Not an error.
	_ = m.list.Leave(timeout)
	err := m.list.Shutdown()
	m.stopWatchers()
	return err
}

// leavingMsg prefixes the message by which a node tells every other that
// it is about to leave: memberlist reports a node that left and one that
// failed alike, and its own goodbye travels by gossip, which may lose it.
const leavingMsg = "ember-leaving\x00"

// announceLeaving tells every other member, over TCP, that this node is
// leaving, waiting at most timeout.
func (m *Member) announceLeaving(timeout time.Duration) {
	msg := []byte(leavingMsg + m.list.LocalNode().Name)
	var wg sync.WaitGroup
	for _, n := range m.list.Members() {
		if n.Name == m.list.LocalNode().Name {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.list.SendReliable(n, msg) // best effort: a miss is seen as a failure
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// Kill stops gossip without saying goodbye, as a crash would: the others
// see Failed once they notice. It is for tests of failure handling.
func (m *Member) Kill() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.stopWatchers()
	return m.list.Shutdown()
}

// stopWatchers closes every Watch channel.
func (m *Member) stopWatchers() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.watchers {
		close(w)
	}
	m.watchers = nil
}

// event records a membership change and tells the watchers.
func (m *Member) event(kind EventKind, n *memberlist.Node) {
	node := toNode(n)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if node.Meta.Role == Executor {
		if kind == Leave || kind == Failed {
			delete(m.executors, node.Name)
		} else {
			m.executors[node.Name] = node
		}
	}
	close(m.changed)
	m.changed = make(chan struct{})
	switch {
	case kind == Join || kind == Update:
		m.tell(Event{Kind: kind, Node: node})
	case m.leaving[node.Name]:
		m.notify(node)
	default:
		// A goodbye sent just before the node left may still be in
		// flight: wait a moment before calling it a failure.
		time.AfterFunc(leaveGrace, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.notify(node)
		})
	}
}

// leaveGrace is how long a departure waits for the node's goodbye before
// it is reported as a failure.
const leaveGrace = 500 * time.Millisecond

// notify reports a departed node as Leave if it said goodbye, else Failed.
func (m *Member) notify(node Node) {
	kind := Failed
	if m.leaving[node.Name] {
		kind = Leave
	}
	delete(m.leaving, node.Name)
	m.tell(Event{Kind: kind, Node: node})
}

// tell sends an event to every watcher that has room for it.
func (m *Member) tell(e Event) {
	if m.closed {
		return
	}
	for _, w := range m.watchers {
		select {
		case w <- e:
		default:
		}
	}
}

func toNode(n *memberlist.Node) Node {
	var meta Meta
	_ = json.Unmarshal(n.Meta, &meta) // a node with foreign metadata has no role
	return Node{Name: n.Name, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Meta: meta}
}

// delegate feeds memberlist's callbacks to the Member.
type delegate struct{ m *Member }

func (d delegate) NodeMeta(limit int) []byte { return d.m.meta }
func (d delegate) NotifyMsg(msg []byte) {
	if name, ok := strings.CutPrefix(string(msg), leavingMsg); ok {
		d.m.mu.Lock()
		d.m.leaving[name] = true
		d.m.mu.Unlock()
	}
}
func (d delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d delegate) LocalState(join bool) []byte                { return nil }
func (d delegate) MergeRemoteState(buf []byte, join bool)     {}
func (d delegate) NotifyJoin(n *memberlist.Node)              { d.m.event(Join, n) }
func (d delegate) NotifyUpdate(n *memberlist.Node)            { d.m.event(Update, n) }
func (d delegate) NotifyLeave(n *memberlist.Node)             { d.m.event(Failed, n) } // Leave if it announced it

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	if c.Profile == "" {
		c.Profile = d.Profile
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = d.JoinTimeout
	}
	return c
}

func (c Config) memberlistConfig(m *Member) (*memberlist.Config, error) {
	var mc *memberlist.Config
	switch c.Profile {
	case "lan":
		mc = memberlist.DefaultLANConfig()
	case "local":
		// Loopback answers in microseconds: probe often, suspect briefly,
		// so that a killed process is declared failed in about a second.
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.SuspicionMult = 2
		mc.GossipInterval = 50 * time.Millisecond
	default:
		return nil, fmt.Errorf("membership: gossip profile %q: want lan or local", c.Profile)
	}
	mc.Name = c.Name
	if mc.Name == "" {
		host, _ := os.Hostname()
		mc.Name = fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%1e9)
	}
	mc.BindAddr, mc.BindPort = c.BindAddr, c.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = c.AdvertiseAddr, c.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = mc.BindPort // memberlist fills in a dynamic port itself
	}
	// One join attempt must not outlast the whole join timeout.
	mc.TCPTimeout = min(mc.TCPTimeout, c.JoinTimeout)
	// A key per line of the secret: the first encrypts, all decrypt, so
	// that a cluster can rotate its secret (see auth.Keys).
	if keys := auth.Keys(c.Secret); len(keys) > 0 {
		var derived [][]byte
		for _, k := range keys {
			sum := sha256.Sum256(k)
			derived = append(derived, sum[:])
		}
		ring, err := memberlist.NewKeyring(derived[1:], derived[0])
		if err != nil {
			return nil, fmt.Errorf("membership: %w", err)
		}
		mc.Keyring = ring
	}
	mc.Delegate = delegate{m}
	mc.Events = delegate{m}
	mc.Logger = log.New(io.Discard, "", 0)
	if c.Logger != nil {
		mc.Logger = slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug)
	}
	if c.Tune != nil {
		c.Tune(mc)
	}
	return mc, nil
}

// Loopback reports whether host (a name or an IP, without a port) is this
// machine's loopback: nothing beyond the machine reaches it.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
